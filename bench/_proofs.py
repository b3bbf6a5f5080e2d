"""The proofs suite of ``make bench``: the Merkle tree file at a million leaves.

A :class:`~ledger.proofs.tree.FileTree` in a temporary directory is built from
``BENCH_TREE_LEAVES`` leaf hashes (1,000,000; 100,000 with ``BENCH_QUICK=1``), appended in
batches of 10,000 as the checkpointer appends them and synced at the end
(``tree_build_s``; the leaf hashes are made outside the timing). The tree is closed and
reopened as a restarted checkpointer would (``meta_proofs.reopen_ms``: the tail check), then
1,000 inclusion proofs of random leaves at the full size are timed one by one
(``inclusion_proof_p95_ms``, the issue's target: <= 5), and, beside them, 1,000 consistency
proofs from random sizes and 1,000 roots at random past sizes. Every proof is checked with
:func:`~ledger.proofs.merkle.verify_inclusion` / ``verify_consistency`` outside the timing,
so a fast wrong answer cannot pass.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console

from ledger.proofs.merkle import leaf_hash, verify_consistency, verify_inclusion
from ledger.proofs.tree import FileTree

BATCH = 10_000
QUERIES = 1_000


def _leaf(i: int) -> bytes:
    return leaf_hash(i.to_bytes(8, "big"))


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def proofs_suite(tmp: Path, *, quick: bool, console: Console) -> dict[str, Any]:
    """Build, reopen and query the tree file; the results for results.json."""
    n = int(os.environ.get("BENCH_TREE_LEAVES", "100000" if quick else "1000000"))
    path = tmp / "merkle" / "BENCH.tree"
    rng = random.Random(12)
    console.log(f"building a Merkle tree file of {n:,} leaves ...")
    build = 0.0
    with FileTree(path) as tree:
        for lo in range(0, n, BATCH):
            batch = [_leaf(i) for i in range(lo, min(n, lo + BATCH))]
            t0 = time.perf_counter()
            tree.append(batch)
            build += time.perf_counter() - t0
        t0 = time.perf_counter()
        tree.sync()
        build += time.perf_counter() - t0
    reopen_ms, tree = _timed(lambda: FileTree(path))
    with tree:
        root = tree.root()
        inclusion: list[float] = []
        for _ in range(QUERIES):
            i = rng.randrange(n)
            ms, proof = _timed(partial(tree.inclusion_proof, i))
            inclusion.append(ms)
            verify_inclusion(_leaf(i), i, n, proof, root)
        consistency: list[float] = []
        roots: list[float] = []
        for _ in range(QUERIES):
            size1 = rng.randrange(1, n + 1)
            ms, proof = _timed(partial(tree.consistency_proof, size1))
            consistency.append(ms)
            ms, root1 = _timed(partial(tree.root, size1))
            roots.append(ms)
            verify_consistency(size1, n, root1, root, proof)
    result = {
        "inclusion_proof_p95_ms": round(_p(inclusion, 0.95), 4),
        "tree_build_s": round(build, 2),
        "meta_proofs": {
            "leaves": n,
            "quick": quick,
            "append_batch": BATCH,
            "tree_append_leaves_per_s": round(n / build),
            "file_bytes": path.stat().st_size,
            "reopen_ms": round(reopen_ms, 2),
            "inclusion_proof_p50_ms": round(statistics.median(inclusion), 4),
            "consistency_proof_p95_ms": round(_p(consistency, 0.95), 4),
            "root_at_past_size_p95_ms": round(_p(roots, 0.95), 4),
            "queries": QUERIES,
        },
    }
    console.log(
        f"tree of {n:,} leaves built in {build:.2f}s; inclusion proof p95 "
        f"{result['inclusion_proof_p95_ms']} ms"
    )
    return result
