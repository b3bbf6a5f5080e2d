"""The views suite of ``make bench``: rebuild speed against a raw read, and the as-of chronology.

A synthetic partnership (:mod:`bench.synthetic`, seeded, one case of 10,000
events among the rest) is written through the ledger once. Then, in interleaved
rounds, the same stream is read raw (nats-py's ordered push consumer with a
callback that only counts: the fastest way to read it) and every view is rebuilt
into a fresh SQLite file. ``rebuild_ratio_vs_raw_read`` is the median of the
per-round ratios; ``rebuild_1m_projected_s`` is what a 1,000,000-event rebuild
takes at the measured rate (``BENCH_EVENTS=1000000`` measures it directly).

``chronology_p95_ms`` times as-of chronology queries of the big case at instants
spread over its life (each returns what the ledger had recorded by then, up to
all 10,000 entries), after a warm-up.

``as_of_replay_events_per_s`` is the rate at which :class:`~projections.as_of.PastViews`
replays the whole stream into its in-memory store (every view as of now), and
``as_of_replay_ratio_vs_rebuild`` that rate against the same run's rebuild rate (median
of rounds); ``meta_views.as_of_index_s`` is the one-off read of the stream's sequences
and ``recorded_at`` a process makes before its first replay.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy
from rich.console import Console

from bench.synthetic import generate
from ledger.application import Ledger
from projections import VIEW_NAMES, Views, from_micros
from projections.as_of import PastViews
from projections.sqlite import SQLiteViewStore
from runtime.settings import Settings
from schemas import wire

STREAM = "VIEWS"
PREFIX = "views"
BIG_CASE_EVENTS = 10_000
QUERIES = 200


async def _raw_read(url: str, total: int) -> float:
    """Messages per second reading the stream to ``total`` with a counting callback."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        done = asyncio.Event()
        count = 0

        async def on_msg(msg: Any) -> None:
            nonlocal count
            count += 1
            if msg.metadata.sequence.stream >= total:
                done.set()

        started = time.perf_counter()
        sub = await js.subscribe(
            wire.all_aggregates(PREFIX),
            ordered_consumer=True,
            cb=on_msg,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
            pending_msgs_limit=65_536,
        )
        await asyncio.wait_for(done.wait(), timeout=600)
        elapsed = time.perf_counter() - started
        await sub.unsubscribe()
        return count / elapsed
    finally:
        await nc.close()


def _rebuild(ledger: Ledger, path: Path) -> tuple[float, Views]:
    views = Views(SQLiteViewStore(path))
    stats = views.runner(ledger).rebuild()
    return stats.per_second, views


def _as_of_replay(ledger: Ledger, console: Console) -> tuple[float, float]:
    """Events per second replaying the whole stream into past views, and the index's read."""
    past = PastViews(ledger)
    try:
        started = time.perf_counter()
        with past.at(datetime.now(UTC)) as views:
            views.directory.partnerships()
        total = time.perf_counter() - started
    finally:
        past.close()
    events, seconds = past.last_replay
    rate = events / seconds if seconds > 0 else 0.0
    console.log(
        f"as-of replay: {events:,} events at {rate:,.0f}/s, index read {total - seconds:.1f} s"
    )
    return rate, total - seconds


def _chronology_ms(views: Views, big_case: str, console: Console) -> tuple[float, float, int]:
    partnership, _, case = big_case.split(".")
    with views.store.reading() as tx:
        first, last = tx.fetchone(
            "SELECT min(recorded), max(recorded) FROM chronology"
            " WHERE partnership = ? AND case_id = ?",
            (partnership, case),
        )
    rng = random.Random(11)
    instants = [from_micros(rng.randint(int(first), int(last))) for _ in range(QUERIES)]
    instants.append(from_micros(int(last)))
    for instant in instants[:10]:  # warm-up: page cache, statement cache
        views.chronology.chronology(partnership, case, as_of=instant)
    timings: list[float] = []
    size = 0
    for instant in instants:
        started = time.perf_counter()
        entries = views.chronology.chronology(partnership, case, as_of=instant).entries
        timings.append((time.perf_counter() - started) * 1000)
        size = max(size, len(entries))
    p95 = statistics.quantiles(timings, n=20)[-1]
    p50 = statistics.median(timings)
    console.log(
        f"chronology as-of: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(timings)} queries,"
        f" up to {size} entries"
    )
    return p95, p50, size


def views_suite(url: str, tmp: Path, *, quick: bool, console: Console) -> dict[str, Any]:
    """Generate, then measure rebuilds and chronology queries; the results for results.json."""
    events = int(os.environ.get("BENCH_EVENTS", "30000" if quick else "200000"))
    rounds = 2 if quick else 3
    env = Settings(stream=STREAM, subject_prefix=PREFIX, timeout_s=10).persistence_env(url)
    console.log(f"writing a synthetic partnership of {events:,} events through the ledger ...")
    summary = generate(env, events=events, seed=7, big_case_events=BIG_CASE_EVENTS)
    console.log(f"written at {summary.events_per_second:,.0f} events/s")
    assert summary.big_case is not None
    ledger = Ledger(env=env)
    try:
        total = ledger.recorder.max_notification_id() or 0
        loop = asyncio.new_event_loop()
        rows: list[dict[str, float]] = []
        views: Views | None = None
        for r in range(rounds):
            raw = loop.run_until_complete(_raw_read(url, total))
            if views is not None:
                views.close()
            rebuild, views = _rebuild(ledger, tmp / f"views-{r}.sqlite")
            rows.append({"raw": raw, "rebuild": rebuild})
            console.log(f"round {r + 1}/{rounds}: raw read {raw:,.0f}/s, rebuild {rebuild:,.0f}/s")
        loop.close()
        assert views is not None
        p95, p50, entries = _chronology_ms(views, summary.big_case, console)
        views.close()
        replay_rate, index_s = _as_of_replay(ledger, console)
    finally:
        ledger.close()
    rebuild_rate = statistics.median(row["rebuild"] for row in rows)
    return {
        "rebuild_per_s": round(rebuild_rate, 1),
        "raw_read_per_s": round(statistics.median(row["raw"] for row in rows), 1),
        "rebuild_ratio_vs_raw_read": round(
            statistics.median(row["rebuild"] / row["raw"] for row in rows), 3
        ),
        "rebuild_1m_projected_s": round(1_000_000 / rebuild_rate, 1),
        "chronology_p95_ms": round(p95, 2),
        "as_of_replay_events_per_s": round(replay_rate, 1),
        "as_of_replay_ratio_vs_rebuild": round(replay_rate / rebuild_rate, 3),
        "meta_views": {
            "events": total,
            "rounds": rounds,
            "views": list(VIEW_NAMES),
            "generate_per_s": round(summary.events_per_second, 1),
            "chronology_case_events": entries,
            "chronology_p50_ms": round(p50, 2),
            "chronology_queries": QUERIES + 1,
            "as_of_index_s": round(index_s, 2),
            "per_round": [{k: round(v, 1) for k, v in row.items()} for row in rows],
        },
    }
