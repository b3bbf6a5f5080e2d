"""Which cached partnerships another process may have changed: a subscription that says so.

The ledger caches aggregates and does not read the stream again before using one
(:mod:`ledger.application`). A command's save conflicts when another process wrote the
aggregate it saves, so a stale case or challenge is reloaded and tried again. The
partnership is different: most commands read it (its agencies, their keys, the date
from which signatures are required) without saving it, so a key revoked by another
``ledger serve`` process would be accepted here, against the cached partnership, until
this process restarted.

:class:`PartnershipWatch` is a core NATS subscription to ``<prefix>.*.partnership.*``, on a
connection and event loop of its own. Every message published there, by any process,
names the partnership to drop from the cache (``on_change(target)``); the next command
reloads it from the stream. A message is only a hint: it is never read, and a message
the stream refused (a failed expectation) costs one reload. The watch is trusted only
while it is :attr:`~PartnershipWatch.live`: until it has subscribed, while its
connection is down, and when the server refused the subscription, it is not, and every
command reloads its partnership. On every (re)subscription ``on_change(None)`` asks for
all of them to be dropped, since what was published while it was away was not seen.

A hint can reach this connection before the stream has stored its message (the server
hands a publish to its subscribers and to the stream alike), so the ledger reads a hinted
partnership from the stream on every command for a while after the hint, and drops what a
read that a hint overtook had cached (:meth:`ledger.application.Ledger._partnership`). Any
error the connection reports other than the subscription's refusal (a slow consumer's
dropped messages) counts as hints lost: not live until it has flushed again, then every
partnership is dropped. What the watch cannot see: a server whose permissions deny the
service user one partnership's subject while allowing the wildcard delivers the rest and
says nothing (runtime/access.py grants the whole wildcard; keep it so).

A first connection that fails (the server not up yet, a timeout) is tried again in the
background, after 0.5 s and then twice as long each time up to 30 s, until it subscribes,
the server refuses the subscription, or the watch is stopped; until then the ledger only
reloads more.

What remains is the time a message takes to cross the server (well under a millisecond
on one machine): a command checked here against the partnership as it stood just before
another process's revocation is stored after it, and ``ledger verify`` names that event
(a signature by a key revoked before it). docs/proofs.md says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Final

import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

__all__ = ["PartnershipWatch"]

log = structlog.get_logger()

#: Seconds before the first connection is tried again, doubled each time up to the last.
_RETRY_FIRST_S: Final = 0.5
_RETRY_MAX_S: Final = 30.0


class PartnershipWatch:
    """Calls ``on_change(target)`` for each message on ``subject_filter`` (``target``: the
    subject less ``cut`` characters, the aggregate id), and ``on_change(None)`` each time it
    (re)subscribes. ``connect(**callbacks)`` makes its connection."""

    def __init__(
        self,
        connect: Callable[..., Awaitable[Client]],
        subject_filter: str,
        on_change: Callable[[str | None], None],
        *,
        cut: int,
        timeout: float = 5.0,
    ) -> None:
        self._connect = connect
        self._filter = subject_filter
        self._on_change = on_change
        self._cut = cut
        self._timeout = timeout
        self._live = False
        self._closed = False
        self._nc: Client | None = None
        self._opening: Any = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="ledger-partnership-watch", daemon=True
        )

    @property
    def live(self) -> bool:
        """True while every message on the filter reaches ``on_change``."""
        return self._live and not self._closed

    def start(self) -> None:
        """Connect and subscribe, waiting for the first try; on its failure, log it, stay
        not live and keep trying in the background (never raises)."""
        self._thread.start()
        first = threading.Event()
        self._opening = asyncio.run_coroutine_threadsafe(self._keep_opening(first), self._loop)
        first.wait(timeout=self._timeout + 2.0)

    async def _keep_opening(self, first: threading.Event) -> None:
        delay = _RETRY_FIRST_S
        while not self._closed:
            try:
                await asyncio.wait_for(self._open(), timeout=self._timeout + 1.0)
                return
            except Exception as error:  # noqa: BLE001 - without the watch the ledger only reloads more
                event = (
                    "partnership_watch_retrying"
                    if first.is_set()
                    else "partnership_watch_unavailable"
                )
                (log.debug if first.is_set() else log.warning)(
                    event, error=type(error).__name__, retry_in_s=delay
                )
                await self._discard()
            finally:
                first.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_S)

    async def _discard(self) -> None:
        """Close a connection that was made but did not subscribe, before trying again."""
        nc, self._nc = self._nc, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()

    async def _open(self) -> None:
        self._nc = await self._connect(
            disconnected_cb=self._disconnected,
            reconnected_cb=self._resubscribed,
            error_cb=self._error,
        )
        await self._nc.subscribe(self._filter, cb=self._message)
        await self._nc.flush(timeout=max(1, round(self._timeout)))
        # A refusal of the subscription arrives as -ERR before the flush's PONG; let its
        # error callback run before saying the watch is live.
        await asyncio.sleep(0)
        if not self._closed and self._nc.is_connected and not self._refused:
            self._on_change(None)
            self._live = True

    _refused = False

    async def _message(self, msg: Msg) -> None:
        self._on_change(msg.subject[self._cut :])

    async def _disconnected(self) -> None:
        self._live = False

    async def _resubscribed(self) -> None:
        # nats-py sends the subscription again on reconnecting, before this runs; the
        # flush makes sure the server has it before anything cached is trusted again.
        nc = self._nc
        if nc is None or self._refused:
            return
        with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
            await nc.flush(timeout=max(1, round(self._timeout)))
            self._on_change(None)
            self._live = True

    async def _error(self, error: Exception) -> None:
        text = str(error).lower()
        if "permissions violation" in text and "subscription" in text:
            self._refused = True
            self._live = False
            log.warning("partnership_watch_refused", subject_filter=self._filter)
            return
        self._live = False
        if isinstance(error, OSError | TimeoutError | nats.errors.ConnectionClosedError):
            # the connection is down (nats-py reports each reconnect attempt here): the
            # reconnect flushes and makes it live again (_resubscribed); nothing to say
            log.debug("partnership_watch_disconnected", error=type(error).__name__)
            return
        # Anything else (a slow consumer's dropped messages, a protocol error) may have cost
        # hints: not live until it has flushed again, then every partnership is dropped.
        log.warning("partnership_watch_error", error=type(error).__name__)
        await self._resubscribed()

    def stop(self) -> None:
        """Close the connection and the loop (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._live = False
        if not self._thread.is_alive():
            return
        if self._opening is not None:
            self._opening.cancel()

        async def close() -> None:
            # Read on the loop, after the cancelled opening has ended: it may have made a
            # connection since stop() began.
            await asyncio.sleep(0)
            nc, self._nc = self._nc, None
            if nc is not None:
                with contextlib.suppress(Exception):
                    await nc.close()

        future: Any = asyncio.run_coroutine_threadsafe(close(), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout=self._timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=self._timeout)
        if not self._thread.is_alive():
            self._loop.close()
