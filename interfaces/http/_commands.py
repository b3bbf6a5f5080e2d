"""The command routes' work, its threads, and the direct path that serves it.

A ``POST /commands/{Tag}`` is checked and recorded by :func:`command_handler` (the bearer
token, then :func:`interfaces.http._send.send`); :meth:`Ledger.execute` blocks until the
stream acknowledges, so it runs on a thread of :class:`CommandThreads`, never on the
event loop.

Each command is also a Litestar route (its OpenAPI operation, and what answers a request
the direct path leaves alone), but :class:`CommandPath` answers the commands before
Litestar routes them: a command is the API's one hot write, and Litestar's request,
signature model, response object and exception middleware, with AnyIO's thread hop,
cost about twice the CPU of the ASGI work itself (measured: ~135 µs against ~40 µs a
POST in process, and ~100 µs of AnyIO's hop against ~60 µs of :class:`CommandThreads`').
It takes only a ``POST`` to a command's exact path with a ``Content-Length`` within the
limit; anything else (a chunked or oversized body, another method) goes to Litestar,
which answers as before. Both answer with the same :class:`~litestar.Response`, encoded
here with msgspec as Litestar does it (``tests/unit/test_http_command_path.py`` holds
them to the same bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Any, Final

import msgspec
import structlog
from litestar import MediaType, Response

from interfaces.http._problems import Refused, failed, from_ledger_error, problem, refusal
from interfaces.http._send import send
from ledger.application import Ledger
from ledger.errors import LedgerError
from runtime.tokens import InvalidToken, TokenRecord, TokenStore
from schemas.commands import BaseCommand
from schemas.wire import HDR_SIGNATURE

__all__ = [
    "CommandHandler",
    "CommandPath",
    "CommandThreads",
    "Overloaded",
    "authenticate",
    "command_handler",
    "overloaded",
]

log = structlog.get_logger()

#: ``(authorization, signature, body) -> response``: one command route's work.
CommandHandler = Callable[[str | None, str | None, bytes], Response[Any]]

_SIGNATURE_HEADER: Final = HDR_SIGNATURE.lower().encode("latin-1")
_encoder: Final = msgspec.json.Encoder()
#: How long :meth:`CommandThreads.close` waits for the calls in hand.
_CLOSE_S: Final = 30.0
#: The calls :class:`CommandThreads` holds waiting for a thread before it refuses more
#: (503): a burst beyond it is told at once to come back rather than queued without end
#: (each waiting call holds its body, up to the 1 MiB limit).
BACKLOG: Final = 256
#: The command threads: enough commands in flight to keep the stream's acks coming (a
#: command holds the GIL for ~0.45 ms and waits about as long for its ack), few enough
#: that they and the event loop do not keep handing the GIL to each other. With a thread
#: per waiting request (16 clients, 16 threads) each request woke a sleeping thread that
#: then fought the loop for the GIL: ~20 context switches a POST against ~10 a command in
#: process. Measured with ``python -m bench.api_write_cpu`` (16 clients, the same rounds):
#: the serving process's CPU a POST 860-1080 µs with 16 threads, 640-800 µs with 8 (and
#: 700-750 with 4 or 6), its switches 20 -> 11-12, the rate over the in-process one
#: 0.62-0.65 -> 0.77-0.78. Eight, not four, leaves room for a stream slower to ack (a
#: cluster); more calls wait in the queue.
THREADS: Final = 8
#: What a refused call is told to wait before trying again (``Retry-After``, seconds).
_RETRY_AFTER_S: Final = 1


class Overloaded(LedgerError, RuntimeError):
    """Raised when :class:`CommandThreads` already holds as many waiting calls as it may:
    the call was not queued and nothing of it ran."""


def overloaded(error: Overloaded) -> Response[Any]:
    """The 503 problem of a command or read refused because too many are waiting (nothing
    of it ran: no command recorded, no read recorded), with ``Retry-After``."""
    response = problem(503, "overloaded", "Too many requests at once", str(error))
    response.headers["Retry-After"] = str(_RETRY_AFTER_S)
    return response


@dataclass(frozen=True)
class _Call:
    """What a refusal is logged with: never the body."""

    command: str
    role: str | None = None
    partnership: str | None = None
    agency: str | None = None


def authenticate(tokens: TokenStore, header: str | None) -> TokenRecord:
    """The caller's token record from an ``Authorization: Bearer <token>`` header's value,
    else :class:`Refused` 401."""
    if header is None:
        raise Refused(401, "no API token: send 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "the Authorization header is not 'Bearer <token>'")
    try:
        return tokens.authenticate(token.strip())
    except InvalidToken as error:
        raise Refused(401, str(error)) from None


def command_handler(
    ledger: Ledger, tokens: TokenStore, tag: str, cls: type[BaseCommand]
) -> CommandHandler:
    """What ``POST /commands/{tag}`` does (blocking): 201 with the receipt, or the problem.

    Refusals are logged with the role, partnership, agency and command tag, never the body.
    """

    def handle(authorization: str | None, signature: str | None, data: bytes) -> Response[Any]:
        call = _Call(command=tag)
        try:
            caller = authenticate(tokens, authorization)
            call = _Call(tag, caller.role.value, caller.partnership, caller.agency)
            receipt = send(ledger, caller, tag, cls, data, signature=signature)
        except Refused as error:
            log.warning("request_refused", status=error.status, reason=error.reason, **vars(call))
            return refusal(error)
        except LedgerError as error:
            response = from_ledger_error(error)
            log.warning(
                "command_refused",
                status=response.status_code,
                error=type(error).__name__,
                field=getattr(error, "field", None),
                **vars(call),
            )
            return response
        return Response(receipt, status_code=201)

    return handle


class CommandThreads:
    """Threads that run the commands' blocking work and answer on the caller's event loop.

    A thread is started when a call finds none idle, up to ``limit``; more calls wait in
    the queue, up to ``backlog`` of them, and a call beyond that raises
    :class:`Overloaded` without being queued. The threads are daemon threads, ended by
    :meth:`close` (the app's shutdown; a call after it starts threads again). Leaner than
    ``anyio.to_thread`` (no capacity limiter, cancel scope or context copy): one queue put
    and one ``call_soon_threadsafe`` a call. A call whose awaiting task is cancelled still
    runs to its end (a command is recorded or not, never half), its answer dropped.
    """

    def __init__(
        self, limit: int = THREADS, backlog: int = BACKLOG, *, what: str = "commands"
    ) -> None:
        self._limit = limit
        self._backlog = backlog
        #: What the calls are, in the refusal and the log (``commands``, ``reads``).
        self._what = what
        self._queue: SimpleQueue[tuple[Any, ...] | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        #: Calls queued and not yet taken by a thread, beyond the idle threads.
        self._waiting = 0

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on one of the threads; its result (or its exception) here.
        :class:`Overloaded` if ``backlog`` calls already wait for a thread."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            waiting = self._waiting - self._idle  # the idle threads take theirs at once
            if waiting >= self._backlog:
                log.warning(f"{self._what}_overloaded", waiting=waiting, backlog=self._backlog)
                msg = (
                    f"{waiting} {self._what} are already waiting for a thread; this one was"
                    f" not taken and nothing was recorded: try again in {_RETRY_AFTER_S} s"
                )
                raise Overloaded(msg)
            self._waiting += 1
            if self._idle == 0 and len(self._threads) < self._limit:
                thread = threading.Thread(
                    target=self._work, name=f"{self._what}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                self._idle += 1
                thread.start()
        self._queue.put((loop, future, fn, args))
        return await future

    def close(self) -> None:
        """End the threads once the calls queued before this have run (waiting up to
        :data:`_CLOSE_S` in all). No parameters: Litestar passes the app to a shutdown
        hook that has any."""
        with self._lock:
            threads, self._threads, self._idle = self._threads, [], 0
        for _ in threads:
            self._queue.put(None)
        deadline = time.monotonic() + _CLOSE_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _work(self) -> None:
        """Run calls until :meth:`close` ends this thread (a thread it ended finishes the
        call in hand first; a wake-up meant for an ended thread is passed over)."""
        me = threading.current_thread()
        while True:
            job = self._queue.get()
            with self._lock:
                current = me in self._threads
                if job is not None:
                    self._waiting -= 1
                    if current:
                        self._idle -= 1
            if job is None:
                if not current:
                    return
                continue
            loop, future, fn, args = job
            try:
                settle, value = future.set_result, fn(*args)
            except BaseException as error:  # noqa: BLE001 - handed to the awaiting task
                settle, value = future.set_exception, error
            with self._lock:  # idle again before the caller hears: its next call finds it
                current = me in self._threads
                if current:
                    self._idle += 1
            _answer(loop, settle, future, value)
            del job, future, fn, args, settle, value
            if not current:
                return


def _answer(
    loop: asyncio.AbstractEventLoop,
    settle: Callable[[Any], None],
    future: asyncio.Future[Any],
    value: Any,
) -> None:
    def done() -> None:
        if not future.cancelled():
            settle(value)

    # A loop closed while the call ran (RuntimeError) has nobody waiting for the answer.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(done)


class CommandPath:
    """The direct ASGI path of ``POST /commands/{Tag}`` (see the module)."""

    def __init__(
        self, handlers: Mapping[str, CommandHandler], threads: CommandThreads, max_body: int
    ) -> None:
        self._handlers = {f"/commands/{tag}": handler for tag, handler in handlers.items()}
        self._threads = threads
        self._max_body = max_body

    def route(self, scope: Mapping[str, Any]) -> Callable[..., Awaitable[None]] | None:
        """The direct path for ``scope`` (an ASGI scope), or None to leave it to Litestar."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        handler = self._handlers.get(scope["path"])
        if handler is None:
            return None
        headers = _Headers(scope["headers"])
        if headers.length is None or headers.length > self._max_body:
            return None

        async def answer(scope: Any, receive: Any, send: Any) -> None:
            await self._answer(handler, headers, scope, receive, send)

        return answer

    async def _answer(
        self, handler: CommandHandler, headers: _Headers, scope: Any, receive: Any, send: Any
    ) -> None:
        chunks: list[bytes] = []
        size = 0
        limit = min(headers.length or 0, self._max_body)
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before its body arrived: nothing is done
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:  # more than it said (a server that does not hold it to that)
                status, head, body = encode(_too_large(limit))
                await send({"type": "http.response.start", "status": status, "headers": head})
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        data = b"".join(chunks)
        try:
            response = await self._threads.run(
                handler, headers.authorization, headers.signature, data
            )
        except Overloaded as error:
            response = overloaded(error)
        except Exception as error:  # noqa: BLE001 - what Litestar's internal_error answers
            response = failed(scope["path"], error)
        status, head, body = encode(response)
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _too_large(limit: int) -> Response[Any]:
    """The 413 of a body longer than its ``Content-Length`` (``limit``, at most the maximum)."""
    detail = f"the body is longer than its Content-Length or {limit} bytes; nothing was recorded"
    return problem(413, "http", "Request Entity Too Large", detail)


def encode(response: Response[Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The status, headers and body Litestar sends for ``response`` (a command's receipt or
    problem: JSON content, no cookies, no background task)."""
    body = _encoder.encode(response.content)
    head = [
        (k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in response.headers.items()
    ]
    media_type = response.media_type or MediaType.JSON  # a handler's default, as Litestar's
    text = media_type.value if isinstance(media_type, MediaType) else media_type
    head.append((b"content-type", text.encode("latin-1")))
    head.append((b"content-length", str(len(body)).encode("latin-1")))
    return response.status_code or 200, head, body


class _Headers:
    """The headers a command needs, read once from the scope's raw list."""

    __slots__ = ("authorization", "length", "signature")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.authorization: str | None = None
        self.signature: str | None = None
        #: The body's declared length; None when absent, malformed or chunked.
        self.length: int | None = None
        chunked = False
        for name, value in raw:
            lower = name.lower()
            if lower == b"authorization":
                if self.authorization is None:  # the first, as Litestar's headers read it
                    self.authorization = value.decode("latin-1")
            elif lower == b"content-length":
                self.length = int(value) if value.isdigit() else None
            elif lower == _SIGNATURE_HEADER:
                if self.signature is None:
                    self.signature = value.decode("latin-1")
            elif lower == b"transfer-encoding":
                chunked = True
        if chunked:
            self.length = None
