"""Reading the stream in batches, on the caller's own thread: the fast path for projections.

``subscribe()`` hands notifications one at a time across a thread boundary,
which suits a caller that wants each event as soon as it lands. A projection
rebuild wants throughput instead: here an ordered push consumer (the fastest way
nats-py reads a stream: a callback, server-side flow control) runs on an event
loop owned by the calling thread, and the loop runs only while a batch is being
collected. While the caller applies a batch the loop is paused and the server's
flow control holds the rest, so there is no queue hand-off per message and no
second thread competing for the GIL.

An ordered consumer notices gaps (and a heartbeat missed during a long pause) and
recreates itself from the last sequence it delivered, so a batch never skips or
repeats a message.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import Notification
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from ledger import _stream

if TYPE_CHECKING:
    from ledger.persistence import NatsApplicationRecorder

__all__ = ["read_batches"]

#: Messages nats-py may hold for the consumer before it counts it as slow.
_PENDING_LIMIT = 65_536


def read_batches(
    recorder: NatsApplicationRecorder,
    *,
    gt: int,
    until: int | None,
    size: int,
    idle_s: float = 0.05,
    stop: threading.Event | None = None,
) -> Iterator[list[Notification]]:
    """Notifications after ``gt`` in lists of at most ``size``.

    With ``until`` the iterator ends after that stream sequence. Without it, it
    follows the stream: a batch is handed over once it is full or once nothing has
    arrived for ``idle_s``, and the iterator ends when ``stop`` is set.
    """
    loop = asyncio.new_event_loop()
    batch = _Batch(recorder, size, until)
    try:
        nc = loop.run_until_complete(recorder.pool.connect())
        try:
            loop.run_until_complete(batch.subscribe(nc, gt))
            while not batch.done:
                if stop is not None and stop.is_set():
                    return
                loop.run_until_complete(batch.wait(idle_s))
                taken = batch.take()
                if taken:
                    yield taken
        finally:
            loop.run_until_complete(batch.close(nc))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class _Batch:
    """The messages of the batch being collected, and when it is ready to hand over."""

    def __init__(self, recorder: NatsApplicationRecorder, size: int, until: int | None) -> None:
        self._recorder = recorder
        self._size = size
        self._until = until
        self._messages: list[Msg] = []
        self._ready = asyncio.Event()
        self._arrived = asyncio.Event()
        self._last = 0
        self.done = until is not None and until <= 0
        self._sub: Any = None

    async def subscribe(self, nc: Client, gt: int) -> None:
        js = nc.jetstream()
        self._sub = await js.subscribe(
            self._recorder.subjects.all_aggregates,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=gt + 1
            ),
            cb=self._on_msg,
            pending_msgs_limit=_PENDING_LIMIT,
        )

    async def close(self, nc: Client) -> None:
        """Stop the consumer (and nats-py's heartbeat and flow-control tasks), then close."""
        try:
            if self._sub is not None:
                await self._sub.unsubscribe()
        finally:
            await nc.close()

    async def _on_msg(self, msg: Msg) -> None:
        self._messages.append(msg)
        self._arrived.set()
        if self._full(msg):
            self._ready.set()

    def _full(self, last: Msg) -> bool:
        """Whether the batch can be handed over: full, or ``last`` reaches ``until``."""
        if len(self._messages) >= self._size:
            return True
        return self._until is not None and last.metadata.sequence.stream >= self._until

    async def wait(self, idle_s: float) -> None:
        """Until the batch is full or reaches ``until``; following, until what has arrived
        is all there is for now (or ``idle_s`` passed with nothing)."""
        if self._until is None:
            await self._follow(idle_s)
            return
        await self._ready.wait()

    async def _follow(self, idle_s: float) -> None:
        # Following, latency matters more than batch size: hand over as soon as the
        # messages already received have been taken in. Yielding to the loop lets
        # nats-py deliver what is already in its buffers; when a round brings nothing
        # more, the batch is what there is now.
        if not self._messages:
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=idle_s)
            except TimeoutError:
                return
        count = -1
        while count != len(self._messages) and not self._ready.is_set():
            count = len(self._messages)
            for _ in range(3):
                await asyncio.sleep(0)

    def take(self) -> list[Notification]:
        """At most ``size`` notifications; what arrived beyond them waits for the next batch."""
        messages, self._messages = self._messages[: self._size], self._messages[self._size :]
        self._ready.clear()
        if not self._messages:
            self._arrived.clear()
        if self._messages and self._full(self._messages[-1]):
            self._ready.set()
        subjects = self._recorder.subjects
        out: list[Notification] = []
        for msg in messages:
            seq = msg.metadata.sequence.stream
            if seq <= self._last:
                continue  # redelivered after the ordered consumer restarted
            if self._until is not None and seq > self._until:
                break
            headers = msg.headers or {}
            out.append(
                Notification(
                    id=seq,
                    originator_id=subjects.originator(msg.subject),
                    originator_version=int(headers[_stream.HDR_VERSION]),
                    topic=headers.get(_stream.HDR_TOPIC, ""),
                    state=msg.data,
                )
            )
            self._last = seq
        if self._until is not None and self._last >= self._until:
            self.done = True
        return out
