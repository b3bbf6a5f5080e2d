"""What the proofs cost the write path: ``signing_overhead_ratio``.

The same home-visit command, with the same concurrency as the write suite's in-process
threads (``WRITERS`` threads over ``CASES`` cases), recorded by two ledgers on two
streams of the same server in the same rounds:

* **on**: ``LEDGER_PROOFS`` on (every event chained), the recording agency's key
  registered, and every command signed by the client (:func:`ledger.signing.sign_command`,
  in the writer's thread: what an agency pays) and verified by the ledger;
* **off**: ``LEDGER_PROOFS=n`` (no chain) and unsigned commands.

The ratio (on over off, commands per second, per round then the median) is the target
of issue 12 (>= 0.85). The sequential ratio (one writer) is reported beside it.
"""

from __future__ import annotations

import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from bench import _workload as w
from ledger.application import Ledger
from ledger.signing import public_key_text, sign_command
from runtime.settings import Settings
from schemas.commands import RecordAction

__all__ = ["signing_suite"]

WRITERS: Final = 8
CASES: Final = 64
_KEY_ID: Final = "bench-1"


def _ledger(url: str, stream: str, *, proofs: bool) -> Ledger:
    settings = Settings(stream=stream, subject_prefix=stream.lower(), proofs=proofs)
    return Ledger(env=settings.persistence_env(url))


def _command(case: str, when: datetime) -> RecordAction:
    return RecordAction(
        partnership=w.PARTNERSHIP,
        case=case,
        action="home_visit",  # type: ignore[arg-type]
        child=w.CHILD,
        seen=True,
        seen_alone=True,
        note=w.NOTE,
        occurred_at=when,
    )


class _Writer:
    """Records the workload's command, signed (proofs on) or not (off)."""

    def __init__(self, ledger: Ledger, prefix: str, key: Ed25519PrivateKey | None) -> None:
        self.ledger = ledger
        self.prefix = prefix
        self.key = key
        self.when = datetime.now(UTC) - timedelta(minutes=1)

    def record(self, case: str) -> None:
        command = _command(case, self.when)
        if self.key is None:
            self.ledger.execute(command, recorded_by=w.ACTOR)
            return
        signature = sign_command(command, w.ACTOR, self.key, _KEY_ID, prefix=self.prefix)
        self.ledger.execute(command, recorded_by=w.ACTOR, signature=signature)


def _threads(writer: _Writer, groups: list[list[str]], n: int) -> float:
    def run(group: list[str]) -> None:
        for i in range(n // len(groups)):
            writer.record(group[i % len(group)])

    workers = [threading.Thread(target=run, args=(g,)) for g in groups]
    t0 = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return (n // len(groups)) * len(groups) / (time.perf_counter() - t0)


def _sequential(writer: _Writer, cases: list[str], n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        writer.record(cases[i % len(cases)])
    return n / (time.perf_counter() - t0)


def signing_suite(url: str, tmp: Path, *, quick: bool, console: Console) -> dict[str, Any]:
    """``signing_overhead_ratio`` and its rates (see the module docstring)."""
    del tmp
    n = 800 if quick else 3000
    rounds = 2 if quick else 5
    key = Ed25519PrivateKey.generate()
    writers: dict[str, _Writer] = {}
    cases: dict[str, list[str]] = {}
    for name, proofs in (("on", True), ("off", False)):
        stream = f"PROOFS_{name.upper()}"
        ledger = _ledger(url, stream, proofs=proofs)
        w.setup_partnership(ledger)
        if proofs:
            ledger.register_agency_key(
                partnership=w.PARTNERSHIP,
                recorded_by=w.ACTOR,
                agency=w.ACTOR["agency"],
                key_id=_KEY_ID,
                public_key=public_key_text(key),
            )
        cases[name] = w.open_cases(ledger, "c", CASES)
        writers[name] = _Writer(ledger, stream.lower(), key if proofs else None)
        for case in cases[name]:
            writers[name].record(case)  # warm the cache, the positions and the connections
    rows: list[dict[str, float]] = []
    for r in range(rounds):
        row: dict[str, float] = {}
        for name in ("off", "on") if r % 2 else ("on", "off"):  # alternate who goes first
            groups = [cases[name][k::WRITERS] for k in range(WRITERS)]
            row[f"threads_{name}"] = _threads(writers[name], groups, n)
            row[f"sequential_{name}"] = _sequential(writers[name], cases[name], n // 3)
        rows.append(row)
        console.log(
            f"proofs round {r + 1}/{rounds}: " + ", ".join(f"{k} {v:.0f}/s" for k, v in row.items())
        )
    for writer in writers.values():
        writer.ledger.close()

    def median(key_: str) -> float:
        return statistics.median(row[key_] for row in rows)

    def ratio(top: str, bottom: str) -> float:
        return statistics.median(row[top] / row[bottom] for row in rows)

    return {
        "signing_overhead_ratio": round(ratio("threads_on", "threads_off"), 3),
        "signing_overhead_ratio_sequential": round(ratio("sequential_on", "sequential_off"), 3),
        "proofs_on_append_per_s": round(median("threads_on"), 1),
        "proofs_off_append_per_s": round(median("threads_off"), 1),
        "meta_proofs": {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "method": (
                "on: chained, client-signed, ledger-verified; off: LEDGER_PROOFS=n, unsigned; "
                f"{WRITERS} threads in one process over {CASES} cases (the write suite's "
                "'threads'), and one writer; per-round ratios, median"
            ),
            "quick": quick,
            "commands_per_round": n,
            "rounds": rounds,
            "per_round": [{k: round(v, 1) for k, v in row.items()} for row in rows],
        },
    }
