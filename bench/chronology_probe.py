"""The chronology GET against the bare app, side by side: a focused probe of the api suite's
``api_chronology_ratio_vs_bare`` that takes a minute, not the suite's five.

``python -m bench.chronology_probe [rounds] [block]`` (from the repository root, with
``PYTHONPATH=.``): an embedded nats-server (``sync_interval: always``), the api suite's
partnership with a 1,000-event case (made once, kept in ``BENCH_PROBE_DIR``, default a
directory under the system's temporary one), ``ledger serve`` of this checkout, the api
suite's bare Litestar app returning the same bytes, and the access-log record alone,
measured on one keep-alive connection each (:mod:`bench._http1`) in blocks of ``block``
GETs (25) taken in a shuffled order each round (20), so that a busy machine's noise falls
on all of them alike. With ``BENCH_PROBE_BASE=<dir>`` (an export of another commit:
``git archive <commit> | tar -x -C <dir>``) a second ``ledger serve`` runs that code on
its own copy of the data dir, measured in the same rounds: before and after in one run.

Prints each one's pooled p50 and p95, the p95 ratios to the bare app's, and the serving
processes' CPU a GET (``/proc/<pid>/stat``, all threads; the views' and delivery workers
run in a child process, not counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import structlog

from bench import _api as api
from bench import _workload as w
from bench._http1 import Connection, request
from ledger.application import Ledger
from runtime.access_log import AccessLog
from runtime.embedded import EmbeddedNats
from runtime.settings import Settings
from runtime.tokens import Role, TokenStore


def _cpu_ticks(pid: int) -> int:
    """User and system CPU of process ``pid`` (all its threads), in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


async def _block(c: Connection, raw: bytes, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, body = await c.send(raw)
        out.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise RuntimeError(f"answered {status}: {body[:300]!r}")
    return out


def _setup(root: Path, ledger: Ledger) -> tuple[str, str, str]:
    """The partnership and its big case, once; the board's token, its id and the case."""
    saved = root / "probe.txt"
    if not saved.exists():
        w.setup_partnership(ledger)
        big = w.open_cases(ledger, "big", 1)[0]
        for _ in range(api.BIG_EVENTS - 1):
            w.record_visit(ledger, big)
        board, record = TokenStore(root / "data").issue(
            Role.BOARD, w.PARTNERSHIP, agency="la-bench", actor="act_benchboard1"
        )
        saved.write_text(f"{board}\n{record.id}\n{big}\n")
    board, token_id, big = saved.read_text().split()
    return board, token_id, big


def main() -> None:
    # The records this process makes log each one at info: keep the table readable.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    root = Path(os.environ.get("BENCH_PROBE_DIR", Path(tempfile.gettempdir()) / "chron-probe"))
    root.mkdir(parents=True, exist_ok=True)
    variants = {"this": str(Path.cwd())}
    if os.environ.get("BENCH_PROBE_BASE"):
        variants["base"] = os.environ["BENCH_PROBE_BASE"]
    with EmbeddedNats(root / "nats") as server:
        settings = Settings(
            nats_url=server.url, stream=api.STREAM, subject_prefix=api.PREFIX, timeout_s=10
        )
        ledger = Ledger(env=settings.persistence_env(server.url))
        board, token_id, big = _setup(root, ledger)
        chronology = f"/partnerships/{w.PARTNERSHIP}/cases/{big}/chronology"
        with contextlib.ExitStack() as stack:
            ports: dict[str, int] = {}
            pids: dict[str, int] = {}
            body = b""
            for name, code in variants.items():
                data = root / "data" if name == "this" else root / f"data-{name}"
                if not data.exists():
                    shutil.copytree(root / "data", data)
                env = {
                    **os.environ,
                    "PYTHONPATH": code,
                    "LEDGER_DATA_DIR": str(data),
                    "NATS_URL": server.url,
                    "NATS_STREAM": api.STREAM,
                    "NATS_SUBJECT_PREFIX": api.PREFIX,
                    "LEDGER_LOG_JSON": "1",
                }
                process, base, port = stack.enter_context(
                    api._served(env, root / f"serve-{name}.log")
                )
                ports[name], pids[name] = port, process.pid
                answer = httpx.get(
                    f"{base}{chronology}", headers={"Authorization": f"Bearer {board}"}, timeout=60
                )
                if answer.status_code != 200:
                    raise RuntimeError(f"{name} answered {answer.status_code}: {answer.text}")
                body = answer.content
            bare_port = api._free_port()
            bare = mp.get_context("spawn").Process(target=api._bare, args=(bare_port, body))
            bare.start()
            stack.callback(bare.join, 30)
            stack.callback(bare.terminate)
            _wait_for(f"http://127.0.0.1:{bare_port}/bare")
            ports["bare"] = bare_port
            pids["bare"] = bare.pid or 0
            access = AccessLog.of(ledger, stream=api.STREAM, subject_prefix=api.PREFIX)
            samples, cpu = asyncio.run(
                _rounds(ports, pids, chronology, board, access, big, token_id, rounds, n)
            )
        ledger.close()
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    for name, got in samples.items():
        line = f"{name:6s} p50 {statistics.median(got):6.3f} ms  p95 {api._p95(got):6.3f} ms"
        if name in cpu:
            line += f"  cpu {cpu[name] * tick_ms / len(got):5.3f} ms/GET"
        print(line)
    for name in variants:
        ratio = api._p95(samples[name]) / api._p95(samples["bare"])
        print(f"ratio {name}/bare (p95): {ratio:.3f}")


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


async def _rounds(
    ports: dict[str, int],
    pids: dict[str, int],
    chronology: str,
    board: str,
    access: AccessLog,
    big: str,
    token_id: str,
    rounds: int,
    n: int,
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """The blocks of each, shuffled each round; every one's latencies and CPU ticks."""
    conns = {k: await Connection.open(p) for k, p in ports.items()}
    raws = {k: request("GET", "/bare" if k == "bare" else chronology, board) for k in ports}
    for k, c in conns.items():
        await _block(c, raws[k], n)  # warm
    samples: dict[str, list[float]] = {k: [] for k in [*ports, "record"]}
    cpu = dict.fromkeys(ports, 0)
    try:
        for _ in range(rounds):
            order = list(samples)
            random.shuffle(order)
            for k in order:
                if k == "record":
                    samples[k] += api._records(access, big, token_id, n)
                    continue
                before = _cpu_ticks(pids[k])
                samples[k] += await _block(conns[k], raws[k], n)
                cpu[k] += _cpu_ticks(pids[k]) - before
    finally:
        for c in conns.values():
            c.close()
    return samples, cpu


if __name__ == "__main__":
    main()
