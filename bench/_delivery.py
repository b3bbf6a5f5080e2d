"""The delivery suite of ``make bench``: from a command returning to the agency's handler.

Three processes, as deployed: the writer (the ledger service recording commands at a
steady 1,000 a second; ``BENCH_DELIVERY_RATE`` changes it), the delivery service
(``ledger delivery run``: the delivery view following the stream and fanning each case
event out), and the agencies (four
``AgencySubscription`` clients in one event loop, each handler noting when it got
each event). Every case has two parties, so each event reaches two handlers.

``delivery_p95_ms`` is the 95th percentile of (handler received) - (command returned)
over every delivery after a one-second warm-up, measured with the system-wide
monotonic clock that all three processes share.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import _workload as w
from ledger.application import Ledger
from runtime.settings import Settings

STREAM = "DELIVERYBENCH"
PREFIX = "dbench"
P = "northshire"
LA = {"agency": "la", "actor": "act_sw-000001"}
PARTNERS = ("police", "health", "school")
CASES = 48
#: Events recorded per second; ``BENCH_DELIVERY_RATE`` changes it (to see where the
#: fsync-bound server saturates: every event is one synced write plus one per party).
RATE = int(os.environ.get("BENCH_DELIVERY_RATE", "1000"))
WARM_UP_S = 1.0


def _settings(url: str) -> Settings:
    return Settings(nats_url=url, stream=STREAM, subject_prefix=PREFIX, timeout_s=10)


def _deliver(url: str, views: str, stop: Any, ready: Any) -> None:
    """The delivery service's process: follow the stream until ``stop`` is set."""
    from consumers.manager import DeliveryPolicy, delivery_runner
    from projections.sqlite import SQLiteViewStore

    w.quiet_logs()
    settings = _settings(url)
    ledger = Ledger(env=settings.persistence_env(url))
    store = SQLiteViewStore(views)
    runner = delivery_runner(
        ledger,
        store,
        DeliveryPolicy(batch_size=200),
        stream=settings.stream,
        subject_prefix=settings.subject_prefix,
        replicas=settings.replicas,
    )

    def stop_when_told() -> None:
        stop.wait()
        runner.stop()

    threading.Thread(target=stop_when_told, daemon=True).start()
    ready.set()
    runner.follow()
    store.close()
    ledger.close()


def _agencies(url: str, stop: Any, ready: Any, out: Any) -> None:
    """The agencies' process: four clients noting (sequence, agency, received at)."""
    from consumers.client import AgencySubscription

    w.quiet_logs()
    received: list[tuple[int, str, int]] = []

    async def one(agency: str, done: asyncio.Event) -> None:
        async with AgencySubscription.connect(
            url, agency=agency, stream=STREAM, subject_prefix=PREFIX, poll=0.5
        ) as sub:

            async def handler(delivery: Any) -> None:
                received.append((delivery.sequence, agency, time.monotonic_ns()))

            await sub.run(handler, stop=done)

    async def main() -> None:
        done = asyncio.Event()
        tasks = [asyncio.create_task(one(a, done)) for a in ("la", *PARTNERS)]
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        done.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    out.put(received)


def _setup(ledger: Ledger) -> list[str]:
    ledger.establish_partnership(
        partnership=P,
        recorded_by=LA,
        name="Delivery bench partnership",
        nation="england",
        escalation_stages=[{"stage": 1, "title": "Practitioners", "response_working_days": 5}],
    )
    for agency in ("la", *PARTNERS):
        ledger.register_agency(
            partnership=P,
            recorded_by=LA,
            agency=agency,
            name=agency,
            kind="other",
            role="relevant_agency",
        )
    cases = []
    for n in range(CASES):
        case = f"d{n}"
        ledger.open_case(
            partnership=P,
            case=case,
            recorded_by=LA,
            children=[{"child": f"ch_{n:016x}", "age_band": "5_9"}],
        )
        ledger.join_case(partnership=P, case=case, recorded_by=LA, agency=PARTNERS[n % 3])
        cases.append(case)
    return cases


def delivery_suite(url: str, tmp: Path, *, quick: bool, console: Console) -> dict[str, Any]:
    """Record at 1,000 events a second and time each delivery to an agency's handler."""
    seconds = 3.0 if quick else 8.0
    settings = _settings(url)
    ledger = Ledger(env=settings.persistence_env(url))
    cases = _setup(ledger)
    ctx = mp.get_context("spawn")
    stop, delivering, listening = ctx.Event(), ctx.Event(), ctx.Event()
    out = ctx.Queue()
    deliverer = ctx.Process(
        target=_deliver, args=(url, str(tmp / "delivery.sqlite"), stop, delivering)
    )
    agencies = ctx.Process(target=_agencies, args=(url, stop, listening, out))
    deliverer.start()
    delivering.wait(60)
    time.sleep(1.0)  # the agencies' consumers exist once the setup is delivered
    agencies.start()
    listening.wait(60)
    time.sleep(1.0)
    returned: dict[int, int] = {}
    started = time.monotonic()
    count = int(seconds * RATE)
    for i in range(count):
        due = started + i / RATE
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        receipt = ledger.record_action(
            partnership=P, case=cases[i % CASES], recorded_by=LA, action="home_visit"
        )
        returned[receipt.sequence] = time.monotonic_ns()
    achieved = count / (time.monotonic() - started)
    time.sleep(2.0)
    stop.set()
    received: list[tuple[int, str, int]] = out.get(timeout=60)
    agencies.join(30)
    deliverer.join(30)
    ledger.close()
    warm = started + WARM_UP_S
    latencies = [
        (at - returned[seq]) / 1e6
        for seq, _, at in received
        if seq in returned and returned[seq] / 1e9 >= warm
    ]
    expected = sum(2 for seq, t in returned.items() if t / 1e9 >= warm)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    console.log(
        f"delivery: {len(latencies):,} of {expected:,} deliveries timed at {achieved:,.0f}"
        f" events/s; p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms"
    )
    return {
        "delivery_p95_ms": round(p95, 2),
        "meta_delivery": {
            "events_per_s": round(achieved, 1),
            "offered_events_per_s": RATE,
            "sync_interval": os.environ.get("BENCH_SYNC_INTERVAL", "always"),
            "seconds": seconds,
            "deliveries_timed": len(latencies),
            "deliveries_expected": expected,
            "p50_ms": round(statistics.median(latencies), 2),
            "max_ms": round(max(latencies), 2),
            "agencies": 4,
            "parties_per_case": 2,
        },
    }
