"""What the proofs cost the ledger's write path: ``signing_overhead_ratio``.

The same home-visit command, with the same concurrency as the write suite's in-process
threads (``WRITERS`` threads over ``CASES`` cases), recorded by two ledgers on two
streams of the same server in the same rounds:

* **on**: ``LEDGER_PROOFS`` on (every event chained), the recording agency's key
  registered, every command signed and verified by the ledger, and the checkpointer
  (:class:`runtime.checkpointer.Checkpointer`, as ``ledger serve`` runs it: a thread of
  the ledger's process on the ledger's recorder, its tree file in the data dir, a signed
  checkpoint every 1,000 events or 10 seconds) following the same stream throughout;
* **off**: ``LEDGER_PROOFS=n`` (no chain), unsigned commands, no checkpointer.

What is timed is the **ledger's** work. An agency signs in its own process, so the
commands of a round are built and signed (:func:`ledger.signing.sign_command`, each with
its own ``occurred_at``: no two signatures alike) before the clock starts, for both sides
alike (off builds its unsigned commands beforehand too). The clock stops at the last
acknowledgement; the checkpointer runs throughout, competing for the same cores and the
same server. What its tree did not hold yet at that moment (``checkpointer_behind_events``,
about one poll of the stream: it reads what is there, then waits up to 0.2 s) is caught
up before the next clock starts (``checkpointer_catch_up_ms``), so none of its work spills
into the other side's time; a checkpointer that could not keep up would show as a lag
that grows with the round.

``signing_overhead_ratio`` is on over off, commands per second, per round then the
median of the rounds (issue 12's target: >= 0.85). Beside it:

* ``signing_overhead_ratio_with_client_signing``: the same, with each command signed in
  the writer's thread inside the timed section (what the ledger and an agency's client
  cost together when they share a process and its cores, as here);
* ``signing_overhead_ratio_sequential``: one writer instead of ``WRITERS``;
* ``signing_cpu_ratio``: CPU a command off over CPU a command on, this process (its
  checkpointer's catching up included) and nats-server together (``/proc/<pid>/stat``),
  ``WRITERS`` threads. On cores that something else keeps busy, as these shared ones, the
  rate ratio tends to it: what a command costs, not how long it waits, decides the rate.
* ``checkpointer_cpu_us_per_command``: the part of this process's CPU that the
  checkpointer's thread used (``/proc/self/task/<tid>/stat``, 10 ms ticks: a few us a
  command), its catching up included: what it takes from the writers' GIL.

Rounds alternate which side goes first, so that a noisy neighbour hurts each alike.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from bench import _workload as w
from ledger.application import Ledger
from ledger.nats import NatsApplicationRecorder
from ledger.proofs.tree import FileTree
from ledger.signing import public_key_text, sign_command
from runtime.checkpointer import Checkpointer
from runtime.log_stream import LogStream
from runtime.settings import Settings
from schemas.commands import RecordAction

__all__ = ["signing_suite"]

WRITERS: Final = 8
CASES: Final = 64
_KEY_ID: Final = "bench-1"
#: ``ledger serve``'s defaults (``LEDGER_CHECKPOINT_EVERY`` / ``_SECONDS``).
_CHECKPOINT_EVERY: Final = 1000
_CHECKPOINT_SECONDS: Final = 10.0
#: The sides of a round: off, on (signed beforehand), on with the client's signing timed.
_SIDES: Final = ("off", "on", "on_client")

_TICKS: Final = os.sysconf("SC_CLK_TCK")
#: One command to record: its case, the command, and its signature (None: unsigned).
Job = tuple[str, RecordAction, str | None]


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


class _Side:
    """One ledger and what it records with: its key (None: unsigned) and checkpointer."""

    def __init__(self, url: str, tmp: Path, stream: str, key: Ed25519PrivateKey | None) -> None:
        settings = Settings(stream=stream, subject_prefix=stream.lower(), proofs=key is not None)
        self.ledger = Ledger(env=settings.persistence_env(url))
        self.prefix = settings.subject_prefix
        self.key = key
        self.when = datetime.now(UTC) - timedelta(hours=1)
        self.made = 0  # commands made so far: each has its own occurred_at
        w.setup_partnership(self.ledger)
        if key is not None:
            self.ledger.register_agency_key(
                partnership=w.PARTNERSHIP,
                recorded_by=w.ACTOR,
                agency=w.ACTOR["agency"],
                key_id=_KEY_ID,
                public_key=public_key_text(key),
            )
        self.cases = w.open_cases(self.ledger, "c", CASES)
        self.checkpointer = self._checkpointer(tmp, settings) if key is not None else None
        self.thread: threading.Thread | None = None

    def _checkpointer(self, tmp: Path, settings: Settings) -> Checkpointer:
        """The checkpointer ``ledger serve`` would run for this ledger (runtime/service.py)."""
        recorder = self.ledger.recorder
        assert isinstance(recorder, NatsApplicationRecorder)
        log_stream = LogStream.of(
            self.ledger, stream=settings.stream, subject_prefix=settings.subject_prefix
        )
        log_stream.check(create=True)
        return Checkpointer(
            recorder,
            FileTree(tmp / "merkle" / f"{settings.stream}.tree"),
            log_stream,
            origin=f"bench.local/{settings.stream}",
            key=Ed25519PrivateKey.generate(),
            every=_CHECKPOINT_EVERY,
            seconds=_CHECKPOINT_SECONDS,
        )

    def start(self) -> None:
        checkpointer = self.checkpointer
        if checkpointer is None:
            return

        def run() -> None:
            checkpointer.catch_up()
            checkpointer.follow()

        self.thread = threading.Thread(target=run, name="checkpointer", daemon=True)
        self.thread.start()

    def close(self) -> None:
        if self.checkpointer is not None and self.thread is not None:
            self.checkpointer.stop()
            self.thread.join(timeout=30)
        self.ledger.close()

    def jobs(self, cases: Sequence[str], n: int, *, signed: bool) -> list[Job]:
        """``n`` commands over ``cases``, signed beforehand when ``signed`` (not timed)."""
        out: list[Job] = []
        for i in range(n):
            self.made += 1
            command = _command(cases[i % len(cases)], self.when + timedelta(microseconds=self.made))
            signature = (
                sign_command(command, w.ACTOR, self.key, _KEY_ID, prefix=self.prefix)
                if signed and self.key is not None
                else None
            )
            out.append((command.case, command, signature))
        return out

    def record(self, jobs: list[Job], *, sign_now: bool) -> int:
        """Record ``jobs`` in order (signing each first with ``sign_now``); the last sequence."""
        seq = 0
        for _, command, signature in jobs:
            if sign_now and self.key is not None:
                signature = sign_command(command, w.ACTOR, self.key, _KEY_ID, prefix=self.prefix)
            seq = self.ledger.execute(command, recorded_by=w.ACTOR, signature=signature).sequence
        return seq

    def settled(self, seq: int) -> None:
        """Return once the checkpointer's tree holds sequence ``seq`` (at once without one)."""
        if self.checkpointer is None:
            return
        deadline = time.monotonic() + 60
        while self.checkpointer.size < seq:
            if self.thread is None or not self.thread.is_alive() or time.monotonic() > deadline:
                msg = f"the checkpointer stopped before sequence {seq}"
                raise RuntimeError(msg)
            time.sleep(0.001)


class _Timing(NamedTuple):
    rate: float  #: commands per second, to the last acknowledgement
    behind: int  #: events the checkpointer's tree did not hold yet at that moment
    catch_up_ms: float  #: how long it took then to hold them all (not timed)
    cpu_us: float  #: CPU of this process a command, its checkpointer's catching up included
    server_cpu_us: float  #: CPU of nats-server a command (0 when its pid is not known)
    checkpointer_cpu_us: float  #: the checkpointer thread's share of ``cpu_us`` (0: none)


def _server_cpu_s(pid: int | None) -> float:
    """The CPU seconds (user and system) nats-server ``pid`` has used so far (Linux)."""
    return 0.0 if pid is None else _cpu_s(Path(f"/proc/{pid}/stat"))


def _thread_cpu_s(thread: threading.Thread | None) -> float:
    """The CPU seconds a thread of this process has used so far (0 without one; Linux)."""
    if thread is None or thread.native_id is None:
        return 0.0
    return _cpu_s(Path(f"/proc/self/task/{thread.native_id}/stat"))


def _cpu_s(stat: Path) -> float:
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _timed(
    side: _Side, groups: list[list[Job]], *, sign_now: bool, server_pid: int | None
) -> _Timing:
    """Record ``groups`` (one thread each) and let the checkpointer catch up after the clock."""
    last = [0] * len(groups)

    def run(k: int) -> None:
        last[k] = side.record(groups[k], sign_now=sign_now)

    workers = [threading.Thread(target=run, args=(k,)) for k in range(len(groups))]
    cpu0, server0 = time.process_time(), _server_cpu_s(server_pid)
    checkpointer0 = _thread_cpu_s(side.thread)
    t0 = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    t1 = time.perf_counter()
    behind = max(0, max(last) - side.checkpointer.size) if side.checkpointer else 0
    side.settled(max(last))  # nothing of this side's spills into the next one's clock
    caught_up = time.perf_counter()
    cpu, server = time.process_time() - cpu0, _server_cpu_s(server_pid) - server0
    checkpointer = _thread_cpu_s(side.thread) - checkpointer0
    n = sum(len(g) for g in groups)
    return _Timing(
        n / (t1 - t0),
        behind,
        (caught_up - t1) * 1000,
        cpu / n * 1e6,
        server / n * 1e6,
        checkpointer / n * 1e6,
    )


def _round(sides: dict[str, _Side], n: int, r: int, server_pid: int | None) -> dict[str, float]:
    row: dict[str, float] = {}
    order = _SIDES[r % len(_SIDES) :] + _SIDES[: r % len(_SIDES)]  # rotate who goes first
    for name in order:
        side = sides["off" if name == "off" else "on"]
        signed, sign_now = name == "on", name == "on_client"
        groups = [
            side.jobs(side.cases[k::WRITERS], n // WRITERS, signed=signed) for k in range(WRITERS)
        ]
        timing = _timed(side, groups, sign_now=sign_now, server_pid=server_pid)
        row[f"threads_{name}"] = timing.rate
        row[f"cpu_us_{name}"] = timing.cpu_us
        row[f"server_cpu_us_{name}"] = timing.server_cpu_us
        if name != "off":
            row[f"checkpointer_cpu_us_{name}"] = timing.checkpointer_cpu_us
            row[f"behind_{name}"] = timing.behind
            row[f"catch_up_ms_{name}"] = timing.catch_up_ms
        one = [side.jobs(side.cases, n // 3, signed=signed)]
        row[f"sequential_{name}"] = _timed(side, one, sign_now=sign_now, server_pid=None).rate
    return row


def signing_suite(
    url: str, tmp: Path, *, quick: bool, console: Console, server_pid: int | None = None
) -> dict[str, Any]:
    """``signing_overhead_ratio`` and its rates (see the module docstring); ``server_pid``
    (nats-server's) lets it count the server's CPU too."""
    n = 800 if quick else 3000
    rounds = 2 if quick else 5
    sides = {
        "on": _Side(url, tmp, "PROOFS_ON", Ed25519PrivateKey.generate()),
        "off": _Side(url, tmp, "PROOFS_OFF", None),
    }
    rows: list[dict[str, float]] = []
    try:
        for side in sides.values():
            side.start()
            side.record(side.jobs(side.cases, CASES, signed=True), sign_now=False)  # warm up
        for r in range(rounds):
            rows.append(_round(sides, n, r, server_pid))
            console.log(
                f"proofs round {r + 1}/{rounds}: "
                + ", ".join(
                    f"{k} {v:.0f}" for k, v in rows[-1].items() if k.startswith(("threads", "cpu"))
                )
            )
    finally:
        for side in sides.values():
            side.close()

    for row in rows:
        for name in _SIDES:
            row[f"cpu_total_{name}"] = row[f"cpu_us_{name}"] + row[f"server_cpu_us_{name}"]

    def median(key_: str) -> float:
        return statistics.median(row[key_] for row in rows)

    def ratio(top: str, bottom: str) -> float:
        return round(statistics.median(row[top] / row[bottom] for row in rows), 3)

    return {
        "signing_overhead_ratio": ratio("threads_on", "threads_off"),
        "signing_overhead_ratio_with_client_signing": ratio("threads_on_client", "threads_off"),
        "signing_overhead_ratio_sequential": ratio("sequential_on", "sequential_off"),
        "proofs_on_append_per_s": round(median("threads_on"), 1),
        "proofs_off_append_per_s": round(median("threads_off"), 1),
        "checkpointer_behind_events": round(median("behind_on")),
        "checkpointer_catch_up_ms": round(median("catch_up_ms_on"), 1),
        "signing_cpu_ratio": ratio("cpu_total_off", "cpu_total_on"),
        "proofs_on_cpu_us_per_command": round(median("cpu_us_on"), 1),
        "proofs_off_cpu_us_per_command": round(median("cpu_us_off"), 1),
        "proofs_on_server_cpu_us_per_command": round(median("server_cpu_us_on"), 1),
        "proofs_off_server_cpu_us_per_command": round(median("server_cpu_us_off"), 1),
        "checkpointer_cpu_us_per_command": round(median("checkpointer_cpu_us_on"), 1),
        "meta_signing": {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "method": (
                "on: chained, signed before the clock starts, verified by the ledger, the "
                "checkpointer following the stream (every 1000 events / 10 s; what its tree "
                "lacked at the last acknowledgement is caught up before the next clock "
                "starts, and reported); off: LEDGER_PROOFS=n, unsigned, no "
                f"checkpointer; {WRITERS} threads in one process over {CASES} cases (the write "
                "suite's 'threads'), and one writer; per-round ratios, median; "
                "with_client_signing: each command signed in the writer's thread, timed"
            ),
            "quick": quick,
            "commands_per_round": n,
            "rounds": rounds,
            "per_round": [{k: round(v, 1) for k, v in row.items()} for row in rows],
        },
    }
