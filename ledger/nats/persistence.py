"""An eventsourcing persistence module on NATS JetStream: the stream is the ledger.

Select it with ``PERSISTENCE_MODULE=ledger.nats`` (the package re-exports
:class:`Factory`) and configure it with ``NATS_URL`` (required), ``NATS_STREAM``
(default ``LEDGER``), ``NATS_SUBJECT_PREFIX`` (default ``ledger``), ``NATS_REPLICAS`` (1),
``NATS_TIMEOUT`` (seconds, 5), ``NATS_WRITE_RETRY_S`` (seconds a write keeps
retrying after a lost connection, 5), ``NATS_POOL_SIZE`` (32) and ``LEDGER_PROOFS``
(``y``: each aggregate subject's events carry the hash chain of docs/proofs.md; ``n``
only to measure what it costs). Each name can
be prefixed with the application's name, as eventsourcing allows.

How the library's model maps onto the stream:

* an aggregate is a subject: originator id ``p.case.c1`` is
  ``ledger.p.case.c1`` (a UUID id, as the library's own tests use, is
  ``ledger._.uuid.<hex>``); the event's version and topic ride in headers and the
  state is the payload;
* a notification id is the stream sequence, one global order;
* a save is one publish, or one atomic batch when it holds several events,
  carrying ``Nats-Expected-Last-Subject-Sequence`` for each aggregate it touches,
  so a writer working from an old version is refused and nothing is written;
* every message has a ``Nats-Msg-Id`` made once per save, so a save retried after
  a lost acknowledgement is recognised as already stored, not stored twice;
* every event after the first on an aggregate subject carries ``Ledger-Prev-Hash``,
  and a signed one ``Ledger-Signature`` (see :mod:`ledger.nats._writer`); tracking
  messages and snapshots are not chained;
* snapshots (``IS_SNAPSHOTTING_ENABLED``) live outside the ledger stream, on the
  disposable stream ``<NATS_STREAM>_SNAPSHOTS`` and the subjects
  ``<prefix>_snapshots.<...>`` (see :mod:`ledger.nats._snapshots`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

import nats
import nats.errors
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
    TrackingRecorder,
    Transcoder,
)
from eventsourcing.utils import Environment, resolve_topic
from nats.aio.client import Client

from ledger._aggregate import LedgerMapper, proofs_on
from ledger._transcoder import MsgspecTranscoder
from ledger.errors import LedgerError, LedgerUnavailable
from ledger.nats import _stream
from ledger.nats._bridge import DriverPool
from ledger.nats._natsclient import FastHeaderClient
from ledger.nats._recorders import (
    NatsAggregateRecorder,
    NatsApplicationRecorder,
    NatsProcessRecorder,
    NatsTrackingRecorder,
)
from ledger.nats._snapshots import (
    NatsSnapshotRecorder,
    ensure_snapshot_stream,
    snapshot_stream_name,
    snapshot_subjects,
)
from ledger.nats._subjects import SubjectMap
from ledger.nats._syncwire import SyncWire
from ledger.nats._watch import PartnershipWatch
from schemas import wire

__all__ = [
    "Factory",
    "NatsAggregateRecorder",
    "NatsApplicationRecorder",
    "NatsProcessRecorder",
    "NatsTrackingRecorder",
]


class Factory(InfrastructureFactory[TrackingRecorder]):
    """Builds the NATS recorders; one connection pool per factory."""

    NATS_URL: Final = "NATS_URL"
    NATS_STREAM: Final = "NATS_STREAM"
    NATS_SUBJECT_PREFIX: Final = "NATS_SUBJECT_PREFIX"
    NATS_REPLICAS: Final = "NATS_REPLICAS"
    NATS_TIMEOUT: Final = "NATS_TIMEOUT"
    NATS_WRITE_RETRY_S: Final = "NATS_WRITE_RETRY_S"
    NATS_POOL_SIZE: Final = "NATS_POOL_SIZE"
    CREATE_TABLE: Final = "CREATE_TABLE"
    NATS_INBOX_PREFIX: Final = "NATS_INBOX_PREFIX"
    LEDGER_PROOFS: Final = "LEDGER_PROOFS"

    def __init__(self, env: Environment | dict[str, str] | None) -> None:
        super().__init__(env)
        url = self.env.get(self.NATS_URL)
        if not url:
            msg = (
                "NATS_URL is not set: the NATS persistence module needs the URL of a "
                "NATS server with JetStream (the ledger's bootstrap starts an embedded one)"
            )
            raise LedgerError(msg)
        self.url = url
        self.stream = self.env.get(self.NATS_STREAM, "LEDGER")
        self.subjects = SubjectMap(self.env.get(self.NATS_SUBJECT_PREFIX, "ledger"))
        self.replicas = int(self.env.get(self.NATS_REPLICAS, "1"))
        self.timeout = float(self.env.get(self.NATS_TIMEOUT, "5"))
        self.write_retry_s = float(self.env.get(self.NATS_WRITE_RETRY_S, "5"))
        # Replies come to inboxes under this prefix: a user that may read only its own
        # inboxes (the projection workers' `_INBOX_projections`) needs it set.
        self.inbox_prefix = self.env.get(self.NATS_INBOX_PREFIX, "_INBOX")
        # The hash chain on every aggregate subject (docs/proofs.md); off only to measure it.
        self.chain = proofs_on(self.env.get(self.LEDGER_PROOFS))
        self._shared_wire: SyncWire | None = None
        self._wire_lock = threading.Lock()
        self.pool = DriverPool(
            self._connect,
            wire=self._wire if SyncWire.supports(url) else None,
            reader_wire=self._reader_wire if SyncWire.supports(url) else None,
            max_size=int(self.env.get(self.NATS_POOL_SIZE, "32")),
        )
        self._stream_checked = False

    async def _connect(self, **callbacks: Any) -> Client:
        # nats-py keeps retrying a first connection forever when reconnects are
        # unlimited; a ledger that cannot reach its stream must say so instead.
        try:
            nc = FastHeaderClient()
            await asyncio.wait_for(
                nc.connect(
                    self.url,
                    name=f"ledger:{self.env.name or 'app'}",
                    inbox_prefix=self.inbox_prefix,
                    connect_timeout=2,
                    reconnect_time_wait=0.2,  # type: ignore[arg-type]  # nats-py takes float seconds
                    max_reconnect_attempts=-1,
                    # Fail fast while disconnected instead of buffering writes that would
                    # be sent after the caller was already told the save failed.
                    pending_size=0,
                    **callbacks,
                ),
                timeout=self.timeout,
            )
        except (TimeoutError, OSError, nats.errors.Error) as e:
            # The URL may carry the service's user and password: never in a message.
            parts = urlsplit(self.url)
            shown = f"{parts.scheme}://{parts.hostname}:{parts.port}"
            msg = f"cannot reach the NATS server at NATS_URL={shown!r} within {self.timeout} s"
            raise LedgerUnavailable(msg) from e
        return nc

    def _wire(self) -> SyncWire:
        """The factory's one write connection, shared by every driver: the threads of a
        process pipeline their saves on it (see :mod:`ledger.nats._syncwire`)."""
        with self._wire_lock:
            if self._shared_wire is None:
                name = f"ledger-writer:{self.env.name or 'app'}"
                self._shared_wire = SyncWire(self.url, name=name)
            return self._shared_wire

    def _reader_wire(self) -> SyncWire:
        """A synchronous connection of its own for one reader (the checkpointer's)."""
        name = f"ledger-reader:{self.env.name or 'app'}"
        return SyncWire(self.url, name=name, inbox_prefix=self.inbox_prefix)

    def _ensure_stream(self) -> None:
        if self._stream_checked:
            return
        create = self.env.get(self.CREATE_TABLE, "y").lower() in {
            "y",
            "yes",
            "t",
            "true",
            "on",
            "1",
        }
        self.pool.run(
            lambda nc: _stream.ensure_stream(
                nc,
                name=self.stream,
                subjects=[f"{self.subjects.prefix}.>"],
                replicas=self.replicas,
                duplicate_window_s=120.0,
                create=create,
                timeout=self.timeout,
            )
        )
        self._stream_checked = True

    def _kwargs(self) -> dict[str, Any]:
        self._ensure_stream()
        return {"stream": self.stream, "subjects": self.subjects, "timeout": self.timeout}

    def transcoder(self) -> Transcoder:
        topic = self.env.get(self.TRANSCODER_TOPIC)
        cls: type[Transcoder] = resolve_topic(topic) if topic else MsgspecTranscoder
        return cls()

    def mapper(self, transcoder: Transcoder | None = None, mapper_class: Any = None) -> Any:
        if mapper_class is None and not self.env.get(self.MAPPER_TOPIC):
            mapper_class = LedgerMapper
        return super().mapper(transcoder=transcoder, mapper_class=mapper_class)

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        if purpose == "snapshots":
            return self._snapshot_recorder()
        return NatsAggregateRecorder(
            self.pool, write_retry_s=self.write_retry_s, chain=self.chain, **self._kwargs()
        )

    def _snapshot_recorder(self) -> NatsSnapshotRecorder:
        """Snapshots on a stream and subjects of their own (see :mod:`ledger.nats._snapshots`)."""
        stream = snapshot_stream_name(self.stream)
        subjects = snapshot_subjects(self.subjects.prefix)
        self.pool.run(
            lambda nc: ensure_snapshot_stream(
                nc,
                name=stream,
                subjects=subjects,
                replicas=self.replicas,
                create=self._create_allowed(),
                timeout=self.timeout,
            )
        )
        return NatsSnapshotRecorder(
            self.pool, stream=stream, subjects=subjects, timeout=self.timeout
        )

    def _create_allowed(self) -> bool:
        return self.env.get(self.CREATE_TABLE, "y").lower() in {"y", "yes", "t", "true", "on", "1"}

    def application_recorder(self) -> ApplicationRecorder:
        topic = self.env.get(self.APPLICATION_RECORDER_TOPIC)
        cls: type[NatsApplicationRecorder] = (
            resolve_topic(topic) if topic else NatsApplicationRecorder
        )
        return cls(self.pool, write_retry_s=self.write_retry_s, chain=self.chain, **self._kwargs())

    def tracking_recorder(
        self, tracking_recorder_class: type[TrackingRecorder] | None = None
    ) -> TrackingRecorder:
        if tracking_recorder_class is None:
            topic = self.env.get(self.TRACKING_RECORDER_TOPIC)
            tracking_recorder_class = resolve_topic(topic) if topic else NatsTrackingRecorder
        return tracking_recorder_class(self.pool, **self._kwargs())  # type: ignore[call-arg]

    def process_recorder(self) -> ProcessRecorder:
        topic = self.env.get(self.PROCESS_RECORDER_TOPIC)
        cls: type[NatsProcessRecorder] = resolve_topic(topic) if topic else NatsProcessRecorder
        return cls(self.pool, write_retry_s=self.write_retry_s, chain=self.chain, **self._kwargs())

    def watch_partnerships(self, on_change: Callable[[str | None], None]) -> PartnershipWatch:
        """A started :class:`~ledger.nats._watch.PartnershipWatch` of this prefix's
        partnership subjects, stopped with the factory."""
        watch = PartnershipWatch(
            self._connect,
            wire.partnership_subjects(self.subjects.prefix),
            on_change,
            cut=len(self.subjects.prefix) + 1,
            timeout=self.timeout,
        )
        self.pool.on_close.append(watch.stop)
        watch.start()
        return watch

    def close(self) -> None:
        self.pool.close()
        super().close()
