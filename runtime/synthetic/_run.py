"""Writing the plan through the ledger: setup, then units on worker threads."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from ledger.application import Ledger, Receipt
from ledger.errors import AggregateNotFound
from runtime.synthetic._clock import LATE, SimulatedClock
from runtime.synthetic._partnerships import _partnerships, _setup_steps
from runtime.synthetic._step import _Step
from runtime.synthetic._units import REVIEW_EVERY, _units

_PROGRESS_EVERY: Final = 64


@dataclass(frozen=True)
class GeneratedSummary:
    """What :func:`generate` wrote."""

    #: Events written, setup included: exactly what was asked unless the setup alone is more.
    events: int
    seconds: float
    partnerships: tuple[str, ...]
    cases: int
    challenges: int
    reviews: int
    #: Events recorded more than :data:`LATE` after they occurred, and how many got a reason.
    late_recorded: int
    late_explained: int
    #: ``<partnership>.case.<id>`` of the big case, if one was asked for.
    big_case: str | None
    #: Event type tag -> count.
    by_type: Mapping[str, int]

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class _Tally:
    """What one thread wrote."""

    def __init__(self) -> None:
        self.by_type: Counter[str] = Counter()
        self.late = 0
        self.explained = 0


def _execute(
    ledger: Ledger,
    clock: SimulatedClock,
    steps: Sequence[_Step],
    tally: _Tally,
    progress: Callable[[int], None] | None,
) -> None:
    wanted = {s.explains for s in steps if s.explains >= 0}
    sequences: dict[int, int] = {}
    pending = 0
    for step in steps:
        clock.set(step.recorded_at)
        kwargs = step.kwargs
        if step.explains >= 0:
            kwargs = {**kwargs, "event_sequence": sequences[step.explains]}
            tally.explained += 1
        receipt: Receipt = getattr(ledger, step.command)(occurred_at=step.occurred_at, **kwargs)
        if step.index in wanted:
            sequences[step.index] = receipt.sequence
        tally.by_type[receipt.event_type] += 1
        if step.recorded_at - step.occurred_at > LATE:
            tally.late += 1
        pending += 1
        if progress is not None and pending >= _PROGRESS_EVERY:
            progress(pending)
            pending = 0
    if progress is not None and pending:
        progress(pending)


def generate(
    ledger: Ledger | Mapping[str, str],
    *,
    events: int,
    seed: int = 1,
    clock: SimulatedClock | None = None,
    workers: int = 8,
    big_case_events: int = 0,
    reviews_every: int = REVIEW_EVERY,
    progress: Callable[[int], None] | None = None,
) -> GeneratedSummary:
    """Write a synthetic partnership of exactly ``events`` events through the ledger's commands.

    ``ledger`` is a :class:`Ledger` built with ``clock=clock`` (a :class:`SimulatedClock`,
    also passed here), or the eventsourcing environment to build one from (closed at the
    end). The partnerships are set up first on this thread; then ``workers`` threads
    write units of work (each its own case, challenges and review, so they never contend
    on an aggregate). Units 1, ``reviews_every + 1``, ``2 * reviews_every + 1``, ...
    (counted from 0) have a serious incident on their case: a small run that wants several
    reviews asks for them more often than the default. ``progress(n)`` is called from the writing
    threads each time ``n`` more events were written. Raises ``ValueError`` if a
    partnership exists already or ``reviews_every`` is below 2.
    """
    if reviews_every < 2:
        raise ValueError(f"reviews_every is {reviews_every}: a review every N units needs N >= 2")
    if isinstance(ledger, Ledger):
        if clock is None:
            raise ValueError("pass the SimulatedClock the Ledger was built with as clock=")
        return _generate(
            ledger, clock, events, seed, workers, big_case_events, reviews_every, progress
        )
    clock = SimulatedClock()
    app = Ledger(env=dict(ledger), clock=clock)
    try:
        return _generate(
            app, clock, events, seed, workers, big_case_events, reviews_every, progress
        )
    finally:
        app.close()


def _generate(
    ledger: Ledger,
    clock: SimulatedClock,
    events: int,
    seed: int,
    workers: int,
    big_case_events: int,
    reviews_every: int,
    progress: Callable[[int], None] | None,
) -> GeneratedSummary:
    partnerships = _partnerships(seed)
    for p in partnerships:
        with contextlib.suppress(AggregateNotFound):
            ledger.get_partnership(p.ident)
            raise ValueError(f"partnership '{p.ident}' exists already: use another stream")
    began = time.perf_counter()
    setup = _setup_steps(partnerships)
    tallies = [_Tally() for _ in range(max(workers, 1) + 1)]
    _execute(ledger, clock, setup, tallies[-1], progress)
    work: queue.Queue[list[_Step] | None] = queue.Queue(maxsize=4 * len(tallies))
    failures: list[BaseException] = []
    stop = threading.Event()

    def worker(tally: _Tally) -> None:
        while (steps := work.get()) is not None:
            if failures or stop.is_set():
                continue  # drain, so that the planner never blocks
            try:
                _execute(ledger, clock, steps, tally, progress)
            except BaseException as error:  # noqa: BLE001 - re-raised on the calling thread
                failures.append(error)

    threads = [
        threading.Thread(target=worker, args=(tally,), name=f"synthetic-{n}", daemon=True)
        for n, tally in enumerate(tallies[:-1])
    ]
    for thread in threads:
        thread.start()
    try:
        budget = events - len(setup)
        for steps in _units(seed, budget, big_case_events, partnerships, reviews_every):
            if failures:
                break
            work.put(steps)
    except BaseException:
        stop.set()  # interrupted: what is queued is not written
        raise
    finally:
        for _ in threads:
            work.put(None)
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    seconds = time.perf_counter() - began
    by_type: Counter[str] = Counter()
    for tally in tallies:
        by_type.update(tally.by_type)
    return GeneratedSummary(
        events=sum(by_type.values()),
        seconds=seconds,
        partnerships=tuple(p.ident for p in partnerships),
        cases=by_type["CaseOpened"],
        challenges=by_type["ChallengeRaised"],
        reviews=by_type["SeriousIncidentNotified"],
        late_recorded=sum(t.late for t in tallies),
        late_explained=sum(t.explained for t in tallies),
        big_case=f"{partnerships[0].ident}.case.c-big" if big_case_events > 0 else None,
        by_type=dict(by_type),
    )
