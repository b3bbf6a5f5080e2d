"""What the streams beside the ledger stream share: how they are made and how they are reached.

The access log (``<stream>_ACCESS``, :mod:`runtime.access_log`) and the Merkle log
(``<stream>_LOG``, :mod:`runtime.log_stream`) are kept for ever like the ledger stream
and checked by the same rules (:func:`ledger.nats.ensure_stream`: file storage, no
limits, ``deny_delete``, ``deny_purge``, direct gets), made by the admin where the ledger
stream is made. Their calls ride on the ledger's own NATS connections: the persistence
module's driver pool (:class:`Pool`), which :func:`nats_pool` takes from a ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final, Protocol, TypeVar

from nats.aio.client import Client

from ledger.application import Ledger
from ledger.errors import LedgerUnavailable
from ledger.nats import NatsAggregateRecorder, ensure_stream

__all__ = ["DUPLICATE_WINDOW_S", "Pool", "ensure_side_stream", "nats_pool"]

T = TypeVar("T")

#: A side stream's duplicate window: a message retried after a lost acknowledgement is
#: stored once within it (the same as the ledger stream's).
DUPLICATE_WINDOW_S: Final = 120.0


class Pool(Protocol):
    """What a side stream's reader or writer needs of the persistence module's driver pool."""

    def run(self, fn: Callable[[Client], Coroutine[Any, Any, T]]) -> T: ...


async def ensure_side_stream(
    nc: Client,
    *,
    name: str,
    subject_space: str,
    replicas: int,
    create: bool,
    timeout: float,
) -> str:
    """Create stream ``name`` over ``<subject_space>.>`` if missing (with ``create``), and
    refuse one that could lose a message with :class:`~ledger.errors.StreamMisconfigured`,
    as the ledger stream is. Returns its name."""
    await ensure_stream(
        nc,
        name=name,
        subjects=[f"{subject_space}.>"],
        replicas=replicas,
        duplicate_window_s=DUPLICATE_WINDOW_S,
        create=create,
        timeout=timeout,
    )
    return name


def nats_pool(ledger: Ledger, what: str) -> Any:
    """``ledger``'s NATS driver pool, for ``what`` ("the access log", "the Merkle log") that
    lives beside its stream; :class:`~ledger.errors.LedgerUnavailable` on another store."""
    recorder = ledger.recorder
    if not isinstance(recorder, NatsAggregateRecorder):
        msg = (
            f"{what} lives on NATS JetStream; this ledger's store is"
            f" {type(recorder).__name__} (set PERSISTENCE_MODULE=ledger.nats)"
        )
        raise LedgerUnavailable(msg)
    return recorder.pool
