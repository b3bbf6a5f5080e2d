"""The NATS recorders: aggregate, application, tracking and process (built by
:class:`ledger.nats.persistence.Factory`; how the model maps onto the stream is in that
module's docstring)."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Final

import structlog
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    Notification,
    ProcessRecorder,
    StoredEvent,
    Tracking,
    TrackingRecorder,
)
from nats.aio.client import Client

from ledger._history import history_gap
from ledger.errors import ConcurrencyConflict, LedgerError, LedgerUnavailable
from ledger.nats import _reader, _stream
from ledger.nats._bridge import DriverPool
from ledger.nats._subjects import SubjectMap
from ledger.nats._subscription import NatsSubscription
from ledger.nats._writer import Positions, SaveWriter, stored_hash

__all__ = [
    "NatsAggregateRecorder",
    "NatsApplicationRecorder",
    "NatsProcessRecorder",
    "NatsTrackingRecorder",
]

log = structlog.get_logger()

_TRACKING_TOPIC: Final = "Tracking"
_READ_BATCH: Final = 1000


class NatsAggregateRecorder(SaveWriter, AggregateRecorder):
    """Inserts and selects an aggregate's events on its subject of the ledger stream."""

    def __init__(
        self,
        pool: DriverPool,
        *,
        stream: str,
        subjects: SubjectMap,
        timeout: float,
        write_retry_s: float,
        chain: bool = True,
    ) -> None:
        self.pool = pool
        self.stream = stream
        self.subjects = subjects
        self.timeout = timeout
        self.write_retry_s = write_retry_s
        self.chain = chain
        self.positions = Positions()
        # Save ids: random per recorder, counted per save (no syscall on the hot path).
        self._attempts_prefix = secrets.token_hex(8)
        self._attempts = itertools.count(1)

    # -- writing -----------------------------------------------------------

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        self._insert(stored_events, kwargs.get("tracking"))
        return None

    def _insert(
        self, stored_events: Sequence[StoredEvent], tracking: Tracking | None = None
    ) -> list[int]:
        if not stored_events and tracking is None:
            return []
        groups = self._group(stored_events)
        attempt = f"{self._attempts_prefix}{next(self._attempts)}"
        with self.pool.borrow() as driver:
            return self._write(driver, groups, attempt, tracking)

    def _group(self, stored_events: Sequence[StoredEvent]) -> dict[str, list[StoredEvent]]:
        """Events by subject, checking each aggregate's versions run on without a gap."""
        groups: dict[str, list[StoredEvent]] = {}
        for e in stored_events:
            groups.setdefault(self.subjects.subject(e.originator_id), []).append(e)
        for subject, events in groups.items():
            for prev, nxt in itertools.pairwise(events):
                if nxt.originator_version != prev.originator_version + 1:
                    msg = (
                        f"originator_version {nxt.originator_version} of {subject!r} does not "
                        f"follow {prev.originator_version} (a save appends consecutive versions)"
                    )
                    raise ConcurrencyConflict(msg)
        return groups

    # -- reading -----------------------------------------------------------

    def select_events(
        self,
        originator_id: uuid.UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        subject = self.subjects.subject(originator_id)
        msgs = self.pool.run(lambda nc: self._read_subject(nc, subject, desc, limit, gt, lte))
        events = [
            StoredEvent(
                originator_id=originator_id,
                originator_version=int(m.headers[_stream.HDR_VERSION]),
                topic=m.headers[_stream.HDR_TOPIC],
                state=m.data,
            )
            for m in msgs
        ]
        for prev, nxt in itertools.pairwise(events):
            if nxt.originator_version != prev.originator_version + 1:
                missing = prev.originator_version + 1
                raise history_gap(subject, missing, nxt.originator_version, stream=self.stream)
        events = [
            e
            for e in events
            if (gt is None or e.originator_version > gt)
            and (lte is None or e.originator_version <= lte)
        ]
        if desc:
            events.reverse()
        return events[:limit] if limit is not None else events

    async def _read_subject(
        self,
        nc: Client,
        subject: str,
        desc: bool,
        limit: int | None,
        gt: int | None,
        lte: int | None,
    ) -> list[_stream.StoredMsg]:
        """Every message of ``subject`` (or its last), never older than this process wrote.

        A direct get may be answered by a replica that has not applied our latest
        write yet. If what comes back ends before the last sequence this process
        stored on the subject, it is read again (a few times) rather than used.
        """
        known = self.positions.get(subject) if lte is None else None
        for pause in (0.0, 0.01, 0.05, 0.2):
            if pause:
                await asyncio.sleep(pause)
            msgs = await self._read_subject_once(nc, subject, desc, limit, lte)
            if known is None or (msgs and msgs[-1].seq >= known[1]):
                break
        else:
            msg = f"the replicas of stream {self.stream!r} are behind this writer on {subject!r}"
            raise LedgerUnavailable(msg)
        if msgs and gt is None and lte is None:
            last = msgs[-1]
            self.positions.put(
                subject,
                int(last.headers[_stream.HDR_VERSION]),
                last.seq,
                stored_hash(last) if self.chain else None,
            )
        return msgs

    async def _read_subject_once(
        self, nc: Client, subject: str, desc: bool, limit: int | None, lte: int | None
    ) -> list[_stream.StoredMsg]:
        if desc and limit == 1 and lte is None:
            last = await _stream.direct_get(
                nc, self.stream, {"last_by_subj": subject}, self.timeout
            )
            return [last] if last is not None else []
        msgs: list[_stream.StoredMsg] = []
        seq = 1
        while True:
            batch, pending = await _stream.direct_get_batch(
                nc, self.stream, subject, seq, _READ_BATCH, self.timeout
            )
            msgs.extend(batch)
            if not batch or pending == 0:
                break
            seq = batch[-1].seq + 1
        return msgs


class NatsApplicationRecorder(NatsAggregateRecorder, ApplicationRecorder):
    """Adds the application sequence: notifications are the stream in sequence order."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        return self._insert(stored_events, kwargs.get("tracking"))

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        first = (start or 1) if inclusive_of_start else (start or 0) + 1
        return self.pool.run(lambda nc: self._read_notifications(nc, first, limit, stop, topics))

    async def _read_notifications(
        self, nc: Client, first: int, limit: int, stop: int | None, topics: Sequence[str]
    ) -> list[Notification]:
        wanted = frozenset(topics)
        out: list[Notification] = []
        seq = first
        while len(out) < limit and (stop is None or seq <= stop):
            batch_size = max(limit - len(out), 1) if not wanted else _READ_BATCH
            if stop is not None:
                batch_size = min(batch_size, stop - seq + 1)
            batch, pending = await _stream.direct_get_batch(
                nc, self.stream, self.subjects.all_aggregates, seq, batch_size, self.timeout
            )
            for m in batch:
                if stop is not None and m.seq > stop:
                    return out
                topic = m.headers[_stream.HDR_TOPIC]
                if wanted and topic not in wanted:
                    continue
                out.append(
                    Notification(
                        id=m.seq,
                        originator_id=self.subjects.originator(m.subject),
                        originator_version=int(m.headers[_stream.HDR_VERSION]),
                        topic=topic,
                        state=m.data,
                    )
                )
                if len(out) == limit:
                    return out
            if not batch or pending == 0:
                break
            seq = batch[-1].seq + 1
        return out

    def max_notification_id(self) -> int | None:
        last = self.pool.run(
            lambda nc: _stream.direct_get(
                nc, self.stream, {"last_by_subj": self.subjects.all_aggregates}, self.timeout
            )
        )
        # A direct get may be answered by a replica that has not applied our own
        # latest write yet; never report less than what this process wrote.
        seq = max(last.seq if last is not None else 0, self.positions.max_seq)
        return seq or None

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> NatsSubscription:
        return NatsSubscription(self, gt=gt, topics=topics)

    def read_batches(
        self,
        *,
        gt: int,
        until: int | None,
        size: int,
        stop: threading.Event | None = None,
    ) -> Iterator[list[Notification]]:
        """Notifications after ``gt`` in batches, read on the calling thread (see ``_reader``)."""
        return _reader.read_batches(self, gt=gt, until=until, size=size, stop=stop)


class NatsTrackingRecorder(TrackingRecorder):
    """Tracking positions as messages on ``<prefix>._tracking.<app>`` of the same stream.

    The subject has three tokens, so it never matches the four-token aggregate
    subjects that notifications are read from.
    """

    def __init__(
        self, pool: DriverPool, *, stream: str, subjects: SubjectMap, timeout: float
    ) -> None:
        self.pool = pool
        self.stream = stream
        self.subjects = subjects
        self.timeout = timeout

    def insert_tracking(self, tracking: Tracking) -> None:
        async def go(nc: Client) -> None:
            out = await self._tracking_msg(nc, tracking)
            ack = await _stream.publish(nc, self.stream, [out], self.timeout)
            if ack.error is not None and ack.error.err_code in _stream.WRONG_LAST_SEQUENCE:
                raise self._tracking_conflict(tracking, ack.error.description)
            if ack.error is not None:
                msg = f"stream {self.stream!r} refused the tracking record: {ack.error.description}"
                raise LedgerError(msg)

        self.pool.run(go)

    async def _tracking_msg(self, nc: Client, tracking: Tracking) -> _stream.OutMsg:
        subject = self.subjects.tracking(tracking.application_name)
        last = await _stream.direct_get(nc, self.stream, {"last_by_subj": subject}, self.timeout)
        current = int(last.headers[_stream.HDR_VERSION]) if last is not None else None
        if current is not None and tracking.notification_id <= current:
            raise self._tracking_conflict(tracking, f"already at {current}")
        # The position rides in the version header of the tracking subject.
        h = _stream.headers(
            self.stream,
            uuid.uuid4().hex[:20],
            last.seq if last is not None else 0,
            topic=_TRACKING_TOPIC,
            version=tracking.notification_id,
        )
        return _stream.OutMsg(subject, b"", h)

    @staticmethod
    def _tracking_conflict(tracking: Tracking, detail: str) -> ConcurrencyConflict:
        msg = (
            f"tracking {tracking.application_name!r} position {tracking.notification_id} "
            f"refused ({detail}): positions only move forward"
        )
        return ConcurrencyConflict(msg)

    def max_tracking_id(self, application_name: str) -> int | None:
        subject = self.subjects.tracking(application_name)
        last = self.pool.run(
            lambda nc: _stream.direct_get(nc, self.stream, {"last_by_subj": subject}, self.timeout)
        )
        return int(last.headers[_stream.HDR_VERSION]) if last is not None else None


class NatsProcessRecorder(NatsTrackingRecorder, NatsApplicationRecorder, ProcessRecorder):
    """Events and the tracking position of what caused them, in one atomic batch."""

    def __init__(
        self,
        pool: DriverPool,
        *,
        stream: str,
        subjects: SubjectMap,
        timeout: float,
        write_retry_s: float,
        chain: bool = True,
    ) -> None:
        NatsApplicationRecorder.__init__(
            self,
            pool,
            stream=stream,
            subjects=subjects,
            timeout=timeout,
            write_retry_s=write_retry_s,
            chain=chain,
        )
