"""The recorder's ``subscribe()``: notifications as they are stored.

The same batched direct gets as the views' reader (:mod:`ledger.nats._reader`) follow the
four-token aggregate subjects from ``gt + 1`` on, asking again every 50 ms once
caught up. No consumer: a user that may create consumers on the ledger stream can
aim a push consumer at any subject (nats-server does not check a consumer's
``deliver_subject`` against its creator's permissions, nats-io/nats-server#8274) or
re-aim another user's consumer by name, so the service user may create none there
(:mod:`ledger.access`). The reader runs on its own thread, because it must keep
reading between the caller's ``next()`` calls; notifications reach the caller
through a bounded queue, whose blocking ``put`` is the backpressure.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog
from eventsourcing.persistence import Notification, Subscription

if TYPE_CHECKING:
    from ledger.nats._recorders import NatsApplicationRecorder

__all__ = ["NatsSubscription"]

log = structlog.get_logger()

_QUEUE_SIZE = 10_000
_BATCH_SIZE = 1_000
_END = object()


class NatsSubscription(Subscription["NatsApplicationRecorder"]):
    """Iterates notifications with ids greater than ``gt``; blocks for new ones."""

    def __init__(
        self, recorder: NatsApplicationRecorder, gt: int | None = None, topics: Sequence[str] = ()
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_SIZE)
        self._wanted = frozenset(topics)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ledger-subscription", daemon=True)
        recorder.pool.on_close.append(self.stop)  # closing the factory ends it too
        self._thread.start()
        self._ready.wait(timeout=recorder.timeout + 5)
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        recorder = self._recorder
        try:
            batches = recorder.read_batches(
                gt=self._last_notification_id or 0,
                until=None,
                size=_BATCH_SIZE,
                stop=self._stopping,
            )
            self._ready.set()
            for batch in batches:
                for notification in batch:
                    if not self._wanted or notification.topic in self._wanted:
                        self._put(notification)
        except BaseException as e:  # noqa: BLE001 - handed to the iterating thread
            self._error = e
            self._ready.set()
            self._put(_END)

    def _put(self, item: Any) -> None:
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            return

    def __next__(self) -> Notification:
        while True:
            if self._has_been_stopped:
                raise StopIteration
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _END:
                self.stop()
                if self._error is not None:
                    raise self._error
                raise StopIteration
            self._last_notification_id = item.id
            return item  # type: ignore[no-any-return]

    def stop(self) -> None:
        super().stop()
        self._stopping.set()
        with contextlib.suppress(ValueError):
            self._recorder.pool.on_close.remove(self.stop)

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._thread.join(timeout=10)
