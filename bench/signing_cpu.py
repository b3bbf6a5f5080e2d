"""Where the CPU of ``signing_overhead_ratio``'s "on" side goes, one part of the proofs at a time.

``python -m bench.signing_cpu``: not a suite of ``make bench`` but a focused measure for
one question (issue 12): what does each part of the proofs add to a command's CPU, and
does "on" make more requests to the server. The signing suite's workload
(:mod:`bench._signing`: the same home visit, ``WRITERS`` threads over ``CASES`` cases,
commands built and signed before the clock starts) on four ledgers, each on its own stream
of one server, in rotating rounds:

* ``off``: ``LEDGER_PROOFS=n``, unsigned, no checkpointer (the suite's "off");
* ``chain``: proofs on (every event chained), unsigned, no checkpointer;
* ``signed``: chained, signed and verified, no checkpointer;
* ``full``: chained, signed and verified, the checkpointer following (the suite's "on").

For each: this process's CPU a command (user and system apart), nats-server's, the
checkpointer thread's, context switches a command, and the requests the write path
made a command (publishes over the synchronous wire, and aggregates read from the stream
rather than the cache, a partnership's included: counted by wrapping
:meth:`SyncWire.request` and the recorder's ``select_events``; direct gets of a subject's
last message are not counted, since the function lives in a private module of the NATS
adapter, and one run that counted them found none).
``BENCH_ROUNDS`` (default 4) rounds of ``BENCH_COMMANDS`` (default 2,400) commands;
medians. The figures move with the machine's load; read differences within one run.
"""

from __future__ import annotations

import collections
import functools
import os
import resource
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench import _signing as s
from bench import _workload as w
from ledger.nats import NatsAggregateRecorder, SyncWire
from runtime.embedded import EmbeddedNats

#: The sides: (signed, checkpointer). ``off`` alone has proofs off.
SIDES = {
    "off": (False, False),
    "chain": (False, False),
    "signed": (True, False),
    "full": (True, True),
}

_requests: collections.Counter[str] = collections.Counter()


def _counted(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _requests[name] += 1
        return fn(*args, **kwargs)

    return wrapper


def _count_requests() -> None:
    """Count the write path's requests (this process only; a measuring tool's patch)."""
    SyncWire.request = _counted("publish", SyncWire.request)  # type: ignore[method-assign]
    NatsAggregateRecorder.select_events = _counted(  # type: ignore[method-assign]
        "stream_read", NatsAggregateRecorder.select_events
    )


def _side(url: str, tmp: Path, name: str) -> s._Side:
    signed, checkpointer = SIDES[name]
    key = None if name == "off" else Ed25519PrivateKey.generate()
    side = s._Side(url, tmp, f"CPU_{name.upper()}", key)
    if not signed:
        side.key = None  # chained (proofs on), but its commands go unsigned
    if not checkpointer:
        side.checkpointer = None
    return side


def main() -> None:
    w.quiet_logs()
    _count_requests()
    rounds = int(os.environ.get("BENCH_ROUNDS", "4"))
    n = int(os.environ.get("BENCH_COMMANDS", "2400"))
    names = list(SIDES)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedNats(Path(tmp) / "nats") as server:
        sides = {name: _side(server.url, Path(tmp), name) for name in names}
        try:
            for side in sides.values():
                side.start()
                side.record(side.jobs(side.cases, s.CASES, signed=True), sign_now=False)
            for r in range(rounds):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    side = sides[name]
                    groups = [
                        side.jobs(side.cases[k :: s.WRITERS], n // s.WRITERS, signed=True)
                        for k in range(s.WRITERS)
                    ]
                    done = sum(len(g) for g in groups)
                    _requests.clear()
                    before = resource.getrusage(resource.RUSAGE_SELF)
                    t = s._timed(side, groups, sign_now=False, server_pid=server.pid)
                    after = resource.getrusage(resource.RUSAGE_SELF)
                    rows[name].append(
                        {
                            "rate": t.rate,
                            "cpu_us": t.cpu_us,
                            "user_us": (after.ru_utime - before.ru_utime) / done * 1e6,
                            "sys_us": (after.ru_stime - before.ru_stime) / done * 1e6,
                            "server_cpu_us": t.server_cpu_us,
                            "checkpointer_cpu_us": t.checkpointer_cpu_us,
                            "switches": (
                                after.ru_nvcsw
                                + after.ru_nivcsw
                                - before.ru_nvcsw
                                - before.ru_nivcsw
                            )
                            / done,
                            "publishes": _requests["publish"] / done,
                            "stream_reads": _requests["stream_read"] / done,
                        }
                    )
                print(f"round {r + 1}/{rounds} done", flush=True)
        finally:
            for side in sides.values():
                side.close()
    base = rows["off"]
    print(f"{'side':7} {'rate/off':>8} {'cpu/off':>8}", end="")
    keys = list(base[0])[1:]
    print("".join(f" {k:>19}" for k in keys))
    for name in names:
        rate = statistics.median(
            a["rate"] / b["rate"] for a, b in zip(rows[name], base, strict=True)
        )
        cpu = statistics.median(
            (b["cpu_us"] + b["server_cpu_us"]) / (a["cpu_us"] + a["server_cpu_us"])
            for a, b in zip(rows[name], base, strict=True)
        )
        cells = "".join(f" {statistics.median(row[k] for row in rows[name]):19.2f}" for k in keys)
        print(f"{name:7} {rate:8.3f} {cpu:8.3f}{cells}")


if __name__ == "__main__":
    main()
