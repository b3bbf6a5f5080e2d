"""The NATS JetStream store: eventsourcing's persistence module for the ledger.

``PERSISTENCE_MODULE=ledger.nats`` selects it (eventsourcing finds :class:`Factory`
here). Everything else in the package is private; what other packages may use is
in ``__all__``: the factory and recorders, :func:`ensure_stream` (``ledger admin
init`` and the tests make the ledger stream with it) and :data:`HDR_MSG_ID`, the
header JetStream de-duplicates on (delivery sets it on each copy it publishes).
"""

from __future__ import annotations

from ledger.nats._bridge import Driver
from ledger.nats._reader import read_leaves, read_stored
from ledger.nats._recorders import (
    NatsAggregateRecorder,
    NatsApplicationRecorder,
    NatsProcessRecorder,
    NatsTrackingRecorder,
)
from ledger.nats._stream import (
    HDR_MSG_ID,
    OutMsg,
    PubAck,
    SentPublish,
    StoredMsg,
    direct_get,
    direct_get_batch,
    ensure_stream,
    publish_sync,
    publish_sync_ack,
    publish_sync_send,
)
from ledger.nats._syncwire import SyncWire, WireClosed, WireError, WireTimeout, WireUnreachable
from ledger.nats.persistence import Factory

__all__ = [
    "HDR_MSG_ID",
    "Driver",
    "Factory",
    "NatsAggregateRecorder",
    "NatsApplicationRecorder",
    "NatsProcessRecorder",
    "NatsTrackingRecorder",
    "OutMsg",
    "PubAck",
    "SentPublish",
    "StoredMsg",
    "SyncWire",
    "WireClosed",
    "WireError",
    "WireTimeout",
    "WireUnreachable",
    "direct_get",
    "direct_get_batch",
    "ensure_stream",
    "publish_sync",
    "publish_sync_ack",
    "publish_sync_send",
    "read_leaves",
    "read_stored",
]
