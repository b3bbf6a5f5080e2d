"""What the ledger's readers may ask of a recorder beyond eventsourcing's interface.

A recorder that can hand over notifications in batches on the calling thread (the
NATS one) satisfies :class:`BatchReader`; :func:`batch_reader` says whether a given
recorder does, so a reader needs neither ``hasattr`` nor the adapter's modules.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from eventsourcing.persistence import Notification

__all__ = ["BatchReader", "batch_reader"]


@runtime_checkable
class BatchReader(Protocol):
    """Reads notifications after ``gt`` in lists of at most ``size``, on the calling thread.

    With ``until`` the iterator ends after that notification id; without it, it follows
    the log and ends when ``stop`` is set.
    """

    def read_batches(
        self,
        *,
        gt: int,
        until: int | None,
        size: int,
        stop: threading.Event | None = None,
    ) -> Iterator[list[Notification]]:
        """Notifications after ``gt`` in batches."""
        ...


def batch_reader(recorder: object) -> BatchReader | None:
    """``recorder`` as a :class:`BatchReader` if it is one, else ``None``."""
    return recorder if isinstance(recorder, BatchReader) else None
