"""The service's reading of the agencies' keys: the partnership events, folded as they come.

The registry and its rules are :class:`ledger.proofs.keys.KeyRing`'s, the one every verifier
uses (docs/proofs.md, "Signatures" and "Witnesses"), and a key event is folded only if the
verifiers would accept it (:func:`ledger.proofs.verifier.check_stored_key_event`: once an
agency has a live key, its key events are signed by one of them). One published behind the
write path's back is logged and left out, so a key the operator planted never counts for a
cosignature here, as it never does in ``ledger verify``. This module reads the stream for it:
the partnerships' subjects (``<prefix>.*.partnership.*``: few messages) by batched direct
gets, from where it left off, so each call sees the keys registered and revoked since the
last. A cosignature names its agency but not its partnership
(``<prefix>-log.cosignature.<agency>``), so the ring answers for an agency across
partnerships.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Final, TypeVar

import structlog

from ledger.nats import direct_get_batch
from ledger.proofs.keys import AGENCY_KEY_EVENTS, KEY_EVENTS, KeyRing
from ledger.proofs.verifier import check_stored_key_event
from runtime._side_streams import Pool
from schemas.wire import AGGREGATE_ID_PATTERN, HDR_TOPIC, partnership_subjects

__all__ = ["AgencyKeys"]

log = structlog.get_logger()

T = TypeVar("T")

_BATCH: Final = 256


class AgencyKeys:
    """The key ring of the ledger stream's partnership events, read as the stream grows."""

    def __init__(
        self, pool: Pool, *, stream: str, subject_prefix: str, timeout: float = 5.0
    ) -> None:
        self._pool = pool
        self._stream = stream
        self._cut = len(subject_prefix) + 1
        self._subject = partnership_subjects(subject_prefix)
        self._timeout = timeout
        self._position = 0
        self._ring = KeyRing()
        self._lock = threading.Lock()

    def ring(self) -> KeyRing:
        """The key ring as of the stream read up to now (the caller only reads it)."""
        with self._lock:
            self._refresh()
            return self._ring

    def _refresh(self) -> None:
        while True:
            msgs, pending = self._pool.run(
                lambda nc: direct_get_batch(
                    nc, self._stream, self._subject, self._position + 1, _BATCH, self._timeout
                )
            )
            for msg in msgs:
                self._fold(msg.seq, msg.subject, msg.headers, msg.data)
                self._position = msg.seq  # after: an event that raised is read again
            if not msgs or pending == 0:
                return

    def _fold(self, seq: int, subject: str, headers: Mapping[str, str], data: bytes) -> None:
        match = AGGREGATE_ID_PATTERN.fullmatch(subject[self._cut :])
        topic = headers.get(HDR_TOPIC, "")
        if match is None or topic not in KEY_EVENTS:
            return
        partnership = match.group(1)
        if topic not in AGENCY_KEY_EVENTS:  # SignaturesRequired: the operator's to record
            problem = self._ring.fold_stored(seq, partnership, topic, data)
        else:
            event = check_stored_key_event(
                self._ring, seq, subject, partnership, headers, topic, data
            )
            problem = event if isinstance(event, str) else self._ring.fold(seq, partnership, event)
        if problem is not None:  # the ledger checked it on the way in: not its writing
            log.error(
                "agency_key_event_not_folded",
                partnership=partnership,
                seq=seq,
                event_type=topic,
                reason=problem,
            )
