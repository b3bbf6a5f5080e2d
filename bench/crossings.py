"""Where the NATS store crosses between synchronous and asyncio code, each against its
alternatives: ``.venv/bin/python -m bench.crossings`` (about a minute).

eventsourcing calls the store synchronously; nats-py is asyncio. The store crosses
in four places (docs/architecture.md, "Sync meets asyncio"), and this measures each
one side by side with what it could be instead, in interleaved rounds on one
embedded nats-server (``sync_interval: always``, as the ledger runs it), reporting
medians:

* **publish and ack** (the write path): the hand-written blocking socket
  (``_syncwire``) against nats-py on a loop the caller borrows
  (``run_until_complete``: the driver pool, with and without the pool's borrowing)
  and nats-py on a loop living on its own thread (``run_coroutine_threadsafe``);
  once on the ledger's server, and once (``*_nosync``) on a second server with
  nats-server's default sync interval, where no disk sync hides the crossing's cost;
* **catching up** (a rebuild): ``read_batches`` (a loop and connection of the
  reader's own, batched direct gets) against ``select_notifications`` pages (the
  driver pool);
* **a loop per read**: what a ``read_batches`` call costs before its first event
  (a small read) against a ``select_notifications`` call of the same size;
* **following** (a subscription): ``subscribe()`` (a reader thread and a queue)
  against ``read_batches`` following on the caller's thread, in events per second
  caught up and in the median time from a save to its notification;
* **header parsing**: ``_natsclient.parse_header_lines`` against nats-py's own
  parser, per header block of a ledger message.

Prints a table and writes ``bench/crossings.json``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import threading
import time
import timeit
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js.api import StorageType, StreamConfig
from rich.console import Console
from rich.table import Table

from bench import _workload as w
from ledger.application import Ledger
from ledger.nats import _stream
from ledger.nats._natsclient import FastHeaderClient, parse_header_lines
from ledger.nats._recorders import NatsApplicationRecorder
from ledger.nats._syncwire import SyncWire
from runtime.embedded import EmbeddedNats

RESULTS = Path(__file__).with_name("crossings.json")
#: nats-server's own default sync interval (the write suite's second server uses it too).
SYNC_DEFAULT = "2m"
ROUNDS = 3
PUBLISHES = 800
EVENTS = 6000
SMALL_READS = 150
LATENCY_SAMPLES = 25


def _rate(n: int, fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(row[key] for row in rows)


# -- publish and ack -------------------------------------------------------------


class _Publishes:
    """One ledger-shaped message at a time to a stream of its own, four ways."""

    def __init__(self, url: str, pool: Any) -> None:
        self.url, self.pool = url, pool
        self.payload = w.raw_payload()
        self.count = 0
        self.wire = SyncWire(url, name="bench-crossings")
        self.borrowed = asyncio.new_event_loop()
        self.nc_borrowed = self.borrowed.run_until_complete(self._connect())
        self.borrowed.run_until_complete(self._stream(self.nc_borrowed))
        self.threaded = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.threaded.run_forever, daemon=True)
        self.thread.start()
        self.nc_threaded = self._on_thread(self._connect())

    async def _connect(self) -> NatsClient:
        nc = FastHeaderClient()
        await nc.connect(self.url)
        return nc

    @staticmethod
    async def _stream(nc: NatsClient) -> None:
        await nc.jetstream().add_stream(
            StreamConfig(name="XING", subjects=["xing.>"], storage=StorageType.FILE)
        )

    def _on_thread(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.threaded).result()

    def _msgs(self, n: int) -> Iterator[list[_stream.OutMsg]]:
        for _ in range(n):
            self.count += 1
            h = _stream.headers("XING", f"m-{self.count}", None, topic="VisitRecorded", version=1)
            yield [_stream.OutMsg(f"xing.p.case.c{self.count % 64}", self.payload, h)]

    def wire_rate(self, n: int) -> float:
        def run() -> None:
            for msgs in self._msgs(n):
                _stream.publish_sync(self.wire, "XING", msgs, 5.0)

        return _rate(n, run)

    def borrowed_rate(self, n: int) -> float:
        def run() -> None:
            for msgs in self._msgs(n):
                self.borrowed.run_until_complete(
                    _stream.publish(self.nc_borrowed, "XING", msgs, 5.0)
                )

        return _rate(n, run)

    def pool_rate(self, n: int) -> float:
        def run() -> None:
            for msgs in self._msgs(n):
                self.pool.run(lambda nc, m=msgs: _stream.publish(nc, "XING", m, 5.0))

        return _rate(n, run)

    def thread_rate(self, n: int) -> float:
        def run() -> None:
            for msgs in self._msgs(n):
                self._on_thread(_stream.publish(self.nc_threaded, "XING", msgs, 5.0))

        return _rate(n, run)

    def close(self) -> None:
        self.wire.close()
        self.borrowed.run_until_complete(self.nc_borrowed.close())
        self.borrowed.close()
        self._on_thread(self.nc_threaded.close())
        self.threaded.call_soon_threadsafe(self.threaded.stop)
        self.thread.join()
        self.threaded.close()


# -- reads -----------------------------------------------------------------------


def _read_batches(recorder: NatsApplicationRecorder, gt: int, until: int, size: int) -> int:
    return sum(len(b) for b in recorder.read_batches(gt=gt, until=until, size=size))


def _select_pages(recorder: NatsApplicationRecorder, gt: int, until: int, size: int) -> int:
    seen = 0
    while gt < until:
        page = recorder.select_notifications(start=gt + 1, limit=size, stop=until)
        if not page:
            break
        seen += len(page)
        gt = page[-1].id
    return seen


def _subscribed(recorder: NatsApplicationRecorder, gt: int, until: int) -> int:
    seen = 0
    with recorder.subscribe(gt=gt) as notifications:
        for n in notifications:
            seen += 1
            if n.id >= until:
                break
    return seen


def _followed(recorder: NatsApplicationRecorder, gt: int, until: int) -> int:
    seen, stop = 0, threading.Event()
    for batch in recorder.read_batches(gt=gt, until=None, size=1000, stop=stop):
        seen += len(batch)
        if batch and batch[-1].id >= until:
            stop.set()
    return seen


def _latency_ms(ledger: Ledger, case: str, follow: str) -> float:
    """Median milliseconds from a save's start to its notification reaching the follower."""
    recorder: NatsApplicationRecorder = ledger.recorder  # type: ignore[assignment]
    seen: list[float] = []
    arrived = threading.Event()
    stop = threading.Event()
    ready = threading.Event()
    start = recorder.max_notification_id() or 0

    def follower() -> None:
        if follow == "subscribe":
            with recorder.subscribe(gt=start) as notifications:
                ready.set()
                for _ in notifications:
                    seen.append(time.perf_counter())
                    arrived.set()
                    if stop.is_set():
                        return
        else:
            ready.set()
            for batch in recorder.read_batches(gt=start, until=None, size=1000, stop=stop):
                if batch:
                    seen.append(time.perf_counter())
                    arrived.set()

    thread = threading.Thread(target=follower, daemon=True)
    thread.start()
    ready.wait(10)
    time.sleep(0.1)
    delays = []
    for k in range(LATENCY_SAMPLES):
        arrived.clear()
        if k == LATENCY_SAMPLES - 1:
            stop.set()
        t0 = time.perf_counter()
        w.record_visit(ledger, case)
        arrived.wait(5)
        delays.append((seen[-1] - t0) * 1000)
    stop.set()
    thread.join(5)
    return statistics.median(delays)


# -- headers ---------------------------------------------------------------------


def _header_us() -> tuple[float, float]:
    h = _stream.headers("LEDGER", "m-0123456789abcdef", 41, topic="VisitRecorded", version=7)
    h["Nats-Stream"] = "LEDGER"
    h["Nats-Sequence"] = "123456"
    raw = b"".join(f"{k}: {v}\r\n".encode() for k, v in h.items()) + b"\r\n"
    stock = NatsClient._parse_header_lines
    assert stock is not FastHeaderClient._parse_header_lines
    assert stock(raw) == parse_header_lines(raw)
    n = 20_000
    ours = min(timeit.repeat(lambda: parse_header_lines(raw), number=n, repeat=5)) / n
    theirs = min(timeit.repeat(lambda: stock(raw), number=n, repeat=5)) / n
    return ours * 1e6, theirs * 1e6


# -- the run ---------------------------------------------------------------------


def main() -> int:
    console = Console()
    w.quiet_logs()
    results: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedNats(Path(tmp) / "nats") as server,
        EmbeddedNats(Path(tmp) / "nosync", sync_interval=SYNC_DEFAULT) as nosync,
    ):
        ledger = w.ledger_on_nats(server.url, "XLEDGER")
        recorder: NatsApplicationRecorder = ledger.recorder  # type: ignore[assignment]
        w.setup_partnership(ledger)
        cases = w.open_cases(ledger, "c", 64)
        for k in range(EVENTS):
            w.record_visit(ledger, cases[k % len(cases)])
        total = recorder.max_notification_id() or 0
        console.log(f"{total} events on the stream")

        other = w.ledger_on_nats(nosync.url, "XLEDGER")
        publishes = _Publishes(server.url, recorder.pool)
        unsynced = _Publishes(nosync.url, other.recorder.pool)  # type: ignore[attr-defined]
        for p in (publishes, unsynced):
            p.wire_rate(100)
            p.borrowed_rate(100)
            p.pool_rate(100)
            p.thread_rate(100)
        rows: list[dict[str, float]] = []
        for r in range(ROUNDS):
            row = {
                "publish_syncwire_per_s": publishes.wire_rate(PUBLISHES),
                "publish_borrowed_loop_per_s": publishes.borrowed_rate(PUBLISHES),
                "publish_driver_pool_per_s": publishes.pool_rate(PUBLISHES),
                "publish_loop_thread_per_s": publishes.thread_rate(PUBLISHES),
                "publish_syncwire_nosync_per_s": unsynced.wire_rate(PUBLISHES),
                "publish_borrowed_loop_nosync_per_s": unsynced.borrowed_rate(PUBLISHES),
                "publish_driver_pool_nosync_per_s": unsynced.pool_rate(PUBLISHES),
                "publish_loop_thread_nosync_per_s": unsynced.thread_rate(PUBLISHES),
                "catch_up_read_batches_per_s": _rate(
                    total, lambda: _read_batches(recorder, 0, total, 1000)
                ),
                "catch_up_select_pages_per_s": _rate(
                    total, lambda: _select_pages(recorder, 0, total, 1000)
                ),
                "catch_up_subscribe_per_s": _rate(total, lambda: _subscribed(recorder, 0, total)),
                "catch_up_follow_read_batches_per_s": _rate(
                    total, lambda: _followed(recorder, 0, total)
                ),
                "small_read_batches_per_s": _rate(
                    SMALL_READS,
                    lambda: [
                        _read_batches(recorder, k * 10, k * 10 + 10, 10) for k in range(SMALL_READS)
                    ],
                ),
                "small_select_per_s": _rate(
                    SMALL_READS,
                    lambda: [
                        _select_pages(recorder, k * 10, k * 10 + 10, 10) for k in range(SMALL_READS)
                    ],
                ),
            }
            rows.append(row)
            console.log(f"round {r + 1}: " + ", ".join(f"{k}={v:,.0f}" for k, v in row.items()))
        publishes.close()
        unsynced.close()
        other.close()
        results.update({key: round(_median(rows, key)) for key in rows[0]})
        results["follow_latency_subscribe_ms"] = round(
            _latency_ms(ledger, cases[0], "subscribe"), 2
        )
        results["follow_latency_read_batches_ms"] = round(
            _latency_ms(ledger, cases[1], "read_batches"), 2
        )
        ledger.close()
    ours, theirs = _header_us()
    results["header_parse_ours_us"] = round(ours, 2)
    results["header_parse_nats_py_us"] = round(theirs, 2)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    table = Table(title="bench.crossings (medians of rounds)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in results.items():
        table.add_row(key, f"{value:,}")
    console.print(table)
    console.print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
