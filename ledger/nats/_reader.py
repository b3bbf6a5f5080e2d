"""Reading the stream in batches, on the caller's own thread: the fast path for projections.

``subscribe()`` hands notifications one at a time across a thread boundary,
which suits a caller that wants each event as soon as it lands. A projection
rebuild wants throughput instead: here batched direct gets (``$JS.API.DIRECT.GET``
with ``batch`` and ``next_by_subj``, ADR-31) run on an event loop owned by the
calling thread, and the loop runs only while a batch is being collected. The next
request goes out as soon as one ends, so the server streams the following messages
while the caller applies a batch; there is no queue hand-off per message and no
second thread competing for the GIL.

Direct gets, not a consumer: a reader that may create consumers may create a push
consumer, and nats-server does not check a push consumer's ``deliver_subject``
against its creator's publish permissions (nats-io/nats-server#8274), so the
projection workers' user could aim one at an agency's inbox. Reading by direct get
needs no consumer at all (see :mod:`ledger.access`).

Every message carries its stream sequence, so a request that was lost (a reconnect)
is simply made again from the last sequence taken: a batch never skips or repeats a
message. Following the stream, a reader that has caught up asks again every
``idle_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Final, TypeVar

import nats.errors
from eventsourcing.persistence import Notification
from nats.aio.client import Client
from nats.aio.msg import Msg

from ledger.errors import LedgerUnavailable
from ledger.nats import _stream
from ledger.nats._natsclient import parse_header_lines
from ledger.nats._syncwire import SyncWire, WireError
from ledger.proofs.entry import entry_hash

if TYPE_CHECKING:
    from ledger.nats._recorders import NatsApplicationRecorder

__all__ = ["read_batches", "read_leaves", "read_stored"]

T = TypeVar("T")

#: Messages one direct-get request asks for.
_REQUEST_BATCH: Final = 5_000
#: Messages nats-py may hold for the inbox before it counts it as slow.
_PENDING_LIMIT: Final = 65_536
#: ``NATS/1.0\r\n``: what precedes the header lines of a message without a status.
_HEAD_LINE: Final = 10
#: A stored message's sequence and the leaf hash of its entry.
Leaf = tuple[int, bytes]


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
    follows the stream: a batch is handed over once it is full or once nothing more
    is there for now, and the iterator ends when ``stop`` is set.
    """
    batch = _Batch(recorder, size, gt, until, recorder.subjects.all_aggregates)
    yield from _follow(recorder, batch, idle_s, stop, _Batch.take, idle_yield=False)


def read_stored(
    recorder: NatsApplicationRecorder,
    *,
    gt: int,
    until: int | None,
    size: int,
    subject: str,
    idle_s: float = 0.05,
    stop: threading.Event | None = None,
) -> Iterator[list[_stream.StoredMsg]]:
    """The stored messages on ``subject`` (a wildcard: ``<prefix>.>`` is the whole stream)
    after ``gt``, as :func:`read_batches` reads notifications, with their subjects and
    headers as stored (what the Merkle log hashes).

    Following (no ``until``), an empty list comes each time the stream has nothing more
    for ``idle_s``, so that the caller can act on time passing (the checkpointer's timer).
    """
    batch = _Batch(recorder, size, gt, until, subject)
    yield from _follow(recorder, batch, idle_s, stop, _Batch.take_stored, idle_yield=True)


def read_leaves(
    recorder: NatsApplicationRecorder,
    *,
    gt: int,
    until: int | None,
    size: int,
    subject: str,
    idle_s: float = 0.05,
    stop: threading.Event | None = None,
) -> Iterator[list[Leaf]]:
    """The sequence and leaf hash (:func:`ledger.proofs.entry.entry_hash`) of each stored
    message on ``subject`` after ``gt``, batched and following as :func:`read_stored`
    (an empty list each time the stream has nothing more for ``idle_s``).

    What the checkpointer reads: it needs nothing of a message but its leaf. Over a
    synchronous connection of its own (:meth:`SyncWire.replies`) where the URL allows one,
    with the header block parsed by the very function nats-py's client parses it with
    (:func:`ledger.nats._natsclient.parse_header_lines`), so the leaf is the one every
    other reader computes; else over nats-py (:func:`read_stored`).
    """
    make = recorder.pool.reader_wire
    if make is None:
        for batch in read_stored(
            recorder, gt=gt, until=until, size=size, subject=subject, idle_s=idle_s, stop=stop
        ):
            yield [(m.seq, entry_hash(m.subject, m.headers, m.data)) for m in batch]
        return
    wire = make()
    try:
        yield from _wire_leaves(wire, recorder, gt, until, size, subject, idle_s, stop)
    finally:
        wire.close()


def _wire_leaves(
    wire: SyncWire,
    recorder: NatsApplicationRecorder,
    gt: int,
    until: int | None,
    size: int,
    subject: str,
    idle_s: float,
    stop: threading.Event | None,
) -> Iterator[list[Leaf]]:
    """:func:`read_leaves` over ``wire``: one batched direct get at a time, read whole."""
    api = f"$JS.API.DIRECT.GET.{recorder.stream}"
    following = until is None
    next_seq = gt + 1
    out: list[Leaf] = []
    while until is None or next_seq <= until:
        if stop is not None and stop.is_set():
            return
        count = _REQUEST_BATCH if until is None else min(_REQUEST_BATCH, until - next_seq + 1)
        request = json.dumps({"seq": next_seq, "batch": count, "next_by_subj": subject})
        status, head = "", b""
        try:
            for reply in wire.replies(api, request.encode(), recorder.timeout):
                if reply.status:
                    status, head = reply.status, reply.head
                    break
                headers = parse_header_lines(reply.head[_HEAD_LINE:])
                seq = int(headers.get("Nats-Sequence", "0"))
                if seq < next_seq or (until is not None and seq > until):
                    continue
                out.append((seq, entry_hash(headers.get("Nats-Subject", ""), headers, reply.data)))
                next_seq = seq + 1
                if len(out) >= size:
                    yield out
                    out = []
        except WireError as e:
            msg = f"direct get on stream {recorder.stream!r} failed: {e}"
            raise LedgerUnavailable(msg) from e
        if out:
            yield out
            out = []
        if status == "204":  # end of this request's batch
            ended = parse_header_lines(head.split(b"\r\n", 1)[-1])
            caught_up = int(ended.get("Nats-Num-Pending", "0")) == 0
        elif status == "404":  # nothing at or after the sequence asked for
            caught_up = True
        else:
            msg = f"direct get on stream {recorder.stream!r} answered status {status}"
            raise LedgerUnavailable(msg)
        if not caught_up:
            continue
        if not following:
            return  # the stream has nothing more to give
        yield []  # quiet for now: the caller acts on time passing
        if stop is not None:
            if stop.wait(idle_s):
                return
        else:
            time.sleep(idle_s)


def _follow(
    recorder: NatsApplicationRecorder,
    batch: _Batch,
    idle_s: float,
    stop: threading.Event | None,
    take: Callable[[_Batch], list[T]],
    *,
    idle_yield: bool,
) -> Iterator[list[T]]:
    loop = asyncio.new_event_loop()
    try:
        nc = loop.run_until_complete(recorder.pool.connect())
        try:
            loop.run_until_complete(batch.start(nc))
            while not batch.done:
                if stop is not None and stop.is_set():
                    return
                loop.run_until_complete(batch.wait(idle_s))
                taken = take(batch)
                if taken or (idle_yield and not batch.done):
                    yield taken
        finally:
            loop.run_until_complete(batch.close(nc))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class _Batch:
    """The messages received and not yet taken, and the direct-get request in flight."""

    def __init__(
        self,
        recorder: NatsApplicationRecorder,
        size: int,
        gt: int,
        until: int | None,
        subject: str,
    ) -> None:
        self._recorder = recorder
        self._subject = subject
        self._size = size
        self._until = until
        self._messages: list[Msg] = []
        self._arrived = asyncio.Event()
        self._next = gt + 1  # the first sequence not received yet
        self._last = gt  # the last sequence handed over
        self._asked_at: float | None = None  # when the request in flight went out
        self._caught_up = False  # the last request found nothing more
        self._error: str | None = None
        self._nc: Client | None = None
        self._inbox = ""
        self._sub: object = None
        self.done = until is not None and until <= gt

    async def start(self, nc: Client) -> None:
        self._nc = nc
        self._inbox = nc.new_inbox()
        self._sub = await nc.subscribe(
            self._inbox, cb=self._on_msg, pending_msgs_limit=_PENDING_LIMIT
        )
        await self._ask()

    async def close(self, nc: Client) -> None:
        try:
            if self._sub is not None:
                await self._sub.unsubscribe()  # type: ignore[attr-defined]
        finally:
            await nc.close()

    async def _ask(self) -> None:
        """Request the next messages, unless a request is in flight or all are in."""
        if self._asked_at is not None or self._nc is None:
            return
        count = _REQUEST_BATCH
        if self._until is not None:
            count = min(count, self._until - self._next + 1)
            if count <= 0:
                return
        request = {
            "seq": self._next,
            "batch": count,
            "next_by_subj": self._subject,
        }
        self._asked_at = time.monotonic()
        try:
            await self._nc.publish(
                f"$JS.API.DIRECT.GET.{self._recorder.stream}",
                json.dumps(request).encode(),
                reply=self._inbox,
            )
        except nats.errors.Error:
            self._asked_at = None  # disconnected: asked again once the timeout passes

    async def _on_msg(self, msg: Msg) -> None:
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is None:
            seq = int(headers.get("Nats-Sequence", "0"))
            if seq >= self._next:
                self._messages.append(msg)
                self._next = seq + 1
                if len(self._messages) == self._size:
                    self._arrived.set()
            return
        self._asked_at = None
        if status == "204":  # end of this request's batch
            self._caught_up = int(headers.get("Nats-Num-Pending", "0")) == 0
        elif status == "404":  # nothing at or after the sequence asked for
            self._caught_up = True
        else:
            self._error = status
        self._arrived.set()
        await self._prefetch()

    async def _prefetch(self) -> None:
        """Ask for more while there is more and not much is waiting to be taken."""
        if not self._caught_up and len(self._messages) < 2 * max(self._size, _REQUEST_BATCH):
            await self._ask()

    def _ready(self) -> bool:
        if len(self._messages) >= self._size:
            return True
        return self._until is not None and self._next > self._until

    async def wait(self, idle_s: float) -> None:
        """Until a full batch (or ``until``) is in; following, until what the stream has
        now is in, or ``idle_s`` passed with nothing."""
        started = time.monotonic()
        timeout = self._recorder.timeout
        while not self._ready():
            if self._error is not None:
                stream = self._recorder.stream
                msg = f"direct get on stream {stream!r} answered status {self._error}"
                raise LedgerUnavailable(msg)
            if self._asked_at is not None and time.monotonic() - self._asked_at > timeout:
                self._asked_at = None  # lost (a reconnect): ask again from where we are
            if self._caught_up:
                if self._until is not None or self._messages:
                    break  # all there is for now
                remaining = idle_s - (time.monotonic() - started)
                if remaining <= 0:
                    break
                await asyncio.sleep(remaining)  # following a quiet stream: ask again soon
                self._caught_up = False
            self._arrived.clear()
            await self._ask()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=min(timeout, 0.5))
        await self._prefetch()

    def _taken(self) -> list[tuple[int, Msg]]:
        """At most ``size`` messages (with their sequences) in range and not handed over;
        what arrived beyond them waits for the next batch."""
        messages, self._messages = self._messages[: self._size], self._messages[self._size :]
        out: list[tuple[int, Msg]] = []
        for msg in messages:
            seq = int((msg.headers or {})["Nats-Sequence"])
            if seq <= self._last:
                continue
            if self._until is not None and seq > self._until:
                break
            out.append((seq, msg))
            self._last = seq
        if self._until is not None and not self._messages:
            # Done at ``until``, or earlier when the stream has nothing more to give.
            self.done = self._last >= self._until or self._next > self._until or self._caught_up
        return out

    def take(self) -> list[Notification]:
        """At most ``size`` notifications."""
        subjects = self._recorder.subjects
        out: list[Notification] = []
        for seq, msg in self._taken():
            headers = msg.headers or {}
            out.append(
                Notification(
                    id=seq,
                    originator_id=subjects.originator(headers["Nats-Subject"]),
                    originator_version=int(headers[_stream.HDR_VERSION]),
                    topic=headers.get(_stream.HDR_TOPIC, ""),
                    state=msg.data,
                )
            )
        return out

    def take_stored(self) -> list[_stream.StoredMsg]:
        """At most ``size`` stored messages, with their subjects and headers."""
        return [_stream.stored(msg) for _, msg in self._taken()]
