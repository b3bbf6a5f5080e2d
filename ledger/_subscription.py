"""The recorder's ``subscribe()``: notifications as they are stored, without polling.

An ordered push consumer (ephemeral, flow-controlled, restarted by nats-py on a
gap) reads the four-token aggregate subjects from ``gt + 1`` on. It runs on its
own thread with its own event loop and connection, because it must keep reading
between the caller's ``next()`` calls; messages reach the caller through a
bounded queue, whose blocking ``put`` is the backpressure: while the caller is
slow the consumer's loop waits and the server's flow control holds the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog
from eventsourcing.persistence import Notification, Subscription
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from ledger import _stream

if TYPE_CHECKING:
    from ledger.persistence import NatsApplicationRecorder

__all__ = ["NatsSubscription"]

log = structlog.get_logger()

_QUEUE_SIZE = 10_000
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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="ledger-subscription", daemon=True)
        recorder.pool.on_close.append(self.stop)  # closing the factory ends it too
        self._thread.start()
        self._ready.wait(timeout=recorder.timeout + 5)
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._consume())
        except BaseException as e:  # noqa: BLE001 - handed to the iterating thread
            self._error = e
            self._ready.set()
            self._put(_END)
        finally:
            loop.close()

    async def _consume(self) -> None:
        recorder = self._recorder
        nc = await recorder.pool.connect()
        try:
            js = nc.jetstream()
            start = (self._last_notification_id or 0) + 1
            sub = await js.subscribe(
                recorder.subjects.all_aggregates,
                ordered_consumer=True,
                config=_consumer_config(start),
                cb=self._on_msg,
                pending_msgs_limit=4096,
            )
            self._ready.set()
            while not self._stopping.is_set():
                await asyncio.sleep(0.05)
            await sub.unsubscribe()
        finally:
            await nc.close()

    async def _on_msg(self, msg: Msg) -> None:
        headers = msg.headers or {}
        topic = headers.get(_stream.HDR_TOPIC, "")
        if self._wanted and topic not in self._wanted:
            return
        meta = msg.metadata
        notification = Notification(
            id=meta.sequence.stream,
            originator_id=self._recorder.subjects.originator(msg.subject),
            originator_version=int(headers[_stream.HDR_VERSION]),
            topic=topic,
            state=bytes(msg.data),
        )
        self._put(notification)

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


def _consumer_config(start: int) -> ConsumerConfig:
    return ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
