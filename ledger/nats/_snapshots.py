"""Snapshots on a stream of their own, outside the notification log.

eventsourcing asks the factory for ``aggregate_recorder(purpose="snapshots")``
and keeps an aggregate's snapshots there, read back as "the latest at or before
version n". Snapshots are derived and disposable, so they never go into the
ledger stream (whose every message is a fact and a notification, and whose
history must never be trimmed). They live on:

* the stream ``<NATS_STREAM>_SNAPSHOTS`` (``LEDGER_SNAPSHOTS``), a KV-like stream
  that keeps the last :data:`SNAPSHOTS_PER_AGGREGATE` snapshots of each aggregate
  (``max_msgs_per_subject``) and may be purged or deleted at any time: the
  aggregates are then rebuilt from their events, as if never snapshotted;
* the subjects ``<prefix>_snapshots.<the aggregate's subject suffix>``
  (``ledger_snapshots.p.case.c1``, ``ledger_snapshots._.uuid.<hex>``), a subject
  space that the ledger stream's ``<prefix>.>`` never matches.

A snapshot is one plain publish (no expected sequence: a newer snapshot simply
lands after the older ones), with the same version and topic headers as an event.
Reads sort the few kept snapshots by version, so the latest version wins even if
two processes published out of order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Final

import msgspec
import structlog
from eventsourcing.persistence import AggregateRecorder, StoredEvent
from nats.aio.client import Client

from ledger.errors import LedgerError, LedgerUnavailable, StreamMisconfigured
from ledger.nats import _stream
from ledger.nats._bridge import DriverPool
from ledger.nats._subjects import SubjectMap
from schemas import wire

__all__ = [
    "SNAPSHOTS_PER_AGGREGATE",
    "NatsSnapshotRecorder",
    "ensure_snapshot_stream",
    "snapshot_stream_name",
    "snapshot_subjects",
]

log = structlog.get_logger()

#: How many snapshots of one aggregate the snapshot stream keeps (the oldest go first).
SNAPSHOTS_PER_AGGREGATE: Final = 4


def snapshot_stream_name(stream: str) -> str:
    """The snapshot stream beside ``stream``: ``LEDGER`` -> ``LEDGER_SNAPSHOTS``."""
    return wire.snapshot_stream(stream)


def snapshot_subjects(prefix: str) -> SubjectMap:
    """The snapshot subjects beside the events' ``prefix``: ``<prefix>_snapshots.<...>``."""
    return SubjectMap(prefix, space=wire.SNAPSHOT_SPACE)


class _Error(msgspec.Struct):
    err_code: int = 0
    description: str = ""


class _Info(msgspec.Struct):
    config: dict[str, Any] = {}
    error: _Error | None = None


_info: Final = msgspec.json.Decoder(_Info)


async def ensure_snapshot_stream(
    nc: Client,
    *,
    name: str,
    subjects: SubjectMap,
    replicas: int,
    create: bool,
    timeout: float,
) -> None:
    """Create the snapshot stream if it is missing; refuse one the snapshots cannot use.

    Needs ``$JS.API.STREAM.INFO.<name>`` and, to create it,
    ``$JS.API.STREAM.CREATE.<name>`` (an admin right: see docs/operations.md).
    """
    wanted = f"{subjects.prefix}.>"
    info = _info.decode(await _stream.api(nc, f"$JS.API.STREAM.INFO.{name}", None, timeout))
    if info.error is None:
        cfg = info.config
        if wanted not in (cfg.get("subjects") or []) or not cfg.get("allow_direct"):
            msg = (
                f"snapshot stream {name!r} exists but its subjects are {cfg.get('subjects')!r} "
                f"and allow_direct is {cfg.get('allow_direct')!r}; snapshots need "
                f"[{wanted!r}] with direct gets allowed"
            )
            raise StreamMisconfigured(msg)
        return
    if info.error.err_code != 10059:  # 10059: stream not found
        msg = f"snapshot stream {name!r}: {info.error.description}"
        raise LedgerUnavailable(msg)
    if not create:
        msg = f"snapshot stream {name!r} does not exist and creating it is switched off"
        raise StreamMisconfigured(msg)
    config = {
        "name": name,
        "subjects": [wanted],
        "retention": "limits",
        "storage": "file",
        "num_replicas": replicas,
        "discard": "old",
        "max_msgs_per_subject": SNAPSHOTS_PER_AGGREGATE,
        "allow_direct": True,
    }
    raw = await _stream.api(nc, f"$JS.API.STREAM.CREATE.{name}", config, timeout)
    created = _info.decode(raw)
    if created.error is not None and created.error.err_code != 10058:  # 10058: already in use
        msg = f"could not create snapshot stream {name!r}: {created.error.description}"
        raise StreamMisconfigured(msg)
    log.info("snapshot_stream_created", stream=name)


class NatsSnapshotRecorder(AggregateRecorder):
    """Puts and selects snapshots on the snapshot stream (see the module docstring)."""

    def __init__(
        self, pool: DriverPool, *, stream: str, subjects: SubjectMap, timeout: float
    ) -> None:
        self.pool = pool
        self.stream = stream
        self.subjects = subjects
        self.timeout = timeout

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with self.pool.borrow() as driver:
            for e in stored_events:
                h = _stream.headers(
                    self.stream,
                    uuid.uuid4().hex,
                    None,
                    topic=e.topic,
                    version=e.originator_version,
                )
                out = [_stream.OutMsg(self.subjects.subject(e.originator_id), e.state, h)]
                if driver.wire is not None:
                    ack = _stream.publish_sync(driver.wire, self.stream, out, self.timeout)
                else:
                    ack = driver.run(_stream.publish(driver.nc, self.stream, out, self.timeout))
                if ack.error is not None:
                    msg = f"stream {self.stream!r} refused the snapshot: {ack.error.description}"
                    raise LedgerError(msg)
        return None

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
        msgs = self.pool.run(lambda nc: self._read(nc, subject))
        events = sorted(
            (
                StoredEvent(
                    originator_id=originator_id,
                    originator_version=int(m.headers[_stream.HDR_VERSION]),
                    topic=m.headers[_stream.HDR_TOPIC],
                    state=m.data,
                )
                for m in msgs
            ),
            key=lambda e: e.originator_version,
            reverse=desc,
        )
        events = [
            e
            for e in events
            if (gt is None or e.originator_version > gt)
            and (lte is None or e.originator_version <= lte)
        ]
        return events[:limit] if limit is not None else events

    async def _read(self, nc: Client, subject: str) -> list[_stream.StoredMsg]:
        msgs: list[_stream.StoredMsg] = []
        seq = 1
        while True:  # the stream keeps a few per subject: one batch, as a rule
            batch, pending = await _stream.direct_get_batch(
                nc, self.stream, subject, seq, SNAPSHOTS_PER_AGGREGATE, self.timeout
            )
            msgs.extend(batch)
            if not batch or pending == 0:
                return msgs
            seq = batch[-1].seq + 1
