"""The one bridge between eventsourcing's synchronous calls and nats-py's asyncio client.

A :class:`DriverPool` holds *drivers*: an asyncio event loop with its own NATS
connection. A synchronous caller borrows a driver for one call and runs the
coroutine on it with ``run_until_complete`` in its own thread. Measured on these
machines, that costs ~13 µs a call, where handing the coroutine to a loop that
lives on another thread (``run_coroutine_threadsafe``) costs 70-120 µs and would
put the write path at ~0.65 of a raw publish before any domain work. Several
threads borrow several drivers, so concurrent writers each have a connection.

A loop that only runs during calls does not answer the server's PINGs while it
is idle, so a keep-alive thread borrows each idle driver every few seconds and
flushes it (a PING/PONG), which also lets nats-py notice a lost connection.

Each driver may also carry a :class:`~ledger.nats._syncwire.SyncWire`, a blocking
socket for the write path's publish-and-ack, which needs no event loop at all.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import structlog
from nats.aio.client import Client

from ledger.nats._syncwire import SyncWire

__all__ = ["Driver", "DriverPool"]

log = structlog.get_logger()

T = TypeVar("T")


class Driver:
    """An event loop with the NATS connection that lives on it, and a synchronous
    publisher (:mod:`ledger.nats._syncwire`) for the write path when the URL allows one."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, nc: Client, wire: SyncWire | None = None
    ) -> None:
        self.loop = loop
        self.nc = nc
        self.wire = wire

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this driver's loop (from a thread with no running loop)."""
        result: T = _outside_running_loop(self.loop.run_until_complete, coro)
        return result

    def close(self) -> None:
        if self.wire is not None:
            self.wire.close()
        try:
            self.loop.run_until_complete(self.nc.close())
        # nats-py may cancel its own waits when closing a connection the server dropped.
        except (Exception, asyncio.CancelledError) as e:  # noqa: BLE001 - closing a broken connection must not raise
            log.debug("nats_close_failed", error=repr(e))
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


class DriverPool:
    """A thread-safe pool of drivers, created on demand up to ``max_size``."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Client]],
        *,
        wire: Callable[[], SyncWire] | None = None,
        reader_wire: Callable[[], SyncWire] | None = None,
        max_size: int = 32,
        keepalive_interval: float = 15.0,
    ) -> None:
        self._wire = wire
        #: A new synchronous connection for one reader's own (None: the URL allows none).
        self.reader_wire = reader_wire
        #: How a new connection is made; a long-lived subscription makes its own.
        self.connect = connect
        self._max_size = max_size
        self._idle: list[Driver] = []
        self._all: list[Driver] = []
        self._cond = threading.Condition()
        self._closed = False
        #: Called when the pool closes (long-lived subscriptions register their stop).
        self.on_close: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._keepalive_interval = keepalive_interval
        self._keepalive = threading.Thread(
            target=self._keep_alive, name="ledger-nats-keepalive", daemon=True
        )
        self._keepalive.start()

    def run(self, fn: Callable[[Client], Coroutine[Any, Any, T]]) -> T:
        """Run ``fn(connection)`` to completion on a borrowed driver and return its result."""
        with self.borrow() as driver:
            return driver.run(fn(driver.nc))

    @contextmanager
    def borrow(self) -> Iterator[Driver]:
        """A driver of this thread's own until the block ends."""
        driver = self._acquire()
        try:
            yield driver
        finally:
            self._release(driver)

    def _acquire(self) -> Driver:
        with self._cond:
            while True:
                if self._closed:
                    msg = "the NATS driver pool is closed"
                    raise RuntimeError(msg)
                if self._idle:
                    return self._idle.pop()
                if len(self._all) < self._max_size:
                    break
                self._cond.wait()
        # Connect outside the lock: it may take a while.
        loop = asyncio.new_event_loop()
        try:
            nc = _outside_running_loop(loop.run_until_complete, self.connect())
        except BaseException:
            loop.close()
            raise
        driver = Driver(loop, nc, self._wire() if self._wire is not None else None)
        with self._cond:
            self._all.append(driver)
        return driver

    def _release(self, driver: Driver) -> None:
        with self._cond:
            if not self._closed:
                self._idle.append(driver)
                self._cond.notify()
                return
        _outside_running_loop(driver.close)

    def _keep_alive(self) -> None:
        pinged_wires: set[int] = set()
        while not self._stop.wait(self._keepalive_interval):
            with self._cond:
                count = len(self._idle)
            pinged_wires.clear()
            for _ in range(count):
                # One at a time from the front (callers take from the back), so callers
                # are never left without an idle driver and made to open new ones.
                with self._cond:
                    if not self._idle or self._closed:
                        break
                    driver = self._idle.pop(0)
                try:
                    driver.run(driver.nc.flush(timeout=2))
                    if driver.wire is not None and id(driver.wire) not in pinged_wires:
                        pinged_wires.add(id(driver.wire))  # drivers share one write wire
                        driver.wire.ping()
                except Exception as e:  # noqa: BLE001 - a failed ping is logged, the next call reconnects
                    log.warning("nats_keepalive_failed", error=repr(e))
                finally:
                    self._release(driver)

    def close(self) -> None:
        """Stop the subscriptions, close every connection; calls after this raise."""
        for stop in list(self.on_close):  # each stop() removes itself
            stop()
        with self._cond:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        self._stop.set()
        self._keepalive.join(timeout=5)
        for driver in idle:
            _outside_running_loop(driver.close)


def _outside_running_loop(fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn(*args)``, on a helper thread if this thread already runs an event loop.

    A loop cannot be run from inside a running one (an async test, an async web
    handler calling the synchronous application), so such calls hop once.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-nats") as pool:
        return pool.submit(fn, *args).result()
