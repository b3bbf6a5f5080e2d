"""The steps of one unit of work, ordered for recording; weighted choices for planners."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final

from runtime.synthetic._clock import _SECOND, END, START, _delay
from runtime.synthetic._partnerships import _Partnership
from runtime.synthetic._step import _SOURCES, _actor, _Step
from schemas import RecordedBy

_LATE_SHARE: Final = 0.08  # of the steps that may be late; about 3 % of all events
_EXPLAINED_SHARE: Final = 0.6


class _Plan:
    """The steps of one unit of work, as it is built; ``finish`` orders them for recording."""

    def __init__(self, rng: random.Random, partnership: _Partnership) -> None:
        self.rng = rng
        self.p = partnership
        self.steps: list[_Step] = []
        self._actors: dict[str, RecordedBy] = {}

    def actor(self, agency: str) -> RecordedBy:
        found = self._actors.get(agency)
        if found is None:
            found = self._actors[agency] = _actor(agency, self.rng.randrange(1, 9))
        return found

    def add(
        self,
        aggregate: str,
        command: str,
        at: datetime,
        agency: str,
        deps: Iterable[int],
        /,
        *,
        may_be_late: bool = False,
        final: bool = False,
        source: str = "case_record",
        **kwargs: Any,
    ) -> int:
        kwargs.update(partnership=self.p.ident, recorded_by=self.actor(agency))
        kwargs["source"] = _SOURCES[source]
        step = _Step(
            len(self.steps), aggregate, command, at, kwargs, tuple(deps), may_be_late, final
        )
        self.steps.append(step)
        return step.index

    def finish(self) -> list[_Step]:
        """Stamp each step's ``recorded_at``, add explanations, order, cut at :data:`END`.

        A step is recorded after everything it depends on (every dependency was added
        before it, so one pass in index order will do); a final step (a case's closure)
        after every step of its aggregate. Sorting by ``recorded_at`` keeps each
        dependency before its dependant, so every prefix of the result is legal.
        """
        rng = self.rng
        steps = self.steps
        closes = {s.aggregate: s.occurred_at for s in steps if s.final}
        extra: list[_Step] = []
        for step in steps:
            if step.final:
                continue
            at = step.occurred_at + _delay(rng)
            explain = False
            if step.may_be_late and rng.random() < _LATE_SHARE:
                late = step.occurred_at + timedelta(days=rng.uniform(2, 42))
                if late < closes.get(step.aggregate, END):
                    at, explain = late, rng.random() < _EXPLAINED_SHARE
            for dep in step.deps:
                at = max(at, steps[dep].recorded_at + _SECOND)
            step.recorded_at = at
            if explain:
                extra.append(self._explanation(step, len(steps) + len(extra)))
        last: dict[str, datetime] = {}
        for step in (*steps, *extra):
            if not step.final and step.recorded_at > last.get(step.aggregate, START):
                last[step.aggregate] = step.recorded_at
        for step in steps:
            if step.final:
                at = step.occurred_at + _delay(rng)
                step.recorded_at = max(at, last.get(step.aggregate, START) + _SECOND)
        done = [s for s in (*steps, *extra) if s.recorded_at <= END]
        done.sort(key=lambda s: (s.recorded_at, s.index))
        return done

    def _explanation(self, step: _Step, index: int) -> _Step:
        at = step.recorded_at + timedelta(minutes=self.rng.uniform(5, 600))
        reason = self.rng.choice(_LATE_REASONS)
        kwargs = {
            "partnership": self.p.ident,
            "case": step.kwargs["case"],
            "recorded_by": step.kwargs["recorded_by"],
            "source": _SOURCES["case_record"],
            "reason": reason,
        }
        recorded_at = at + timedelta(minutes=self.rng.uniform(1, 30))
        return _Step(
            index,
            step.aggregate,
            "explain_late_recording",
            at,
            kwargs,
            (step.index,),
            False,
            False,
            recorded_at,
            explains=step.index,
        )


_LATE_REASONS: Final = (
    "Recorded late: practitioner absence (synthetic).",
    "Recorded late: case record system unavailable (synthetic).",
    "Recorded late: notes awaited from another team (synthetic).",
    "Recorded late: workload (synthetic).",
)


class _Weights:
    """Weighted choices from a compact table such as ``"neglect:30 other:5"``."""

    def __init__(self, table: str) -> None:
        pairs = [item.split(":") for item in table.split()]
        self.keys = tuple(key for key, _ in pairs)
        self.cumulative = tuple(itertools.accumulate(int(weight) for _, weight in pairs))

    def pick(self, rng: random.Random) -> str:
        return self.keys[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]
