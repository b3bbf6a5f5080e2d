"""CPU per command of ``POST /commands/RecordAction`` against the same command in process.

``python -m bench.api_write_cpu``: not a suite of ``make bench`` but a focused measure of
the api suite's write figure (:mod:`bench._api`, ``api_write_ratio_vs_python``). It
starts an embedded nats-server (``sync_interval: always``) and ``ledger serve`` on it as
the api suite does (its workers too, unless ``BENCH_NO_WORKERS=1``), then runs
``BENCH_ROUNDS`` interleaved rounds (default 5) of ``BENCH_COMMANDS`` commands (default
1,600) each way: POSTed by the suite's client process (16 keep-alive connections), and
through :class:`~ledger.application.Ledger` by 16 threads of this process. Per round:

* the rates and their ratio (what the suite reports);
* the serving process's CPU per POST (``/proc/<pid>/stat``: every thread of the main
  process, not its workers' child) and this process's CPU per command in process
  (``time.process_time``), in microseconds;
* the client process's CPU per POST, which shares the machine's cores with the server.

``BENCH_ATTACH`` attaches a profiler to the service for the rounds (see :func:`_spy`).
``BENCH_SERVE_SCRIPT`` (a script run as ``python SCRIPT serve``) and ``BENCH_VARIANTS``
(comma-separated names, each handed to its own service as ``EXP``) compare variants of
the service side by side in the same rounds, each against the same Python round.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import _api
from bench import _workload as w
from ledger.application import Ledger
from runtime.embedded import EmbeddedNats
from runtime.settings import Settings
from runtime.tokens import Role, TokenStore

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _main_thread_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of process ``pid``'s main thread (the event loop's)."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _switches(pid: int, *, main: bool = False) -> int:
    """Context switches (voluntary and not) of every thread of process ``pid`` so far
    (``main``: of its main thread only)."""
    total = 0
    tasks = [Path(f"/proc/{pid}/task/{pid}")] if main else Path(f"/proc/{pid}/task").iterdir()
    for task in tasks:
        try:
            for line in (task / "status").read_text().splitlines():
                if line.endswith("ctxt_switches:") or "ctxt_switches:" in line:
                    total += int(line.split()[1])
        except OSError:  # a thread that ended
            continue
    return total


def _own_switches() -> int:
    """Context switches of this process's threads so far, ended ones too."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw + usage.ru_nivcsw


def main() -> None:
    n = int(os.environ.get("BENCH_COMMANDS", "1600"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
    workers = os.environ.get("BENCH_NO_WORKERS") != "1"
    variants = os.environ.get("BENCH_VARIANTS", "").split(",")
    w.quiet_logs()
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedNats(Path(tmp) / "nats") as server,
        contextlib.ExitStack() as stack,
    ):
        url = server.url
        settings = Settings(
            nats_url=url, stream=_api.STREAM, subject_prefix=_api.PREFIX, timeout_s=10
        )
        ledger = Ledger(env=settings.persistence_env(url))
        stack.callback(ledger.close)
        w.setup_partnership(ledger)
        py_cases = w.open_cases(ledger, "b", _api.CASES)
        cases = {v: w.open_cases(ledger, f"h{i}", _api.CASES) for i, v in enumerate(variants)}
        for case in [*py_cases, *(c for group in cases.values() for c in group)]:
            w.record_visit(ledger, case)
        env = {
            **os.environ,
            "NATS_URL": url,
            "NATS_STREAM": _api.STREAM,
            "NATS_SUBJECT_PREFIX": _api.PREFIX,
            "LEDGER_LOG_JSON": "1",
            "LEDGER_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
        }
        args = [] if workers else ["--no-workers"]
        ctx = mp.get_context("spawn")
        services: dict[str, tuple[int, int, Any]] = {}  # variant: service pid, client pid, pipe
        for i, variant in enumerate(variants):
            data = Path(tmp) / f"api-data-{i}"  # one service a data dir
            agency, _ = TokenStore(data).issue(
                Role.AGENCY, w.PARTNERSHIP, agency="la-bench", actor="act_benchmark01"
            )
            log = Path(tmp) / f"serve-{i}.log"
            variant_env = {**env, "EXP": variant, "LEDGER_DATA_DIR": str(data)}
            service, port = stack.enter_context(_Served(variant_env, log, *args))
            ours, theirs = ctx.Pipe()
            client = ctx.Process(target=_api._client, args=(port, agency, "", theirs))
            client.start()
            stack.callback(client.join, 60)
            stack.callback(ours.send, ("stop",))
            services[variant] = (service.pid, client.pid or 0, ours)

        def ask(variant: str, *job: Any) -> Any:
            pipe = services[variant][2]
            pipe.send(job)
            return pipe.recv()

        for variant in variants:  # warm up
            ask(variant, "posts", cases[variant], _api.CLIENTS * 8)
        _api._threads(ledger, py_cases, _api.CLIENTS * 8)
        spies = [_spy(pid) for pid, _, _ in services.values()]
        rows: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        for r in range(rounds):
            p0, y0 = time.process_time(), _own_switches()
            python = _api._threads(ledger, py_cases, n)
            p1, y1 = time.process_time(), _own_switches()
            python_us = (p1 - p0) / n * 1e6
            for variant in variants:
                pid, cpid, _ = services[variant]
                s0, c0, m0 = _cpu_s(pid), _cpu_s(cpid), _main_thread_cpu_s(pid)
                x0, z0 = _switches(pid), _switches(pid, main=True)
                http = ask(variant, "posts", cases[variant], n)
                s1, c1, m1 = _cpu_s(pid), _cpu_s(cpid), _main_thread_cpu_s(pid)
                x1, z1 = _switches(pid), _switches(pid, main=True)
                row = {
                    "http_per_s": http,
                    "python_per_s": python,
                    "ratio": http / python,
                    "server_us": (s1 - s0) / n * 1e6,
                    "loop_us": (m1 - m0) / n * 1e6,
                    "client_us": (c1 - c0) / n * 1e6,
                    "python_us": python_us,
                    "cpu_ratio": python_us / ((s1 - s0) / n * 1e6),
                    "server_switches": (x1 - x0) / n,
                    "loop_switches": (z1 - z0) / n,
                    "python_switches": (y1 - y0) / n,
                }
                rows[variant].append(row)
                print(f"round {r + 1}/{rounds} {variant or 'serve'}: {_line(row)}", flush=True)
        for spy in spies:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
    for variant, got in rows.items():
        median = {k: statistics.median(row[k] for row in got) for k in got[0]}
        print(f"median {variant or 'serve'}: {_line(median)}", flush=True)


def _line(row: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" if "ratio" in k else f"{k} {v:.1f}" for k, v in row.items())


def _spy(pid: int) -> subprocess.Popen[bytes] | None:
    """A profiler attached to process ``pid`` for the rounds, if asked for:
    ``BENCH_ATTACH`` is its command, ``{pid}`` standing for the service's (for instance
    ``py-spy record -p {pid} -o out.txt -f raw --gil`` or ``perf record -g -p {pid} -o
    perf.data``); it is stopped with SIGINT after the last round."""
    attach = os.environ.get("BENCH_ATTACH")
    if not attach:
        return None
    command = attach.format(pid=pid).split()
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class _Served:
    """``ledger serve`` on a free port, until /health answers; stopped with SIGINT."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.env, self.log, self.args = env, log, args

    def __enter__(self) -> tuple[subprocess.Popen[bytes], int]:
        import httpx

        port = _api._free_port()
        command = [str(Path(sys.executable).with_name("ledger")), "serve", *self.args]
        if script := os.environ.get("BENCH_SERVE_SCRIPT"):  # an experiment's own ``serve``
            command = [sys.executable, script, "serve", *self.args]
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                command,
                env={**self.env, "LEDGER_HTTP_PORT": str(port)},
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        deadline = time.monotonic() + _api.SERVE_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ledger serve exited early: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    return self.process, port
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("ledger serve did not start")

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


if __name__ == "__main__":
    main()
