"""The agencies' registered public keys, folded from the ledger's partnership events.

``AgencyKeyRegistered`` adds a key, ``AgencyKeyRevoked`` takes it away (docs/proofs.md,
"Signatures"). The fold reads the partnerships' subjects only
(``<prefix>.*.partnership.*``: few messages) by batched direct gets, from where it left off,
so each call sees the keys registered since the last. A cosignature names its agency but not
its partnership (``<prefix>-log.cosignature.<agency>``), so keys are kept per agency across
partnerships: a cosignature counts if any key registered for that agency id verifies it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine
from typing import Any, Final, Protocol, TypeVar

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nats.aio.client import Client

from ledger.nats import direct_get_batch
from ledger.proofs.entry import unb64
from ledger.proofs.errors import SignatureInvalid
from schemas.wire import HDR_TOPIC

__all__ = ["AgencyKeys"]

T = TypeVar("T")

_REGISTERED: Final = "AgencyKeyRegistered"
_REVOKED: Final = "AgencyKeyRevoked"
_BATCH: Final = 256


class _Pool(Protocol):
    def run(self, fn: Callable[[Client], Coroutine[Any, Any, T]]) -> T: ...


class _KeyEvent(msgspec.Struct):
    agency: str
    key_id: str
    public_key: str = ""


_decoder: Final = msgspec.json.Decoder(_KeyEvent)


class AgencyKeys:
    """Each agency's keys in force, by key id, read from the ledger stream as it grows."""

    def __init__(
        self, pool: _Pool, *, stream: str, subject_prefix: str, timeout: float = 5.0
    ) -> None:
        self._pool = pool
        self._stream = stream
        self._subject = f"{subject_prefix}.*.partnership.*"
        self._timeout = timeout
        self._position = 0
        self._keys: dict[str, dict[str, Ed25519PublicKey]] = {}
        self._revoked: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def of(self, agency: str) -> dict[str, Ed25519PublicKey]:
        """``agency``'s keys in force now, by key id (the stream read up to now)."""
        with self._lock:
            self._refresh()
            return dict(self._keys.get(agency, {}))

    def _refresh(self) -> None:
        while True:
            msgs, pending = self._pool.run(
                lambda nc: direct_get_batch(
                    nc, self._stream, self._subject, self._position + 1, _BATCH, self._timeout
                )
            )
            for msg in msgs:
                self._position = msg.seq
                topic = msg.headers.get(HDR_TOPIC)
                if topic in (_REGISTERED, _REVOKED):
                    self._apply(topic, msg.data)
            if not msgs or pending == 0:
                return

    def _apply(self, topic: str, data: bytes) -> None:
        try:
            event = _decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return  # the ledger validated it on the way in; an unreadable one grants nothing
        if topic == _REVOKED:
            self._revoked.add((event.agency, event.key_id))
            self._keys.get(event.agency, {}).pop(event.key_id, None)
            return
        if (event.agency, event.key_id) in self._revoked:
            return
        try:
            raw = unb64(event.public_key, field="public_key", size=32)
        except SignatureInvalid:
            return
        key = Ed25519PublicKey.from_public_bytes(raw)
        self._keys.setdefault(event.agency, {})[event.key_id] = key
