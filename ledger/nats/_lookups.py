"""How a save retries, looks itself up, and says what became of it when it cannot tell.

A save (:meth:`ledger.nats.persistence.NatsAggregateRecorder._write`) publishes, and
when the stream refuses it for an unexpected last sequence it looks at who took
the place: maybe an earlier try of this very save, whose acknowledgement was lost.
That look-up must not fail just because a connection is still coming back after a
server restart, or a caller told "unavailable" would retry and record the fact twice.
So look-ups

* go over the write path's own connection (:class:`WireRequests`) when there is
  one: the connection that just carried the stream's answer, so it is up;
* are tried again within the save's retry window (``NATS_WRITE_RETRY_S``), on the
  driver's loop so that nats-py's reconnect makes progress meanwhile;
* and, when the window ends, fail with an error that says whether the save may
  have been stored (:class:`~ledger.errors.SaveOutcomeUnknown`) or was not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

import nats.errors
import structlog

from ledger.errors import LedgerUnavailable, SaveOutcomeUnknown
from ledger.nats._natsclient import parse_header_lines
from ledger.nats._syncwire import SyncWire, WireError, WireTimeout, WireUnreachable

__all__ = ["Deadline", "WireRequests", "may_have_landed", "patiently", "unavailable"]

log = structlog.get_logger()

T = TypeVar("T")

_NO_HEADERS: Final[dict[str, str]] = {}


class Deadline:
    """Retry pacing for a write whose acknowledgement did not come."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds
        self._pause = 0.05

    def passed(self) -> bool:
        return time.monotonic() >= self._end

    def pause(self) -> None:
        time.sleep(min(self._pause, max(self._end - time.monotonic(), 0)))
        self._pause = min(self._pause * 2, 1.0)


class _Reply:
    """A reply as nats-py's ``Msg`` shows it to :mod:`ledger.nats._stream`: headers and data."""

    __slots__ = ("data", "headers")

    def __init__(self, headers: dict[str, str] | None, data: bytes) -> None:
        self.headers = headers
        self.data = data


class WireRequests:
    """Requests over a :class:`SyncWire` in the shape of nats-py's ``Client.request``.

    Enough for :func:`ledger.nats._stream.direct_get`: the wire's errors become the
    nats-py errors that function already translates.
    """

    def __init__(self, wire: SyncWire) -> None:
        self._wire = wire

    async def request(self, subject: str, payload: bytes, timeout: float) -> _Reply:
        try:
            reply = self._wire.request([(subject, _NO_HEADERS, payload)], timeout)
        except WireTimeout as e:
            raise nats.errors.TimeoutError from e
        except WireError as e:
            raise nats.errors.ConnectionClosedError from e
        if reply.status == "503":
            raise nats.errors.NoRespondersError
        headers = parse_header_lines(reply.head) if reply.head else None
        if headers is not None and reply.status:
            headers["Status"] = reply.status
        return _Reply(headers, reply.data)


async def patiently(
    stream: str,
    nc: Any,
    deadline: Deadline,
    lookup: Callable[..., Coroutine[Any, Any, T]],
    *args: Any,
) -> T:
    """``lookup(nc, *args)``, tried again until ``deadline`` while the stream is unavailable.

    ``nc`` is a nats-py client or :class:`WireRequests`; a client that is reconnecting
    is waited for on the running loop (where its reconnect happens).
    """
    pause = 0.02
    while True:
        while getattr(nc, "is_connected", True) is False and not deadline.passed():
            await asyncio.sleep(0.02)
        try:
            return await lookup(nc, *args)
        except LedgerUnavailable:
            if deadline.passed():
                raise
            log.warning("ledger_lookup_retry", stream=stream)
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.5)


def may_have_landed(error: LedgerUnavailable) -> bool:
    """Whether the failed try of a save behind ``error`` may have reached the stream.

    Only a failure known to have sent nothing (no connection could be made, the
    client refused to send while reconnecting, nobody listens) says no; any other,
    a lost acknowledgement above all, says it may have.
    """
    cause = error.__cause__
    return not isinstance(
        cause,
        WireUnreachable
        | nats.errors.NoRespondersError
        | nats.errors.ConnectionReconnectingError
        | nats.errors.OutboundBufferLimitError,
    )


def unavailable(message: str, *, may_have_been_stored: bool) -> LedgerUnavailable:
    """The error for a save that could not be completed, saying what became of it."""
    if may_have_been_stored:
        return SaveOutcomeUnknown(
            f"{message}; the save may have been stored: look at the aggregate before "
            "saving it again"
        )
    return LedgerUnavailable(f"{message}; nothing was stored")
