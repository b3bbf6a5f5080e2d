"""CPU of the delivery worker per delivered event, with and without its publishes.

``python -m bench.delivery_cpu``: not a suite of ``make bench`` but a focused measure for
one question: how much of the delivery worker's CPU goes to publishing to the delivery
stream. It fills a ledger stream with ``BENCH_EVENTS`` case events (default 3,000; every
case has two parties, so each event is two messages), then runs the delivery view's
catch-up over them in this process, timed with ``time.process_time`` (this process's
CPU only: the server's is not counted), three ways per batch size:

* ``none``: the view with a publisher that drops its messages (reading and applying);
* ``nats-py``: the publisher over nats-py (``ledger.nats`` pool; what ``tls://`` uses);
* ``wire``: the publisher over the synchronous wire (plain ``nats://``).

The publish cost per event is the publisher's figure less ``none``'s. Batch size 1 is
what following looks like at a modest rate (each new event its own batch); 500 is a
catch-up. Each delivery stream is deleted before a run so the server stores every copy.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from nats.js.errors import NotFoundError

from bench import _workload as w
from bench._delivery import LA, P, _setup
from consumers import manager
from consumers.delivery import DeliveryView, Outgoing
from ledger.application import Ledger
from projections.runner import ViewRunner
from projections.sqlite import SQLiteViewStore
from runtime.embedded import EmbeddedNats
from runtime.settings import Settings
from schemas.wire import delivery_stream

STREAM = "DCPU"
PREFIX = "dcpu"
EVENTS = int(os.environ.get("BENCH_EVENTS", "3000"))


def _publisher(mode: str, ledger: Ledger) -> Callable[[Sequence[Outgoing]], None]:
    if mode == "none":
        return lambda outgoing: None
    policy = manager.DeliveryPolicy()
    publisher = manager._Publisher(ledger, policy, stream=STREAM, subject_prefix=PREFIX)
    if mode == "nats-py" and hasattr(publisher, "_wire"):
        publisher._wire = None  # force the nats-py path
    return publisher


def _reset_delivery_stream(ledger: Ledger) -> None:
    async def reset(nc: object) -> None:
        js = nc.jetstream()  # type: ignore[attr-defined]
        with contextlib.suppress(NotFoundError):  # not there yet
            await js.delete_stream(delivery_stream(STREAM))
        await manager.ensure_delivery_stream(
            nc,  # type: ignore[arg-type]
            manager.DeliveryPolicy(),
            stream=STREAM,
            subject_prefix=PREFIX,
        )

    ledger.recorder.pool.run(reset)  # type: ignore[attr-defined]


def _run(ledger: Ledger, tmp: Path, mode: str, batch: int) -> tuple[float, int]:
    _reset_delivery_stream(ledger)
    store = SQLiteViewStore(str(tmp / f"views-{mode}-{batch}-{time.monotonic_ns()}.sqlite"))
    view = DeliveryView(store, publish=_publisher(mode, ledger), subject_prefix=PREFIX)
    runner = ViewRunner(ledger, store, [view], batch_size=batch)
    started = time.process_time()
    applied = runner.catch_up()
    cpu = time.process_time() - started
    store.close()
    return cpu, applied.events


def main() -> None:
    w.quiet_logs()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedNats(Path(tmp) / "nats") as server:
        settings = Settings(nats_url=server.url, stream=STREAM, subject_prefix=PREFIX)
        ledger = Ledger(env=settings.persistence_env(server.url))
        cases = _setup(ledger)
        for i in range(EVENTS):
            ledger.record_action(
                partnership=P, case=cases[i % len(cases)], recorded_by=LA, action="home_visit"
            )
        print(f"{EVENTS} home visits recorded (+ setup); CPU µs per event of the catch-up:")
        for batch in (1, 500):
            results = {}
            for mode in ("none", "nats-py", "wire", "none", "nats-py", "wire"):
                cpu, applied = _run(ledger, Path(tmp), mode, batch)
                per = cpu / applied * 1e6
                results[mode] = min(results.get(mode, per), per)
            base = results["none"]
            print(
                f"  batch {batch:>3}: none {base:6.1f}  "
                + "  ".join(
                    f"{m} {results[m]:6.1f} (publish {results[m] - base:6.1f})"
                    for m in ("nats-py", "wire")
                )
            )
        ledger.close()


if __name__ == "__main__":
    main()
