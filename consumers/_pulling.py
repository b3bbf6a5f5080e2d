"""A streaming pull from the agency's consumer, like nats.go's ``Consume()``.

One subscription on an inbox under the agency's inbox prefix receives messages as soon as
the server sends them; pull requests (``batch``, ``expires``, ``idle_heartbeat``) go to the
consumer's ``MSG.NEXT`` subject with that inbox as reply, keeping about ``batch`` messages
requested ahead of what the reader has taken. nats-py's ``fetch`` instead waits for a
batch to fill (or its timeout) before it returns anything.

Status messages on the inbox: 100 is a heartbeat (the requests are alive); 404 and 408
end a request, ``Nats-Pending-Messages`` saying how many of its batch went unfilled; 409
(``Exceeded MaxWaiting``, ``Consumer Deleted``, ...) is logged, and requesting starts
again after a pause. A watchdog starts again when nothing at all came for longer than a
request lives (a reconnect drops the server's pending requests).

Stopping waits, still subscribed, until every request has ended (filled, or its 404/408
came), at most a request's life: the server hands a message to a waiting request and
sends it a moment later, so one handed out just before the inbox went would be sent to
no one. nats-server then queues it for redelivery at once, with an attempt spent, ahead
of the NAKs the client sends next: the next client would get a case's later message
before its earlier one. Requests live at most a second, so that a stop is quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from typing import Any, Final

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from consumers._delivery_types import DeliveryUnavailable

__all__ = ["Puller"]

_STATUS: Final = "Status"
_DESCRIPTION: Final = "Description"
_PENDING: Final = "Nats-Pending-Messages"
_MAX_EXPIRES: Final = 1.0  # seconds a pull request lives at most: what a stop may wait
_MIN_EXPIRES: Final = 0.5  # ... and at least
_MARGIN: Final = 1.0  # seconds of silence past a request's life before starting again
_RETRY_MAX: Final = 5.0  # longest pause after a refused or failed request


class Puller:
    """Messages of consumer ``consumer`` on ``stream``, pulled ahead ``batch`` at a time."""

    def __init__(
        self, nc: Client, stream: str, consumer: str, batch: int, poll: float, log: Any
    ) -> None:
        self._closed_msg = f"the connection of {consumer} is closed"
        self._nc = nc
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._stream, self._consumer = stream, consumer
        self._inbox = nc.new_inbox()
        self._batch = batch
        self._expires = min(_MAX_EXPIRES, max(_MIN_EXPIRES, poll))
        self._heartbeat = self._expires / 2
        self._log = log
        self._queue: deque[Msg] = deque()
        self._arrived = asyncio.Event()
        self._outstanding = 0  # requested and neither delivered nor ended
        self._seen = time.monotonic()  # last anything came (or a request went)
        self._errors = 0
        self._paused_until = 0.0
        self._gone = False  # the connection closed under us
        self._stopping = False  # no more requests: the last ones are let run out
        self._sending = False  # a request is being counted and published
        self._ended = asyncio.Event()  # set while nothing is requested
        self._sub: Subscription | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._requesting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(self._inbox, cb=self._on_msg)
        self._watchdog = asyncio.create_task(self._watch())
        self._top_up()

    async def take(self, stops: tuple[asyncio.Event, ...], timeout: float) -> list[Msg] | None:
        """What has come ([] if nothing within ``timeout``), waiting for at least one
        message; None once one of ``stops`` is set."""
        if not self._queue:
            self._check_open()
            self._arrived.clear()
            arrived = asyncio.ensure_future(self._arrived.wait())
            waiters = [asyncio.ensure_future(stop.wait()) for stop in stops]
            try:
                await asyncio.wait(
                    [arrived, *waiters], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in (arrived, *waiters):
                    waiter.cancel()
            if any(stop.is_set() for stop in stops):
                return None
            self._check_open()
        return self.take_now()

    def take_now(self) -> list[Msg]:
        """What has come and was not taken yet, without waiting."""
        msgs = list(self._queue)
        self._queue.clear()
        self._top_up()
        return msgs

    async def stop(self) -> list[Msg]:
        """Stop pulling: ask for nothing more, let the requests still waiting on the server
        end (at most a request's life), then drop the inbox's interest once what the
        server sent has come; return what came and was not taken."""
        self._stopping = True
        if self._requesting is not None:
            if not self._sending:  # still pausing: nothing asked yet
                self._requesting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._requesting
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        self._watchdog = self._requesting = None
        if self._sub is not None and not self._gone and not self._nc.is_closed:
            self._count_outstanding()
            try:
                async with asyncio.timeout(self._expires + _MARGIN):
                    await self._ended.wait()
            except TimeoutError:  # a status lost: the server's look below is the fallback
                self._log.info("pull_requests_not_ended", outstanding=self._outstanding)
        if self._sub is not None:
            sub, self._sub = self._sub, None
            with contextlib.suppress(nats.errors.Error, TimeoutError, ValueError):
                await asyncio.wait_for(sub.drain(), timeout=2)  # type: ignore[no-untyped-call]
            # Should a request still wait (its end not seen in time), nats-server drops it
            # once it looks at its waiting requests; a NAK meeting one puts its message
            # behind later ones (out of order for the next client). Describing the
            # consumer makes it look.
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await self._nc.jetstream().consumer_info(self._stream, self._consumer, timeout=2)
        msgs = list(self._queue)
        self._queue.clear()
        return msgs

    # -- receiving -----------------------------------------------------------------

    async def _on_msg(self, msg: Msg) -> None:
        self._seen = time.monotonic()
        headers = msg.headers or {}
        status = headers.get(_STATUS)
        if not status:
            self._errors = 0
            self._outstanding = max(0, self._outstanding - 1)
            self._count_outstanding()
            self._queue.append(msg)
            self._arrived.set()
            self._top_up()
            return
        if status == "100":  # idle heartbeat (or flow control, which pull consumers lack)
            self._errors = 0
            return
        if status in ("404", "408"):  # a request ended (no messages, or expired)
            unfilled = _int(headers.get(_PENDING))
            self._outstanding = max(0, self._outstanding - unfilled) if unfilled is not None else 0
            self._count_outstanding()
            self._top_up()
            return
        description = headers.get(_DESCRIPTION, "")
        self._errors += 1
        pause = min(_RETRY_MAX, 0.1 * 2**self._errors)
        self._log.warning("pull_refused", status=status, description=description, retry_in=pause)
        self._restart(pause)

    def _count_outstanding(self) -> None:
        if self._outstanding == 0:
            self._ended.set()
        else:
            self._ended.clear()

    def _check_open(self) -> None:
        if self._gone or self._nc.is_closed:
            raise DeliveryUnavailable(self._closed_msg)

    # -- requesting ----------------------------------------------------------------

    def _top_up(self) -> None:
        """Request more once fewer than half a batch are requested ahead of the reader."""
        if self._sub is None or self._stopping or self._requesting is not None:
            return
        ahead = self._outstanding + len(self._queue)
        if ahead * 2 >= self._batch and ahead > 0:
            return
        want = self._batch - ahead
        if want <= 0:
            return
        self._requesting = asyncio.create_task(self._request(want))

    async def _request(self, want: int) -> None:
        try:
            wait = self._paused_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self._stopping:
                return
            request = {
                "batch": want,
                "expires": int(self._expires * 1e9),
                "idle_heartbeat": int(self._heartbeat * 1e9),
            }
            self._sending = True
            self._outstanding += want
            self._count_outstanding()
            self._seen = time.monotonic()
            await self._nc.publish(self._next_subject, json.dumps(request).encode(), self._inbox)
        except nats.errors.ConnectionClosedError:
            self._outstanding = 0
            self._gone = True
            self._arrived.set()
        except nats.errors.Error as error:  # the watchdog asks again
            self._log.warning("pull_request_failed", error_type=type(error).__name__)
        finally:
            self._sending = False
            self._requesting = None
        self._top_up()

    def _restart(self, pause: float) -> None:
        """Forget what was requested and ask again, after ``pause`` seconds."""
        self._outstanding = 0
        self._count_outstanding()
        self._paused_until = time.monotonic() + pause
        self._top_up()

    async def _watch(self) -> None:
        """Start again when nothing came for longer than a request lives."""
        silence = self._expires + _MARGIN
        while True:
            await asyncio.sleep(min(self._heartbeat, silence / 2))
            if self._nc.is_closed:
                self._gone = True
                self._arrived.set()
                return
            if self._outstanding > 0 and time.monotonic() - self._seen > silence:
                self._log.info("pull_restarted", silent_for=round(time.monotonic() - self._seen, 3))
                self._restart(0)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
