"""``make bench``: the write path, the views, the service and its pages, each against its
baseline, in one run.

Eight suites (``BENCH_SUITES=write,views,delivery,api,pages,proofs,signing,verify`` by
default; a suite left out keeps its figures from the last run): the write path against
raw JetStream and eventsourcing's SQLite, the views (:mod:`bench._views`: rebuild against
a raw read of the same stream, and as-of chronology queries), delivery to the agencies
(:mod:`bench._delivery`) and the HTTP API of ``ledger serve`` (:mod:`bench._api`:
commands against ``Ledger`` in process, the chronology route against a bare Litestar
app, the service's memory after 100,000 requests) and the dashboard page
(:mod:`bench._pages`: served end to end against the API's JSON for the same questions),
the Merkle tree file at a million leaves (:mod:`bench._proofs`: inclusion proofs), what
signatures, chaining and checkpoints cost the write path (:mod:`bench._signing`) and
``ledger verify`` (:mod:`bench._verify`: against the raw batched read of the same stream).

All figures come from one process tree against the embedded nats-server as the
ledger runs it (``sync_interval: always``: each write is on disk before it is
acknowledged), in interleaved rounds (raw, ledger, sqlite, pipelined raw,
concurrent ledger, ...) so that a noisy neighbour hurts every contender alike.
The write suite also runs a second server with nats-server's default sync
interval (two minutes) and measures raw publishes and ledger appends on it in the
same rounds, so the cost of syncing before acknowledging is a ratio too
(``sync_always_cost_ratio``: appends per second with sync always over appends per
second with the default). Each ratio is taken
within a round and the median of the rounds is reported: the machines are
shared, and whole rounds run 30 % faster or slower together. Targets are
ratios (see docs/operations.md), never absolute times. ``BENCH_QUICK=1`` runs
small rounds that finish within a minute.

Results go to ``bench/results.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from rich.console import Console
from rich.table import Table

from bench import _workload as w
from bench._api import api_suite
from bench._concurrent import concurrent_append
from bench._delivery import delivery_suite
from bench._pages import pages_suite
from bench._proofs import proofs_suite
from bench._signing import signing_suite
from bench._verify import verify_suite
from bench._views import views_suite
from ledger.application import Ledger
from runtime.access import SYNC_ALWAYS
from runtime.embedded import EmbeddedNats

RESULTS = Path(__file__).with_name("results.json")
#: nats-server's own default, which the embedded server used before it synced always.
SYNC_DEFAULT = "2m"
WRITERS = 8
CASES = 64
DEFAULT_SUITES = "write,views,delivery,api,pages,proofs,signing,verify"


def _rate(n: int, fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


# -- raw nats-py ---------------------------------------------------------------


async def _raw_stream(js: Any, name: str) -> None:
    from nats.js.api import StorageType, StreamConfig

    await js.add_stream(
        StreamConfig(
            name=name,
            subjects=[f"{name.lower()}.>"],
            storage=StorageType.FILE,
            deny_delete=True,
            deny_purge=True,
            allow_direct=True,
            duplicate_window=120,
        )
    )


async def _raw_sequential(js: Any, subject: str, payload: bytes, n: int) -> None:
    for i in range(n):
        await js.publish(f"{subject}.{i % CASES}", payload)


async def _raw_pipelined(js: Any, subject: str, payload: bytes, n: int) -> None:
    async def writer(k: int) -> None:
        for i in range(n // WRITERS):
            await js.publish(f"{subject}.{k}.{i % CASES}", payload)

    await asyncio.gather(*(writer(k) for k in range(WRITERS)))


def _ledger_round(ledger: Ledger, cases: list[str], n: int) -> None:
    for i in range(n):
        w.record_visit(ledger, cases[i % len(cases)])


def _threads_in_process(ledger: Ledger, n: int, groups: list[list[str]]) -> float:
    def run(group: list[str]) -> None:
        for i in range(n // WRITERS):
            w.record_visit(ledger, group[i % len(group)])

    workers = [threading.Thread(target=run, args=(g,)) for g in groups]
    t0 = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return (n // WRITERS) * WRITERS / (time.perf_counter() - t0)


def main() -> int:
    quick = os.environ.get("BENCH_QUICK") == "1"
    suites = set(os.environ.get("BENCH_SUITES", DEFAULT_SUITES).split(","))
    console = Console()
    w.quiet_logs()
    # A suite that is not run keeps its figures from the last run that did.
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    # ``BENCH_SYNC_INTERVAL=2m`` runs the main server as before syncing always, to see
    # what the sync costs a suite that has no in-run baseline for it (delivery).
    sync = os.environ.get("BENCH_SYNC_INTERVAL", SYNC_ALWAYS)
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedNats(Path(tmp) / "nats", sync_interval=sync) as server,
    ):
        if "write" in suites:
            with EmbeddedNats(Path(tmp) / "nats-default", sync_interval=SYNC_DEFAULT) as default:
                results.update(
                    _write_suite(server.url, default.url, tmp, quick=quick, console=console)
                )
        if "views" in suites:
            results.update(views_suite(server.url, Path(tmp), quick=quick, console=console))
        if "delivery" in suites:
            results.update(delivery_suite(server.url, Path(tmp), quick=quick, console=console))
        if "api" in suites:
            results.update(api_suite(server.url, Path(tmp), quick=quick, console=console))
        if "pages" in suites:
            results.update(pages_suite(server.url, Path(tmp), quick=quick, console=console))
        if "proofs" in suites:
            results.update(proofs_suite(Path(tmp), quick=quick, console=console))
        if "signing" in suites:
            results.update(
                signing_suite(
                    server.url, Path(tmp), quick=quick, console=console, server_pid=server.pid
                )
            )
        if "verify" in suites:
            results.update(verify_suite(server.url, Path(tmp), quick=quick, console=console))
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    table = Table(title="make bench (medians of rounds)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in results.items():
        if not key.startswith("meta"):
            table.add_row(key, f"{value:,}")
    console.print(table)
    console.print(f"written to {RESULTS}")
    return 0


def _write_suite(
    url: str, default_url: str, tmp: str, *, quick: bool, console: Console
) -> dict[str, Any]:
    """The write path against raw JetStream and eventsourcing's SQLite; and both the
    ledger and raw publishes again on a server with the default sync interval."""
    n = 600 if quick else 3000
    rounds = 2 if quick else 5
    payload = w.raw_payload()
    loop = asyncio.new_event_loop()
    nc = loop.run_until_complete(nats.connect(url))
    js = nc.jetstream()
    loop.run_until_complete(_raw_stream(js, "RAW"))
    nc_default = loop.run_until_complete(nats.connect(default_url))
    js_default = nc_default.jetstream()
    loop.run_until_complete(_raw_stream(js_default, "RAW"))

    on_nats = w.ledger_on_nats(url, "BENCH")
    on_default = w.ledger_on_nats(default_url, "BENCH")
    on_sqlite = Ledger(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{tmp}/es.db"}
    )
    cases: dict[str, list[str]] = {}
    for name, ledger in (("nats", on_nats), ("default", on_default), ("sqlite", on_sqlite)):
        w.setup_partnership(ledger)
        cases[name] = w.open_cases(ledger, "c", CASES)
        for case in cases[name]:
            w.record_visit(ledger, case)
    loop.run_until_complete(_raw_sequential(js, "raw.warm", payload, 200))
    loop.run_until_complete(_raw_sequential(js_default, "raw.warm", payload, 200))

    def in_loop(coro: Any) -> Callable[[], None]:
        return lambda: loop.run_until_complete(coro)

    processes = max(2, min(os.cpu_count() or 2, 4))
    groups = [cases["nats"][k::WRITERS] for k in range(WRITERS)]
    rows: list[dict[str, float]] = []
    for r in range(rounds):
        row = {
            "raw": _rate(n, in_loop(_raw_sequential(js, f"raw.r{r}", payload, n))),
            "ledger": _rate(n, lambda: _ledger_round(on_nats, cases["nats"], n)),
            "raw_default": _rate(n, in_loop(_raw_sequential(js_default, f"raw.r{r}", payload, n))),
            "ledger_default": _rate(n, lambda: _ledger_round(on_default, cases["default"], n)),
            "sqlite": _rate(n, lambda: _ledger_round(on_sqlite, cases["sqlite"], n)),
            "piped": _rate(n, in_loop(_raw_pipelined(js, f"raw.p{r}", payload, n))),
            "concurrent": concurrent_append(url, "BENCH", processes, WRITERS, n * 2),
            "threads": _threads_in_process(on_nats, n, groups),
        }
        rows.append(row)
        console.log(
            f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {v:.0f}/s" for k, v in row.items())
        )

    def median(key: str) -> float:
        return statistics.median(row[key] for row in rows)

    def ratio(top: str, bottom: str) -> float:
        # Per round, so both sides saw the same machine; then the median.
        return statistics.median(row[top] / row[bottom] for row in rows)

    results: dict[str, Any] = {
        "raw_publish_per_s": round(median("raw"), 1),
        "ledger_append_per_s": round(median("ledger"), 1),
        "sqlite_append_per_s": round(median("sqlite"), 1),
        "append_ratio_vs_raw_publish": round(ratio("ledger", "raw"), 3),
        "append_per_s_sync_always": round(median("ledger"), 1),
        "append_per_s_sync_default": round(median("ledger_default"), 1),
        "sync_always_cost_ratio": round(ratio("ledger", "ledger_default"), 3),
        "raw_publish_per_s_sync_default": round(median("raw_default"), 1),
        "raw_sync_always_cost_ratio": round(ratio("raw", "raw_default"), 3),
        "append_ratio_vs_raw_publish_sync_default": round(
            ratio("ledger_default", "raw_default"), 3
        ),
        "append_ratio_vs_sqlite": round(ratio("ledger", "sqlite"), 3),
        "raw_pipelined_per_s": round(median("piped"), 1),
        "concurrent_append_per_s": round(median("concurrent"), 1),
        "concurrent_ratio_vs_raw_pipelined": round(ratio("concurrent", "piped"), 3),
        "concurrent_append_threads_one_process_per_s": round(median("threads"), 1),
        "meta": {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "method": "rates are medians of rounds; ratios are medians of per-round ratios",
            "sync_interval": SYNC_ALWAYS,
            "sync_interval_default_server": SYNC_DEFAULT,
            "quick": quick,
            "commands_per_round": n,
            "rounds": rounds,
            "writers": WRITERS,
            "writer_processes": processes,
            "payload_bytes": len(payload),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "per_round": [{k: round(v, 1) for k, v in row.items()} for row in rows],
        },
    }
    on_nats.close()
    on_default.close()
    on_sqlite.close()
    loop.run_until_complete(nc.close())
    loop.run_until_complete(nc_default.close())
    loop.close()
    return results


if __name__ == "__main__":
    sys.exit(main())
