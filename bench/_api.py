"""The api suite of ``make bench``: the HTTP API of a real ``ledger serve`` against its baselines.

The service under test is ``ledger serve`` as a subprocess (its views and delivery
workers running, in its child process) on loopback, on the benchmark's embedded nats-server
(``sync_interval: always``, as the product runs it; reached by ``NATS_URL``, so the
embedded server's users are not enforced) and a stream of its own. The clients are
one separate process (:func:`_client`): an event loop holding 16 keep-alive
connections, driven over a pipe, each request prebuilt as bytes (:mod:`bench._http1`:
httpx's own CPU, about a millisecond a request, capped the first measurements at the
client's ~400 requests a second on this machine). One process, as one busy front end
would be; on a 2-core machine that client's CPU still competes with the server's (and
with the nats-server's), which the ratios include: ``meta_api`` says so.

* ``api_write_ratio_vs_python``: ``RecordAction`` commands per second POSTed by 16
  concurrent clients, over the same command through :class:`~ledger.application.Ledger`
  by 16 threads of one process (this one) on the same stream, in interleaved rounds.
* ``api_chronology_ratio_vs_bare``: p95 of GETting a 1,000-event case's chronology as
  JSON (the real route: the board's token, the views, the access log recording each
  read), one request at a time on one keep-alive connection, over the p95 of a bare
  Litestar app on the same uvicorn settings returning the same bytes, interleaved.
  ``api_chronology_access_log_p95_ms`` is the p95 of the access-log record alone
  (:meth:`runtime.access_log.AccessLog.record`, one synced publish and its ack), made
  from this process in the same rounds: the floor of a route that answers a read only
  once its record is acknowledged.
* ``api_rss_growth``: the resident memory of a fresh ``ledger serve`` (on the same
  data) after 100,000 requests of a mix (lists, chronologies, one case, some POSTs),
  over the same after its first 1,000 (the issue's measure).
  ``api_rss_growth_after_warmup`` divides by the RSS after a warm-up of 10,000 requests
  instead: what the service needs to reach its steady size (its worker threads' SQLite
  connections and page caches, the aggregate cache, the allocator's arenas). Measured, a
  fresh service grew ~6.7 MB in its first 10,000 requests with or without POSTs, then
  ~0.7 MB in the next 20,000 without POSTs and ~1.9 MB with them (the data: the POSTs
  lengthen the chronologies).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar, MediaType, Response, get
from rich.console import Console

from bench import _workload as w
from bench._http1 import Connection, request
from ledger.application import Ledger
from runtime.access_log import AccessLog
from runtime.settings import Settings
from runtime.tokens import Role, TokenStore

STREAM = "APIBENCH"
PREFIX = "apibench"
CLIENTS = 16
CASES = 64
BIG_EVENTS = 1000
LEDGER_BIN = str(Path(sys.executable).with_name("ledger"))
SERVE_START_S = 120.0
_COMMAND = "/commands/RecordAction"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _visit_body(case: str) -> dict[str, Any]:
    """The body of ``POST /commands/RecordAction``: the command of :func:`w.record_visit`."""
    return {
        "partnership": w.PARTNERSHIP,
        "case": case,
        "action": "home_visit",
        "child": w.CHILD,
        "seen": True,
        "seen_alone": True,
        "note": w.NOTE,
    }


# -- the client process ---------------------------------------------------------


def _client(port: int, agency: str, board: str, conn: Any) -> None:
    """Serve jobs sent over ``conn`` on 16 keep-alive connections; answer each result."""

    async def main() -> None:
        pool = [await Connection.open(port) for _ in range(CLIENTS)]
        try:
            while True:
                job = await asyncio.to_thread(conn.recv)
                if job[0] == "stop":
                    return
                conn.send(await _JOBS[job[0]](pool, agency, board, *job[1:]))
        finally:
            for c in pool:
                c.close()

    asyncio.run(main())


def _check(kind: str, status: int, body: bytes) -> None:
    if status not in (200, 201):
        raise RuntimeError(f"{kind} answered {status}: {body[:300]!r}")


async def _posts(
    pool: list[Connection], agency: str, board: str, cases: list[str], n: int
) -> float:
    """``n`` POSTs by 16 concurrent connections, each on its own cases; commands per second."""
    per = n // CLIENTS

    async def one(c: Connection, group: list[str]) -> None:
        raws = [request("POST", _COMMAND, agency, _visit_body(case)) for case in group]
        for i in range(per):
            _check("POST", *await c.send(raws[i % len(raws)]))

    t0 = time.perf_counter()
    await asyncio.gather(*(one(c, cases[k::CLIENTS]) for k, c in enumerate(pool)))
    return per * CLIENTS / (time.perf_counter() - t0)


async def _latencies(
    pool: list[Connection], agency: str, board: str, port: int, target: str, n: int
) -> list[float]:
    """``n`` GETs of ``target`` at ``port`` one at a time on one connection; each one's ms."""
    c = await Connection.open(port)
    raw = request("GET", target, board)
    out = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            status, body = await c.send(raw)
            out.append((time.perf_counter() - t0) * 1000)
            _check(f"GET {target}", status, body)
    finally:
        c.close()
    return out


async def _mix(
    pool: list[Connection], agency: str, board: str, cases: list[str], big: str, n: int
) -> dict[str, int]:
    """``n`` requests of the service's everyday mix on 16 connections; counts by kind."""
    p = f"/partnerships/{w.PARTNERSHIP}"
    counts: dict[str, int] = {}
    queue = iter(range(n))

    def build(i: int) -> tuple[str, bytes]:
        case = cases[i % len(cases)]
        slot = i % 10
        if i % 100 == 99:
            return "big_chronology", request("GET", f"{p}/cases/{big}/chronology", board)
        if slot in (0, 1, 2):
            return "cases", request("GET", f"{p}/cases", board)
        if slot == 3:
            return "agencies", request("GET", f"{p}/agencies", board)
        if slot == 4:
            return "case", request("GET", f"{p}/cases/{case}", board)
        if slot in (5, 6, 7):
            return "chronology", request("GET", f"{p}/cases/{case}/chronology", board)
        if slot == 8:
            return "challenges", request("GET", f"{p}/challenges", board)
        return "post", request("POST", _COMMAND, agency, _visit_body(case))

    async def one(c: Connection) -> None:
        for i in queue:
            kind, raw = build(i)
            _check(kind, *await c.send(raw))
            counts[kind] = counts.get(kind, 0) + 1

    await asyncio.gather(*(one(c) for c in pool))
    return counts


_JOBS: dict[str, Any] = {"posts": _posts, "latencies": _latencies, "mix": _mix}


# -- the servers ----------------------------------------------------------------


def _bare(port: int, body: bytes) -> None:
    """A bare Litestar app returning ``body`` as JSON, on uvicorn with serve's settings."""
    import uvicorn

    @get("/bare", sync_to_thread=False)
    def bare() -> Response[bytes]:
        return Response(body, media_type=MediaType.JSON)

    config = uvicorn.Config(
        Litestar([bare]),
        host="127.0.0.1",
        port=port,
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
    )
    uvicorn.Server(config).run()


@contextmanager
def _served(
    env: dict[str, str], log: Path, *args: str
) -> Iterator[tuple[subprocess.Popen[bytes], str, int]]:
    """``ledger serve`` on a free port, until its views have caught up; its process and URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [LEDGER_BIN, "serve", *args],
            env={**env, "LEDGER_HTTP_PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        _wait_caught_up(url, process, views="--no-workers" not in args)
        yield process, url, port
    finally:
        process.terminate()
        process.wait(60)


def _wait_caught_up(url: str, process: subprocess.Popen[bytes], *, views: bool) -> None:
    """Until /ready says 200 with the views at the stream's last sequence (``views``), or
    /health answers."""
    deadline = time.monotonic() + SERVE_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("ledger serve exited early (see its log in the bench's tmp dir)")
        try:
            r = httpx.get(f"{url}/ready" if views else f"{url}/health", timeout=5)
            body = r.json()
            if r.status_code == 200 and (body.get("lag") == 0 or not views):
                return
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError("ledger serve's views did not catch up")


def _rss_kb(pid: int) -> int:
    """The resident memory of process ``pid`` and its children (``ledger serve`` runs its
    views and delivery workers in a child process)."""
    return sum(_rss_by_process(pid).values())


def _rss_by_process(pid: int) -> dict[str, int]:
    """The resident memory (kB) of process ``pid`` and of each of its descendants, by
    ``<pid>:<name>`` (which of them grows)."""
    found: dict[str, int] = {}
    rss = None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    if rss is None:
        raise RuntimeError(f"no VmRSS for process {pid}")
    name = Path(f"/proc/{pid}/comm").read_text().strip()
    found[f"{pid}:{name}"] = rss
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        with contextlib.suppress(OSError, RuntimeError):  # one that just ended
            found.update(_rss_by_process(int(child)))
    return found


# -- the Python baseline ----------------------------------------------------------


def _threads(ledger: Ledger, cases: list[str], n: int) -> float:
    """``n`` commands through ``ledger`` by 16 threads, each on its own cases; per second."""
    per = n // CLIENTS

    def run(group: list[str]) -> None:
        for i in range(per):
            w.record_visit(ledger, group[i % len(group)])

    workers = [threading.Thread(target=run, args=(cases[k::CLIENTS],)) for k in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return per * CLIENTS / (time.perf_counter() - t0)


def _records(access: AccessLog, case: str, token: str, n: int) -> list[float]:
    """``n`` access-log records of a read of ``case``'s chronology, one at a time; each
    one's ms."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        access.record(
            partnership=w.PARTNERSHIP,
            case=case,
            query="chronology",
            role="board",
            agency="la-bench",
            token=token,
            as_of=None,
        )
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def api_suite(url: str, tmp: Path, *, quick: bool, console: Console) -> dict[str, Any]:
    """Write rate, chronology p95 and memory growth of ``ledger serve`` (see the module)."""
    n = 800 if quick else 3200
    rounds = 2 if quick else 5
    gets = 40 if quick else 200
    rss_total = 10_000 if quick else 100_000
    rss_first = 1000
    rss_warm = 2000 if quick else 10_000
    data = tmp / "api-data"
    settings = Settings(nats_url=url, stream=STREAM, subject_prefix=PREFIX, timeout_s=10)
    ledger = Ledger(env=settings.persistence_env(url))
    w.setup_partnership(ledger)
    http_cases = w.open_cases(ledger, "h", CASES)
    py_cases = w.open_cases(ledger, "b", CASES)
    big = w.open_cases(ledger, "big", 1)[0]
    for case in http_cases + py_cases:
        w.record_visit(ledger, case)
    for _ in range(BIG_EVENTS - 1):
        w.record_visit(ledger, big)
    tokens = TokenStore(data)
    agency, _ = tokens.issue(Role.AGENCY, w.PARTNERSHIP, agency="la-bench", actor="act_benchmark01")
    board, board_record = tokens.issue(
        Role.BOARD, w.PARTNERSHIP, agency="la-bench", actor="act_benchboard1"
    )
    env = {
        **os.environ,
        "LEDGER_DATA_DIR": str(data),
        "NATS_URL": url,
        "NATS_STREAM": STREAM,
        "NATS_SUBJECT_PREFIX": PREFIX,
        "LEDGER_LOG_JSON": "1",
        "LEDGER_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
    }
    log = tmp / "api-serve.log"
    ctx = mp.get_context("spawn")
    chronology = f"/partnerships/{w.PARTNERSHIP}/cases/{big}/chronology"
    rows: list[dict[str, float]] = []
    with _served(env, log) as (service, base, port):
        answer = httpx.get(
            f"{base}{chronology}", headers={"Authorization": f"Bearer {board}"}, timeout=60
        )
        if answer.status_code != 200:
            raise RuntimeError(f"the chronology answered {answer.status_code}: {answer.text}")
        body = answer.content
        ours, theirs = ctx.Pipe()
        client = ctx.Process(target=_client, args=(port, agency, board, theirs))
        client.start()

        def ask(*job: Any) -> Any:
            ours.send(job)
            return ours.recv()

        bare_port = _free_port()
        bare = ctx.Process(target=_bare, args=(bare_port, body))
        bare.start()
        bare_url = f"http://127.0.0.1:{bare_port}/bare"  # to wait for it
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(bare_url, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            ask("posts", http_cases, CLIENTS * 8)  # warm the connections and the caches
            _threads(ledger, py_cases, CLIENTS * 8)
            ask("latencies", port, chronology, 5)
            ask("latencies", bare_port, "/bare", 5)
            access = AccessLog.of(ledger, stream=STREAM, subject_prefix=PREFIX)
            _records(access, big, board_record.id, 5)
            for r in range(rounds):
                # The GETs start once the views have applied the last round's writes:
                # catching up is the service's own work on its GIL, which the bare app
                # has none of (delivery may still be catching up: /ready does not say).
                _wait_caught_up(base, service, views=True)
                chron = ask("latencies", port, chronology, gets)
                flat = ask("latencies", bare_port, "/bare", gets)
                records = _records(access, big, board_record.id, gets)
                row = {
                    "http": ask("posts", http_cases, n),
                    "python": _threads(ledger, py_cases, n),
                    "chronology_p95_ms": _p95(chron),
                    "bare_p95_ms": _p95(flat),
                    "access_log_p95_ms": _p95(records),
                    "chronology_p50_ms": statistics.median(chron),
                    "bare_p50_ms": statistics.median(flat),
                }
                rows.append(row)
                console.log(
                    f"api round {r + 1}/{rounds}: "
                    + ", ".join(f"{k} {v:.1f}" for k, v in row.items())
                )
        finally:
            ours.send(("stop",))
            client.join(60)
            bare.terminate()
            bare.join(30)
    ledger.close()

    # Memory: a fresh service on the same data: its first 1,000 requests, the rest of
    # its warm-up, then the measured requests.
    with _served(env, log) as (service, base, port):
        ours, theirs = ctx.Pipe()
        client = ctx.Process(target=_client, args=(port, agency, board, theirs))
        client.start()
        try:
            ours.send(("mix", http_cases, big, rss_first))
            first_counts = ours.recv()
            by_process_first = _rss_by_process(service.pid)
            rss_after_first = sum(by_process_first.values())
            ours.send(("mix", http_cases, big, rss_warm - rss_first))
            warm_counts = ours.recv()
            rss_after_warm = _rss_kb(service.pid)
            t0 = time.perf_counter()
            ours.send(("mix", http_cases, big, rss_total))
            rest_counts = ours.recv()
            mix_seconds = time.perf_counter() - t0
            by_process_total = _rss_by_process(service.pid)
            rss_after_total = sum(by_process_total.values())
        finally:
            ours.send(("stop",))
            client.join(60)
    counts = {
        k: first_counts.get(k, 0) + warm_counts.get(k, 0) + rest_counts.get(k, 0)
        for k in rest_counts
    }
    console.log(
        f"api rss: {rss_after_first:,} kB after {rss_first:,} requests,"
        f" {rss_after_warm:,} kB after the {rss_warm:,} of the warm-up,"
        f" {rss_after_total:,} kB after {rss_total:,} more ({mix_seconds:.0f} s)"
    )

    def median(key: str) -> float:
        return statistics.median(row[key] for row in rows)

    def ratio(top: str, bottom: str) -> float:
        return statistics.median(row[top] / row[bottom] for row in rows)

    return {
        "api_write_per_s": round(median("http"), 1),
        "api_python_write_per_s": round(median("python"), 1),
        "api_write_ratio_vs_python": round(ratio("http", "python"), 3),
        "api_chronology_p95_ms": round(median("chronology_p95_ms"), 2),
        "api_bare_p95_ms": round(median("bare_p95_ms"), 2),
        "api_chronology_ratio_vs_bare": round(ratio("chronology_p95_ms", "bare_p95_ms"), 3),
        "api_chronology_access_log_p95_ms": round(median("access_log_p95_ms"), 2),
        "api_rss_kb_after_first": rss_after_first,
        "api_rss_kb_after_warmup": rss_after_warm,
        "api_rss_kb_after_total": rss_after_total,
        "api_rss_growth": round(rss_after_total / rss_after_first, 3),
        "api_rss_growth_after_warmup": round(rss_after_total / rss_after_warm, 3),
        "meta_api": {
            "method": "rates and p95s are medians of rounds; ratios are medians of per-round"
            " ratios; rounds interleave the HTTP and Python writes and the chronology and"
            " bare GETs",
            "service": "ledger serve (its views and delivery workers in its child process, the"
            " checkpointer on a thread) as a subprocess on loopback, on the bench's embedded"
            " nats-server (sync_interval always) by NATS_URL; RSS is the process's and its"
            " children's",
            "clients": f"one process, {CLIENTS} keep-alive connections (bench._http1, requests"
            f" prebuilt as bytes) each driven by a task; the Python baseline is {CLIENTS}"
            " threads on one Ledger in the bench's own process",
            "cpus": os.cpu_count(),
            "cpu_note": "the client process, the service, the nats-server and the Python"
            " baseline share the machine's cpus: the HTTP rate pays for the client's own CPU",
            "quick": quick,
            "commands_per_round": n // CLIENTS * CLIENTS,
            "rounds": rounds,
            "chronology_events": BIG_EVENTS,
            "chronology_bytes": len(body),
            "chronology_note": "each round's GETs start once /ready says the service's views"
            " are at the stream's end (lag 0); delivery may still be catching up",
            "gets_per_round": gets,
            "rss_requests_first": rss_first,
            "rss_requests_warmup": rss_warm,
            "rss_requests_total": rss_total,
            "rss_note": "api_rss_growth is RSS after rss_requests_total requests over RSS"
            " after the first rss_requests_first (the issue's measure);"
            " api_rss_growth_after_warmup divides by RSS after rss_requests_warmup instead",
            "rss_mix": counts,
            "rss_kb_by_process": {"after_first": by_process_first, "after_total": by_process_total},
            "rss_mix_seconds": round(mix_seconds, 1),
            "per_round": [{k: round(v, 2) for k, v in row.items()} for row in rows],
        },
    }
