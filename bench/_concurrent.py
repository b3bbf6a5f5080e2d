"""Several writer processes, several threads each, on different cases of one stream.

Lives in its own importable module because ``multiprocessing``'s spawn start
method must import the worker function by name in each child.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from typing import Any

from bench import _workload as w


def _writer_process(
    url: str, stream: str, index: int, threads: int, per_thread: int, barrier: Any, out: Any
) -> None:
    w.quiet_logs()
    ledger = w.ledger_on_nats(url, stream)
    try:
        groups = [w.open_cases(ledger, f"p{index}t{t}-{time.time_ns()}", 4) for t in range(threads)]
        for group in groups:
            for case in group:
                w.record_visit(ledger, case)  # warm the cache and the connections
        barrier.wait()
        start = time.time()

        def run(group: list[str]) -> None:
            for i in range(per_thread):
                w.record_visit(ledger, group[i % len(group)])

        workers = [threading.Thread(target=run, args=(g,)) for g in groups]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        out.put((start, time.time(), threads * per_thread))
    finally:
        ledger.close()


def concurrent_append(url: str, stream: str, processes: int, writers: int, n: int) -> float:
    """Commands per second of ``writers`` writers spread over ``processes`` processes."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes)
    out = ctx.Queue()
    threads = writers // processes
    procs = [
        ctx.Process(
            target=_writer_process, args=(url, stream, i, threads, n // writers, barrier, out)
        )
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    start = min(r[0] for r in results)
    end = max(r[1] for r in results)
    return float(sum(r[2] for r in results) / (end - start))
