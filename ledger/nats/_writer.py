"""How a save is written: one publish, and the resolution of a refused expectation.

:class:`SaveWriter` is the write half of
:class:`ledger.nats.persistence.NatsAggregateRecorder` (see that module's docstring for
the mapping onto the stream). A save names, for each aggregate it touches, the
subject sequence it expects to follow, from :class:`Positions` (what this process
last saw) or a look-up. When the stream refuses it, the writer looks at who took
the place: an earlier try of this very save whose acknowledgement was lost (then
the save is done), or another writer (a conflict, or a stale hint retried once).
Look-ups and retries stay within ``NATS_WRITE_RETRY_S`` (:mod:`ledger.nats._lookups`).

**The hash chain** (docs/proofs.md, "Hash chain"): every event after the first on a
subject carries ``Ledger-Prev-Hash``, the base64 leaf hash of the entry of the subject's
previous event. :class:`Positions` keeps that hash beside the sequence, so the common case
chains without a read; a look-up of the subject's last message computes it from the
message fetched. Several events of one subject in one save chain within the batch. A
signed event carries the ``Ledger-Signature`` its :class:`ledger._aggregate.SignedStoredEvent`
brings from the application service; both headers are part of the entry, so each event's
hash covers its signature and its link.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any, Final, NamedTuple, TypeVar

import structlog
from eventsourcing.persistence import StoredEvent, Tracking
from nats.aio.client import Client

from ledger._aggregate import signature_of
from ledger.errors import ConcurrencyConflict, LedgerError, LedgerUnavailable
from ledger.nats import _stream
from ledger.nats._bridge import Driver, DriverPool
from ledger.nats._lookups import Deadline, WireRequests, may_have_landed, patiently, unavailable
from ledger.nats._subjects import SubjectMap
from ledger.proofs.entry import b64, entry_hash

__all__ = ["Position", "Positions", "SaveWriter", "stored_hash"]

log = structlog.get_logger()

T = TypeVar("T")

_CACHE_SIZE: Final = 100_000


class Position(NamedTuple):
    """The last event this process saw on a subject."""

    version: int
    seq: int
    #: The leaf hash of its entry (the next event's ``Ledger-Prev-Hash``); None if unknown.
    hash: bytes | None = None


def stored_hash(msg: _stream.StoredMsg) -> bytes:
    """The leaf hash of a stored message's entry."""
    return entry_hash(msg.subject, msg.headers, msg.data)


class Positions:
    """What this process last saw of each subject: ``subject -> Position``.

    It lets a save name the expected last subject sequence, and the hash it chains to,
    without a read. It is only a hint: the server checks the sequence, and a stale hint
    costs one extra read (a hint whose sequence is right has the right hash: both come
    from the same message).
    """

    def __init__(self, size: int = _CACHE_SIZE) -> None:
        self._size = size
        self._data: OrderedDict[str, Position] = OrderedDict()
        self._lock = threading.Lock()
        self.max_seq = 0

    def get(self, key: str) -> Position | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, version: int, seq: int, hash_: bytes | None = None) -> None:
        with self._lock:
            current = self._data.get(key)
            if current is not None and current[1] > seq:
                return
            self._data[key] = Position(version, seq, hash_)
            self._data.move_to_end(key)
            if len(self._data) > self._size:
                self._data.popitem(last=False)
            if seq > self.max_seq:
                self.max_seq = seq


class SaveWriter:
    """The write half of a recorder: set these attributes, then call :meth:`_write`."""

    pool: DriverPool
    stream: str
    subjects: SubjectMap
    timeout: float
    write_retry_s: float
    positions: Positions
    #: Whether saves carry the hash chain (``LEDGER_PROOFS``; on unless switched off).
    chain: bool = True

    def _write(
        self,
        driver: Driver,
        groups: dict[str, list[StoredEvent]],
        attempt: str,
        tracking: Tracking | None,
    ) -> list[int]:
        """One save: publish, and resolve a refused expectation (see the module docstring).

        Synchronous around the driver: the common case (a cached aggregate, or a new
        one) publishes over the driver's synchronous wire with no event loop at all;
        only look-ups run on the driver's loop.
        """
        deadline = Deadline(self.write_retry_s)
        expected: dict[str, Position] = {}
        for s, ev in groups.items():
            hinted = self._hinted(s, ev[0].originator_version)
            expected[s] = (
                hinted
                if hinted is not None
                else self._look_up(
                    driver, deadline, False, self._looked_up, s, ev[0].originator_version
                )
            )
        tracking_out = (
            self._look_up(driver, deadline, False, self._tracking_msg, tracking)
            if tracking is not None
            else None
        )
        resolved_once = False
        uncertain = False  # whether a try reached the server and its answer was lost
        while True:
            msgs, hashes = self._messages(groups, expected, attempt)
            if tracking_out is not None:
                msgs.append(tracking_out)
            try:
                ack = self._publish(driver, msgs)
            except LedgerUnavailable as e:
                uncertain = uncertain or may_have_landed(e)
                if deadline.passed():
                    raise unavailable(str(e), may_have_been_stored=uncertain) from e
                log.warning("ledger_write_retry", stream=self.stream, attempt=attempt)
                deadline.pause()
                continue
            if ack.error is None:
                return self._remember(groups, ack.seq, len(msgs), hashes)
            if ack.error.err_code not in _stream.WRONG_LAST_SEQUENCE:
                msg = f"stream {self.stream!r} refused the save: {ack.error.description}"
                if uncertain:  # this try was refused, but an earlier one may have landed
                    found = self._look_up(driver, deadline, True, self._already_stored, msgs)
                    if found is not None:
                        return self._remember(groups, found, len(msgs), hashes)
                raise LedgerError(msg)
            # Someone appended first, our hint was stale, or an earlier try of this
            # very save was stored and its ack lost: look at who took the place.
            stored_seq = self._look_up(driver, deadline, uncertain, self._already_stored, msgs)
            if stored_seq is not None:
                return self._remember(groups, stored_seq, len(msgs), hashes)
            if resolved_once or tracking_out is not None:
                raise self._conflict(groups)
            for s, events in groups.items():
                version, last = self._look_up(driver, deadline, uncertain, self._last_position, s)
                if version is not None and version != events[0].originator_version - 1:
                    raise self._conflict(groups)
                expected[s] = last
            resolved_once = True

    def _look_up(
        self,
        driver: Driver,
        deadline: Deadline,
        uncertain: bool,
        lookup: Callable[..., Coroutine[Any, Any, T]],
        *args: Any,
    ) -> T:
        """``lookup(connection, *args)`` in the write's retry window (:mod:`ledger.nats._lookups`).

        Over the write path's own connection where there is one (it just carried the
        stream's answer), else over the driver's; tried again until ``deadline``, then
        failing with an error that says whether the save may have been stored.
        """
        requests: Any = WireRequests(driver.wire) if driver.wire is not None else driver.nc
        try:
            return driver.run(patiently(self.stream, requests, deadline, lookup, *args))
        except LedgerUnavailable as e:
            msg = f"looking up the save on stream {self.stream!r} failed: {e}"
            raise unavailable(msg, may_have_been_stored=uncertain) from e

    def _publish(self, driver: Driver, msgs: list[_stream.OutMsg]) -> _stream.PubAck:
        if driver.wire is not None:
            return _stream.publish_sync(driver.wire, self.stream, msgs, self.timeout)
        return driver.run(_stream.publish(driver.nc, self.stream, msgs, self.timeout))

    def _messages(
        self, groups: dict[str, list[StoredEvent]], expected: dict[str, Position], attempt: str
    ) -> tuple[list[_stream.OutMsg], dict[str, bytes | None]]:
        """The save's messages, and the hash of each subject's last one (when chained)."""
        msgs: list[_stream.OutMsg] = []
        hashes: dict[str, bytes | None] = {}
        for subject, events in groups.items():
            prev = expected[subject].hash
            for i, e in enumerate(events):
                h = _stream.headers(
                    self.stream,
                    f"{attempt}-{len(msgs)}",
                    expected[subject].seq if i == 0 else None,
                    topic=e.topic,
                    version=e.originator_version,
                    prev_hash=b64(prev) if prev is not None else None,
                    signature=signature_of(e),
                )
                if self.chain:
                    prev = entry_hash(subject, h, e.state)
                msgs.append(_stream.OutMsg(subject, e.state, h))
            hashes[subject] = prev
        return msgs, hashes

    def _hinted(self, subject: str, first_version: int) -> Position | None:
        """The subject's last position (and hash) if this process knows it without a read."""
        hint = self.positions.get(subject)
        if hint is not None and hint.version == first_version - 1:
            if self.chain and hint.hash is None:
                return None  # learned without its hash: the look-up brings it
            return hint
        if hint is None and first_version <= 1:
            return Position(0, 0)  # a new aggregate: its subject must be empty
        return None

    async def _looked_up(self, nc: Client, subject: str, first_version: int) -> Position:
        version, last = await self._last_position(nc, subject)
        if version is not None and version != first_version - 1:
            raise self._conflict({subject: []}, detail=f"it is at version {version}")
        return last

    async def _last_position(self, nc: Client, subject: str) -> tuple[int | None, Position]:
        """The subject's last version (None when it is empty) and its position with hash."""
        last = await _stream.direct_get(nc, self.stream, {"last_by_subj": subject}, self.timeout)
        if last is None:
            return None, Position(0, 0)
        version = int(last.headers[_stream.HDR_VERSION])
        return version, Position(version, last.seq, stored_hash(last) if self.chain else None)

    async def _already_stored(self, nc: Client, msgs: list[_stream.OutMsg]) -> int | None:
        """The last sequence of this save if an earlier try of it was stored, else ``None``.

        The server checks the expected sequence before it de-duplicates by message id,
        so a try that repeats a stored save is refused as a conflict. The first message
        on the save's first subject after the sequence it expected is the one that took
        that place: if it carries this save's first message id, the save was stored
        there, as one contiguous batch; if it carries another id, someone else's was.
        """
        first = msgs[0]  # always the first message of its subject, so it names the expectation
        after = int(first.headers[_stream.HDR_EXPECTED_SUBJECT_SEQ])
        taken = await _stream.direct_get(
            nc, self.stream, {"seq": after + 1, "next_by_subj": first.subject}, self.timeout
        )
        if (
            taken is None
            or taken.headers.get(_stream.HDR_MSG_ID) != first.headers[_stream.HDR_MSG_ID]
        ):
            return None
        return taken.seq + len(msgs) - 1

    def _remember(
        self,
        groups: dict[str, list[StoredEvent]],
        last_seq: int,
        count: int,
        hashes: dict[str, bytes | None],
    ) -> list[int]:
        """The notification ids of a stored save (a batch is contiguous, events first)."""
        seq = last_seq - count
        for subject, events in groups.items():
            seq += len(events)
            if events:
                self.positions.put(subject, events[-1].originator_version, seq, hashes[subject])
        first = last_seq - count + 1
        return list(range(first, first + sum(len(ev) for ev in groups.values())))

    def _conflict(
        self, groups: dict[str, list[StoredEvent]], detail: str = ""
    ) -> ConcurrencyConflict:
        parts = [
            f"{self.subjects.originator(s)!r} at version {ev[0].originator_version}"
            if ev
            else repr(s)
            for s, ev in groups.items()
        ]
        msg = (
            f"concurrency conflict saving {', '.join(parts)}: another writer appended first"
            f"{' (' + detail + ')' if detail else ''}; nothing was written, reload and retry"
        )
        return ConcurrencyConflict(msg)

    async def _tracking_msg(self, nc: Client, tracking: Tracking) -> _stream.OutMsg:
        raise NotImplementedError  # only process recorders track
