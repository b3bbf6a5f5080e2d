"""A seeded synthetic safeguarding partnership, written through the real ``Ledger`` commands.

Every event goes through :class:`ledger.application.Ledger`: the schema validates it and
the aggregates check their rules, so the stream holds only legal histories. The ledger's
``clock`` is a :class:`SimulatedClock`, so ``recorded_at`` follows a simulated timeline
from 2024-01-01 to 2025-12-31 (UTC) instead of the wall clock.

What is generated (``random.Random`` seeded per unit of work, so the same seed and
parameters give the same commands on every aggregate, whatever the thread count):

* **Partnerships**: ``northvale`` and ``southmere`` (England, three escalation stages) and
  ``glanrhyd`` (Wales, four), each with 30-60 agencies: children's social care, police
  and the health board (statutory partners, each with a signing key), NHS trusts, GP
  practices, 14-30 schools, probation, housing, voluntary and other services. Cases are
  spread 45 / 35 / 20 % over them. Set up first, on one thread, in November 2023.
* **Cases** open at a uniformly random time of the two years, about one to four children
  each (pseudonymous ``ch_<hex>`` tokens from a hash of seed and index; an unborn child
  gets ``ChildIdentifierUnknown``, 4 % of cases link a second token), led by children's
  social care and referred by police, health, a school or another agency. The referral
  decision comes within 0-1 working days for 80 % (2-3 for 12 %, 4-10 for 8 %) and is
  no further action 25 %, early help 15 %, section 17 30 %, section 47 30 %. A section 47
  case has a significant-harm concern, a strategy discussion (on time for 80 %), the
  enquiry, children seen (alone or not, by age), an initial conference (within 15
  working days for 75 %), a protection plan of 3-24 months with visits every ~10
  working days, core groups, review conferences at 3 then every 6 months, and closes
  when the plan ends. Assessments finish within 45 working days for 85 %. Information
  requests are answered (72 %), refused with a stated basis (10 %: more detrimental to
  the child, consent, legal prohibition, no stated basis, other), reported unanswered
  (8 %) or left open; agencies miss meetings (6 % per agency and meeting) and 20 % of
  the partner agencies leave a case before it ends. A case still running on 2025-12-31
  stays open; the rest close.
* **Challenges** on 18 % of cases (a second on 5 %) and on 5 % of units without a case:
  raised at stage 1, answered (80 %, mostly within the stage's working days), escalated
  to stage 2 and 3, resolved with an outcome, withdrawn, or left open.
* **Reviews**: every 120th unit (the first early in 2024, so that even a small run has a
  published review) has a serious incident on its (section 47) case:
  notification (within 5 working days for 85 %), rapid review, local or national review
  commissioned and published, 3-8 recommendations to registered owners, accepted (80 %)
  or rejected (10 %), progress reported red/amber/green, implemented (70 % of accepted,
  some after the due date) or left overdue.
* **Recording**: events are recorded minutes to hours after they occurred; about 3 % of
  all events (actions, concerns, non-attendance) are recorded 2-42 days late, and 60 %
  of those are followed by ``LateRecordingExplained``. ``recorded_at`` is never before
  ``occurred_at``. Free text is only the short neutral phrases the schema requires.

``events`` is met exactly: units are planned one after another until the total reaches
it, and the last one is cut short (a prefix of a legal history is legal). With
``big_case_events`` one extra case gets that many events, spread over the two years.

Run it (the embedded nats-server in a temporary directory unless told otherwise)::

    .venv/bin/python -m bench.synthetic --events 200000 --seed 1
    .venv/bin/python -m bench.synthetic --events 1000000 --data-dir .ledger-synthetic
    .venv/bin/python -m bench.synthetic --events 50000 --nats-url nats://127.0.0.1:4222 \\
        --stream SYNTHETIC --subject-prefix synthetic --big-case-events 10000
"""

from __future__ import annotations

import argparse
import base64
import bisect
import contextlib
import hashlib
import itertools
import queue
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ledger.application import Ledger, Receipt
from ledger.embedded import EmbeddedNats
from ledger.errors import AggregateNotFound
from ledger.logging import configure_logging
from ledger.settings import Settings
from schemas import RecordedBy, Source, SourceKind, Theme

__all__ = ["END", "LATE", "START", "GeneratedSummary", "SimulatedClock", "generate", "main"]

#: The simulated timeline: every case, challenge and review event lies in it.
START: Final = datetime(2024, 1, 1, tzinfo=UTC)
END: Final = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
#: An event recorded more than this after it occurred counts as recorded late.
LATE: Final = timedelta(days=1)

_SETUP_AT: Final = datetime(2023, 11, 1, 9, 0, tzinfo=UTC)
_REVIEW_EVERY: Final = 120
_LATE_SHARE: Final = 0.08  # of the steps that may be late; about 3 % of all events
_EXPLAINED_SHARE: Final = 0.6
_PROGRESS_EVERY: Final = 64
_SECOND: Final = timedelta(seconds=1)
_SOURCES: Final = {kind.value: Source(kind=kind) for kind in SourceKind}


class SimulatedClock:
    """The ledger's clock on a simulated timeline: each thread sets its own "now".

    Pass it as ``Ledger(clock=...)``; the generator calls :meth:`set` before every
    command, so threads writing different cases never see each other's time.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def set(self, now: datetime) -> None:
        """Make ``now`` this thread's time until the next call."""
        self._local.now = now

    def __call__(self) -> datetime:
        now: datetime | None = getattr(self._local, "now", None)
        if now is None:
            raise RuntimeError("SimulatedClock.set() was not called in this thread")
        return now


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


# -- the partnerships -----------------------------------------------------------------


@dataclass(frozen=True)
class _Partnership:
    ident: str
    name: str
    nation: str
    stage_days: tuple[int, ...]
    strategy_days: int
    weight: float
    agencies: tuple[tuple[str, str, str, str], ...]  # (id, kind, role, name)
    by_kind: Mapping[str, tuple[str, ...]]

    @property
    def csc(self) -> str:
        return self.by_kind["csc"][0]


_PARTNERSHIPS: Final = (
    ("northvale", "Northvale Safeguarding Children Partnership", "england", (5, 5, 10), 0.45),
    ("southmere", "Southmere Safeguarding Children Partnership", "england", (5, 5, 10), 0.35),
    ("glanrhyd", "Glanrhyd Regional Safeguarding Children Board", "wales", (5, 5, 10, 10), 0.2),
)
#: group, kind, role, name, (fewest, most)
_AGENCY_MIX: Final = (
    ("csc", "local_authority", "statutory_partner", "Children's Social Care", (1, 1)),
    ("police", "police", "statutory_partner", "Police", (1, 1)),
    ("icb", "health", "statutory_partner", "Health Board", (1, 1)),
    ("trust", "health", "relevant_agency", "NHS Trust", (2, 4)),
    ("gp", "health", "relevant_agency", "GP Practice", (2, 6)),
    ("school", "school", "relevant_agency", "School", (14, 30)),
    ("probation", "probation", "relevant_agency", "Probation Service", (1, 1)),
    ("housing", "housing", "relevant_agency", "Housing Provider", (2, 4)),
    ("vcs", "voluntary", "relevant_agency", "Voluntary Organisation", (3, 8)),
    ("edu", "local_authority", "relevant_agency", "Education Services", (1, 1)),
    ("yjs", "other", "relevant_agency", "Youth Justice Service", (1, 1)),
)
_STAGE_TITLES: Final = ("Practitioners", "Team managers", "Heads of service", "Directors")


def _partnerships(seed: int) -> tuple[_Partnership, ...]:
    rng = random.Random(f"{seed}/partnerships")
    out = []
    for ident, name, nation, stage_days, weight in _PARTNERSHIPS:
        place = name.split()[0]
        agencies: list[tuple[str, str, str, str]] = []
        by_kind: dict[str, tuple[str, ...]] = {}
        for group, kind, role, label, (low, high) in _AGENCY_MIX:
            count = rng.randint(low, high)
            ids = tuple(
                f"{ident}-{group}" if high == 1 else f"{ident}-{group}-{n:02d}"
                for n in range(1, count + 1)
            )
            by_kind[group] = ids
            for n, agency in enumerate(ids, 1):
                title = f"{place} {label}" if high == 1 else f"{place} {label} {n:02d}"
                agencies.append((agency, kind, role, title))
        out.append(
            _Partnership(ident, name, nation, stage_days, 3, weight, tuple(agencies), by_kind)
        )
    return tuple(out)


@dataclass(slots=True, eq=False)
class _Step:
    """One command of a plan: what, when it occurred, and what must be recorded before it."""

    index: int
    aggregate: str
    command: str
    occurred_at: datetime
    kwargs: dict[str, Any]
    deps: tuple[int, ...]
    may_be_late: bool
    final: bool
    recorded_at: datetime = START
    explains: int = -1


def _actor(agency: str, n: int) -> RecordedBy:
    digest = hashlib.blake2s(f"{agency}/{n}".encode(), digest_size=6).hexdigest()
    return RecordedBy(agency=agency, actor=f"act_{digest}")


def _setup_steps(partnerships: Sequence[_Partnership]) -> list[_Step]:
    steps: list[_Step] = []
    at = _SETUP_AT

    def add(command: str, by: str, **kwargs: Any) -> None:
        nonlocal at
        at += timedelta(minutes=7)
        kwargs.update(recorded_by=_actor(by, 0), source=_SOURCES["system"])
        steps.append(_Step(len(steps), "setup", command, at, kwargs, (), False, False, at))

    for p in partnerships:
        stages = [
            {"stage": n, "title": _STAGE_TITLES[n - 1], "response_working_days": days}
            for n, days in enumerate(p.stage_days, 1)
        ]
        add(
            "establish_partnership",
            p.csc,
            partnership=p.ident,
            name=p.name,
            nation=p.nation,
            escalation_stages=stages,
            strategy_discussion_working_days=p.strategy_days,
        )
        for agency, kind, role, name in p.agencies:
            add(
                "register_agency",
                p.csc,
                partnership=p.ident,
                agency=agency,
                name=name,
                kind=kind,
                role=role,
            )
        for agency in (p.csc, p.by_kind["police"][0], p.by_kind["icb"][0]):
            key = base64.b64encode(hashlib.sha256(agency.encode()).digest()).decode()
            add(
                "register_agency_key",
                agency,
                partnership=p.ident,
                agency=agency,
                key_id="k1",
                public_key=key,
            )
    return steps


# -- time -------------------------------------------------------------------------------


def _workdays(t: datetime, days: int) -> datetime:
    """``t`` moved on by ``days`` working days (Monday to Friday), same time of day."""
    weeks, days = divmod(days, 5)
    if weeks and not days:
        weeks, days = weeks - 1, 5
    t += timedelta(days=7 * weeks)  # any seven days hold five working days
    while days > 0:
        t += timedelta(days=1)
        if t.weekday() < 5:
            days -= 1
    return t


def _office(rng: random.Random, t: datetime) -> datetime:
    """A time in office hours on ``t``'s day, or the next working day, not before ``t``."""
    while t.weekday() >= 5:
        t += timedelta(days=1)
    start = t.replace(hour=8, minute=30, second=0, microsecond=0)
    moment = start + timedelta(minutes=rng.uniform(0, 540))
    return moment if moment > t else t + timedelta(minutes=rng.uniform(10, 120))


def _delay(rng: random.Random) -> timedelta:
    """How long after it occurred an event in time is recorded: minutes to hours."""
    x = rng.random()
    if x < 0.6:
        return timedelta(minutes=rng.uniform(1, 60))
    if x < 0.93:
        return timedelta(minutes=rng.uniform(60, 480))
    return timedelta(minutes=rng.uniform(480, 1200))


# -- one unit of work: a case and what hangs off it --------------------------------------


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


_AGE_BANDS: Final = _Weights("unborn:4 under_1:10 1_4:22 5_9:26 10_15:28 16_17:10")
_REFERRERS: Final = _Weights("police:30 school:25 icb:8 trust:10 gp:7 housing:5 vcs:10 yjs:5")
_PARTNERS: Final = _Weights(
    "police:12 school:25 trust:14 gp:12 icb:6 housing:8 vcs:10 probation:6 yjs:4 edu:3"
)
_DECISIONS: Final = _Weights("no_further_action:25 early_help:15 section17:30 section47:30")
_REFUSAL_BASES: Final = _Weights(
    "more_detrimental_to_child:25 consent_not_given:25 legal_prohibition:12 no_stated_basis:28 "
    "other:10"
)
_CONCERNS: Final = _Weights(
    "neglect:30 domestic_abuse:22 emotional_abuse:14 physical_abuse:14 exploitation:10 "
    "sexual_abuse:5 other:5"
)
_CLOSURES: Final = _Weights("no_further_action:60 moved_area:15 other:25")
_MATTERS: Final = _Weights(
    "threshold_decision:30 information_sharing:25 plan_or_decision:20 attendance:10 "
    "case_closure:10 other:5"
)
_STANDALONE_MATTERS: Final = _Weights("attendance:40 information_sharing:40 other:20")
_OUTCOMES: Final = _Weights("upheld:30 partially_upheld:25 not_upheld:20 agreed_way_forward:25")
_RAPID: Final = _Weights("local_review:60 national_review:12 no_review:28")
_THEMES: Final = tuple(theme.value for theme in Theme)
_RAG: Final = ("amber", "green", "red")


class _Case:
    """Plans one case along the statutory flow, on a :class:`_Plan`."""

    def __init__(self, plan: _Plan, ident: str, start: datetime, children: Sequence[str]):
        self.plan, self.rng, self.p = plan, plan.rng, plan.p
        self.ident = ident
        self.start = start
        self.lead = self.p.csc
        rng = self.rng
        self.children = [(c, _AGE_BANDS.pick(rng)) for c in children]
        self.seeable = [(c, b) for c, b in self.children if b != "unborn"] or [
            (children[0], "under_1")
        ]
        self.joined: dict[str, int] = {}
        self.touches: dict[str, list[int]] = {}
        self.leaving: set[str] = set()
        self.open_idx = -1
        self.last = start
        self.requests = 0
        self.concerns = 0

    # -- steps --------------------------------------------------------------------

    def step(
        self,
        command: str,
        at: datetime,
        agency: str,
        /,
        *,
        names: Sequence[str] = (),
        deps: Sequence[int] = (),
        late_ok: bool = False,
        final: bool = False,
        source: str = "case_record",
        **kwargs: Any,
    ) -> int:
        involved = (agency, *names)
        needs = [self.open_idx] if self.open_idx >= 0 else []
        needs += [self.joined[a] for a in involved if a in self.joined]
        needs += deps
        late_ok = late_ok and not any(a in self.leaving for a in involved)
        index = self.plan.add(
            "case",
            command,
            at,
            agency,
            needs,
            may_be_late=late_ok,
            final=final,
            source=source,
            case=self.ident,
            **kwargs,
        )
        for a in involved:
            self.touches.setdefault(a, []).append(index)
        self.last = max(self.last, at)
        return index

    def action(self, at: datetime, action: str, agency: str | None = None, **kwargs: Any) -> int:
        late_ok = action in {"child_seen", "home_visit", "information_shared", "plan_reviewed"}
        return self.step(
            "record_action", at, agency or self.lead, late_ok=late_ok, action=action, **kwargs
        )

    def join(self, agency: str, at: datetime) -> None:
        if agency in self.joined or agency == self.lead:
            return
        self.joined[agency] = self.step("join_case", at, self.lead, names=(agency,), agency=agency)
        if self.rng.random() < 0.2:
            self.leaving.add(agency)

    def partner(self, at: datetime, exclude: Sequence[str] = ()) -> str:
        """A partner agency of the case, joined at ``at`` if it is a new one."""
        rng = self.rng
        current = [a for a in self.joined if a not in exclude and a not in self.leaving]
        if current and rng.random() < 0.6:
            return rng.choice(current)
        agency = rng.choice(self.p.by_kind[_PARTNERS.pick(rng)])
        self.join(agency, at)
        return agency

    def visit(self, at: datetime, agency: str | None = None) -> None:
        rng = self.rng
        child, band = rng.choice(self.seeable)
        seen = rng.random() < 0.9
        young = band in {"under_1", "1_4", "unborn"}
        kwargs: dict[str, Any] = {"child": child, "seen": seen}
        if seen:
            kwargs["seen_alone"] = (not young) and rng.random() < 0.65
        action = "child_seen" if rng.random() < 0.6 else "home_visit"
        self.action(at, action, agency, **kwargs)

    def request(self, at: datetime, frm: str, to: str) -> None:
        rng = self.rng
        self.requests += 1
        rq = f"rq-{self.requests}"
        due = _workdays(at, 5) if rng.random() < 0.5 else None
        req = self.step(
            "request_information",
            at,
            frm,
            names=(to,),
            source="email",
            request=rq,
            from_agency=frm,
            to_agency=to,
            due_by=due,
        )
        x = rng.random()
        if x < 0.72:
            when = _office(rng, _workdays(at, rng.randint(1, 10)))
            self.step(
                "provide_information",
                when,
                to,
                deps=(req,),
                source="email",
                request=rq,
                by_agency=to,
            )
        elif x < 0.82:
            when = _office(rng, _workdays(at, rng.randint(1, 8)))
            basis = _REFUSAL_BASES.pick(rng)
            self.refuse(when, to, to, "information_withheld", basis, request=rq, after=req)
        elif x < 0.9:
            when = _office(rng, _workdays(at, rng.randint(10, 20)))
            basis = "no_stated_basis"
            self.refuse(when, frm, to, "request_not_answered", basis, request=rq, after=req)

    def refuse(
        self,
        at: datetime,
        by: str,
        agency: str,
        kind: str,
        basis: str,
        *,
        request: str | None = None,
        after: int | None = None,
    ) -> None:
        """``by`` records that the party ``agency`` did not cooperate (``kind``, ``basis``)."""
        names = () if by == agency else (agency,)
        deps = () if after is None else (after,)
        self.step(
            "refuse_cooperation",
            at,
            by,
            names=names,
            deps=deps,
            late_ok=request is None,
            agency=agency,
            kind=kind,
            basis=basis,
            request=request,
        )

    def meeting(self, at: datetime, action: str, outcome: str | None) -> None:
        rng = self.rng
        self.action(at, action, source="meeting_minutes", outcome=outcome)
        for agency in list(self.joined):
            if agency in self.leaving:
                continue
            x = rng.random()
            when = at + timedelta(minutes=rng.uniform(30, 240))
            if x < 0.06:
                basis = "no_stated_basis" if rng.random() < 0.6 else "other"
                self.refuse(when, self.lead, agency, "meeting_not_attended", basis)
            elif x < 0.08:
                basis = _REFUSAL_BASES.pick(rng)
                self.refuse(when, self.lead, agency, "report_not_provided", basis)

    def concern(self, at: datetime, agency: str, kind: str) -> None:
        self.concerns += 1
        child = self.rng.choice(self.children)[0]
        self.step(
            "raise_concern",
            at,
            agency,
            late_ok=True,
            concern=f"cn-{self.concerns}",
            kind=kind,
            child=child,
        )

    # -- the flow -----------------------------------------------------------------

    def open(self, referrer: str) -> None:
        rng, t = self.rng, self.start
        children = [{"child": c, "age_band": b} for c, b in self.children]
        self.open_idx = self.step(
            "open_case",
            t,
            self.lead,
            source="referral_form",
            children=children,
            lead_agency=self.lead,
        )
        self.action(
            t + timedelta(minutes=3),
            "referral_received",
            source="referral_form",
            child=self.children[0][0],
        )
        self.join(referrer, t + timedelta(minutes=9))
        for child, band in self.children:
            if band == "unborn":
                self.step(
                    "record_unknown_identifier",
                    t + timedelta(minutes=20),
                    self.lead,
                    child=child,
                    reason="unborn",
                )
        if rng.random() < 0.04:
            child = self.children[0][0]
            token = "ch_" + hashlib.sha256(f"{self.ident}/{child}".encode()).hexdigest()[:32]
            self.step(
                "link_child_identifier",
                _office(rng, t + timedelta(days=2)),
                self.lead,
                child=child,
                linked=token,
                identifier_kind=rng.choice(["upn", "nhs_number"]),
            )

    def run(self, referrer: str, outcome: str) -> None:
        rng = self.rng
        self.open(referrer)
        x = rng.random()
        if x < 0.8:
            days = 0 if x < 0.45 else 1
        else:
            days = rng.randint(2, 3) if x < 0.92 else rng.randint(4, 10)
        t = _office(rng, _workdays(self.start, days))
        self.action(t, "referral_decision", outcome=outcome, child=self.children[0][0])
        if outcome in {"no_further_action", "early_help"}:
            self.short(t, referrer, outcome)
        elif outcome == "section17":
            self.assessment(t, referrer, months=rng.randint(1, 6))
        else:
            self.section47(t, referrer)

    def short(self, t: datetime, referrer: str, outcome: str) -> None:
        rng = self.rng
        if rng.random() < 0.4:
            self.action(t + timedelta(hours=rng.uniform(1, 30)), "information_shared", referrer)
        if outcome == "early_help":
            for _ in range(rng.randint(1, 3)):
                t = _office(rng, _workdays(t, rng.randint(3, 10)))
                self.visit(t)
        self.close(_office(rng, _workdays(t, rng.randint(0, 5))), "no_further_action")

    def assessment(self, t: datetime, referrer: str, months: int) -> None:
        rng = self.rng
        self.action(t + timedelta(minutes=30), "assessment_started")
        for _ in range(rng.randint(0, 2)):
            self.partner(t + timedelta(hours=rng.uniform(1, 48)))
        limit = rng.randint(10, 45) if rng.random() < 0.85 else rng.randint(46, 70)
        done = _office(rng, _workdays(self.start, limit))
        cursor = t
        while cursor < done:
            cursor = _office(rng, _workdays(cursor, rng.randint(4, 12)))
            self.visit(min(cursor, done - timedelta(minutes=5)))
            if rng.random() < 0.5:
                self.request(cursor, self.lead, self.partner(cursor))
            if rng.random() < 0.12:
                self.concern(cursor, self.partner(cursor), _CONCERNS.pick(rng))
        self.action(done, "assessment_completed", source="report", child=self.children[0][0])
        end = done + timedelta(days=30 * months)
        cursor = done
        while cursor < end:
            cursor = _office(rng, _workdays(cursor, rng.randint(10, 25)))
            self.visit(cursor)
            if rng.random() < 0.4:
                self.action(cursor + timedelta(hours=2), "plan_reviewed", source="meeting_minutes")
            if rng.random() < 0.25:
                self.action(cursor + timedelta(hours=3), "information_shared", self.partner(cursor))
        self.close(_office(rng, _workdays(cursor, rng.randint(1, 10))), self.closure())

    def section47(self, t: datetime, referrer: str, plan_months: int | None = None) -> None:
        rng, p = self.rng, self.p
        police = p.by_kind["police"][0]
        self.join(police, t + timedelta(minutes=20))
        if rng.random() < 0.6:
            self.join(rng.choice(p.by_kind["trust"] + p.by_kind["icb"]), t + timedelta(minutes=25))
        self.concern(t + timedelta(minutes=40), referrer, "significant_harm")
        sd = p.strategy_days
        days = rng.randint(0, sd) if rng.random() < 0.8 else sd + rng.randint(1, 5)
        strategy = _office(rng, _workdays(t, days)) + timedelta(hours=1)
        s47 = rng.random() < 0.9
        self.meeting(strategy, "strategy_discussion", "section47" if s47 else "section17")
        if not s47:
            self.assessment(strategy, referrer, months=rng.randint(1, 4))
            return
        started = strategy + timedelta(hours=1)
        self.action(started, "section47_started")
        self.action(started + timedelta(minutes=20), "assessment_started")
        for child, band in self.seeable:
            seen = _office(rng, _workdays(started, rng.randint(0, 2)))
            alone = band not in {"under_1", "1_4"} and rng.random() < 0.7
            self.action(seen, "child_seen", child=child, seen=True, seen_alone=alone)
        for _ in range(rng.randint(1, 4)):
            at = started + timedelta(hours=rng.uniform(2, 72))
            self.request(at, self.lead, self.partner(at))
        completed = _office(rng, _workdays(started, rng.randint(5, 14)))
        plan = rng.random() < 0.65 or plan_months is not None
        self.action(
            completed,
            "section47_completed",
            source="report",
            outcome="protection_plan" if plan else "section17",
        )
        if not plan:
            self.assessment(completed, referrer, months=rng.randint(1, 4))
            return
        days = rng.randint(8, 15) if rng.random() < 0.75 else rng.randint(16, 30)
        conference = max(_office(rng, _workdays(strategy, days)), completed + timedelta(hours=2))
        self.meeting(conference, "initial_conference", "protection_plan")
        self.action(conference + timedelta(hours=1), "protection_plan_started")
        limit = rng.randint(45, 70) if rng.random() < 0.15 else rng.randint(20, 45)
        self.action(
            _office(rng, _workdays(self.start, limit)),
            "assessment_completed",
            source="report",
            child=self.children[0][0],
        )
        months = plan_months or rng.choice([3, 6, 6, 9, 9, 9, 12, 12, 15, 18, 24])
        self.protection_plan(conference, conference + timedelta(days=30.4 * months))

    def protection_plan(self, conference: datetime, ends: datetime) -> None:
        rng = self.rng
        review = conference + timedelta(days=91)
        cursor = conference
        while True:
            cursor = _office(rng, _workdays(cursor, rng.randint(7, 13)))
            if cursor >= review:
                late = rng.random() < 0.15
                at = _office(rng, review + timedelta(days=rng.randint(5, 25) if late else 0))
                last = at >= ends
                self.meeting(at, "review_conference", "section17" if last else "protection_plan")
                if last:
                    self.action(at + timedelta(hours=1), "protection_plan_ended")
                    break
                review = at + timedelta(days=182)
                cursor = at
                continue
            self.visit(cursor)
            if rng.random() < 0.3:
                self.visit(cursor + timedelta(days=rng.uniform(1, 5)), self.partner(cursor))
            if rng.random() < 0.45:
                self.action(cursor + timedelta(hours=3), "plan_reviewed", source="meeting_minutes")
            if rng.random() < 0.2:
                self.action(cursor + timedelta(hours=5), "information_shared", self.partner(cursor))
            if rng.random() < 0.15:
                self.request(cursor + timedelta(hours=1), self.lead, self.partner(cursor))
            if rng.random() < 0.06:
                self.concern(cursor + timedelta(hours=4), self.partner(cursor), _CONCERNS.pick(rng))
        self.close(_office(rng, _workdays(cursor, rng.randint(3, 30))), "plan_ended")

    def closure(self) -> str:
        if any(b == "16_17" for _, b in self.children) and self.rng.random() < 0.3:
            return "child_turned_18"
        return _CLOSURES.pick(self.rng)

    def close(self, at: datetime, reason: str) -> None:
        """The agencies that leave, then the closure, after everything else on the case."""
        rng = self.rng
        at = max(at, self.last + timedelta(hours=2))
        for agency in sorted(self.leaving):
            touched = self.touches.get(agency, [])
            after = max(self.plan.steps[i].occurred_at for i in touched)
            when = min(after + timedelta(days=rng.uniform(1, 20)), at - timedelta(minutes=30))
            self.step(
                "leave_case",
                max(when, after + _SECOND),
                self.lead,
                names=(agency,),
                deps=touched,
                agency=agency,
            )
        self.step("close_case", at, self.lead, final=True, reason=reason)


# -- challenges and reviews ------------------------------------------------------------


def _challenge(
    plan: _Plan,
    ident: str,
    at: datetime,
    by: str,
    against: str,
    matter: str,
    case: str | None,
    after: Sequence[int],
) -> None:
    rng, p = plan.rng, plan.p
    prev = plan.add(
        ident,
        "raise_challenge",
        at,
        by,
        after,
        challenge=ident,
        by_agency=by,
        against_agency=against,
        matter=matter,
        case=case,
        stage=1,
        summary=f"Disagreement about {matter.replace('_', ' ')} (synthetic).",
    )

    def then(command: str, t: datetime, agency: str, **kwargs: Any) -> None:
        nonlocal prev
        prev = plan.add(ident, command, t, agency, (prev,), challenge=ident, **kwargs)

    stage = 1
    while True:
        days = p.stage_days[stage - 1]
        last = stage == len(p.stage_days)
        x = rng.random()
        if x < 0.8:
            wait = rng.randint(1, days) if rng.random() < 0.75 else days + rng.randint(1, 10)
            at = _office(rng, _workdays(at, wait))
            then(
                "respond_to_challenge",
                at,
                against,
                by_agency=against,
                stage=stage,
                response=f"Response at stage {stage} (synthetic).",
            )
            odds = (0.85, 0.9) if last else (0.55, 0.63)
            y = rng.random()
            at = _office(rng, _workdays(at, rng.randint(1, 5)))
            if y < odds[0]:
                outcome = _OUTCOMES.pick(rng)
                then("resolve_challenge", at, by, outcome=outcome)
                return
            if y < odds[1]:
                then("withdraw_challenge", at, by, by_agency=by)
                return
            if last or y > 0.93:
                return  # left open
        else:
            at = _office(rng, _workdays(at, days + rng.randint(1, 5)))
            if last or rng.random() < 0.4:
                if rng.random() < 0.4:
                    then("withdraw_challenge", at, by, by_agency=by)
                return
        stage += 1
        then("escalate_challenge", at, by, to_stage=stage, by_agency=by)


def _case_challenges(plan: _Plan, unit: int, case: _Case) -> None:
    rng = plan.rng
    x = rng.random()
    count = 1 if x < 0.13 else 2 if x < 0.18 else 0
    parties = [a for a in case.joined if a not in case.leaving]
    for k in range(count if parties else 0):
        span = max((case.last - case.start).total_seconds(), 86400.0)
        at = _office(rng, case.start + timedelta(seconds=rng.uniform(3600, span)))
        partner = rng.choice(parties)
        by, against = (case.lead, partner) if rng.random() < 0.55 else (partner, case.lead)
        matter = _MATTERS.pick(rng)
        _challenge(
            plan, f"chg-{unit:07d}-{k}", at, by, against, matter, case.ident, (case.open_idx,)
        )


def _standalone_challenge(plan: _Plan, unit: int, start: datetime) -> None:
    rng, p = plan.rng, plan.p
    by, against = rng.sample([a for a, *_ in p.agencies], 2)
    matter = _STANDALONE_MATTERS.pick(rng)
    _challenge(plan, f"chg-{unit:07d}-s", _office(rng, start), by, against, matter, None, ())


def _review(plan: _Plan, unit: int, case: _Case) -> None:
    rng, p = plan.rng, plan.p
    ident = f"rv-{unit:07d}"
    la = case.lead
    aware = _office(rng, case.start + timedelta(days=rng.uniform(20, 120)))
    days = rng.randint(0, 5) if rng.random() < 0.85 else rng.randint(6, 12)
    notified = _office(rng, _workdays(aware, days))
    prev = plan.add(
        ident,
        "notify_serious_incident",
        notified,
        la,
        (case.open_idx,),
        review=ident,
        case=case.ident,
        child=case.children[0][0],
        incident="serious_harm" if rng.random() < 0.8 else "death",
        became_aware_at=aware,
        notified_panel_at=notified,
    )

    def then(command: str, at: datetime, **kwargs: Any) -> None:
        nonlocal prev
        prev = plan.add(ident, command, at, la, (prev,), source="report", review=ident, **kwargs)

    days = rng.randint(5, 15) if rng.random() < 0.8 else rng.randint(16, 30)
    completed = _office(rng, _workdays(notified, days))
    decision = _RAPID.pick(rng)
    if unit == 1:
        decision = "local_review"  # so that even a small run has recommendations
    then("complete_rapid_review", completed, completed_at=completed, decision=decision)
    if decision == "no_review":
        return
    commissioned = _office(rng, _workdays(completed, rng.randint(5, 20)))
    level = "national" if decision == "national_review" else "local"
    then("commission_review", commissioned, level=level, commissioned_at=commissioned)
    months = rng.uniform(4, 6) if rng.random() < 0.65 else rng.uniform(7, 12)
    published = _office(rng, commissioned + timedelta(days=30.4 * months))
    then(
        "publish_review",
        published,
        published_at=published,
        title=f"Synthetic practice review {unit}",
    )
    after_publish = prev
    owners = [
        la,
        p.by_kind["police"][0],
        p.by_kind["icb"][0],
        *p.by_kind["trust"],
        *p.by_kind["school"][:3],
        *p.by_kind["housing"][:1],
    ]
    for n in range(1, rng.randint(3, 8) + 1):
        rec = f"rec-{n}"
        owner = rng.choice(owners)
        issued = published + timedelta(minutes=n)
        due = (issued + timedelta(days=rng.randint(90, 365))).date()
        theme = rng.choice(_THEMES)
        last = plan.add(
            ident,
            "issue_recommendation",
            issued,
            la,
            (after_publish,),
            source="report",
            review=ident,
            recommendation=rec,
            owner=owner,
            due=due,
            theme=theme,
            text=f"Synthetic recommendation {n} on {theme.replace('_', ' ')}.",
        )
        _recommendation(plan, ident, rec, owner, issued, due, last)


def _recommendation(
    plan: _Plan, review: str, rec: str, owner: str, issued: datetime, due: date, prev: int
) -> None:
    rng = plan.rng

    def then(command: str, at: datetime, **kwargs: Any) -> None:
        nonlocal prev
        prev = plan.add(
            review,
            command,
            at,
            owner,
            (prev,),
            review=review,
            recommendation=rec,
            by_agency=owner,
            **kwargs,
        )

    x = rng.random()
    at = _office(rng, issued + timedelta(days=rng.uniform(10, 40)))
    if x < 0.1:
        then("reject_recommendation", at, basis="Resources not available (synthetic).")
        return
    if x > 0.9:
        return  # never decided
    then("accept_recommendation", at)
    due_at = datetime(due.year, due.month, due.day, 12, tzinfo=UTC)
    implemented = (due_at + timedelta(days=rng.uniform(-60, 60))) if rng.random() < 0.7 else None
    stop = implemented or END
    reports = 0
    while (report := _office(rng, at + timedelta(days=rng.uniform(28, 70)))) < stop:
        at = report
        reports += 1
        overdue = at.date() > due
        status = "red" if overdue else rng.choices(_RAG, (50, 30 + 10 * reports, 20))[0]
        then("report_recommendation_progress", at, status=status)
    if implemented is not None:
        then("implement_recommendation", _office(rng, max(implemented, at)))


def _children(seed: int, unit: int, rng: random.Random) -> list[str]:
    x = rng.random()
    count = 1 if x < 0.6 else 2 if x < 0.85 else rng.randint(3, 4)
    return [
        "ch_" + hashlib.sha256(f"{seed}/{unit}/{k}".encode()).hexdigest()[:32] for k in range(count)
    ]


def _plan_unit(seed: int, unit: int, partnerships: Sequence[_Partnership]) -> list[_Step]:
    """The steps of unit ``unit``: a case, its challenges, maybe a review; in record order."""
    rng = random.Random(f"{seed}/unit/{unit}")
    p = rng.choices(partnerships, [q.weight for q in partnerships])[0]
    plan = _Plan(rng, p)
    with_review = unit % _REVIEW_EVERY == 1
    span = (END - START).total_seconds()
    latest = span / 4 if unit == 1 else span - (200 * 86400 if with_review else 0)
    start = _office(rng, START + timedelta(seconds=rng.uniform(0, latest)))
    case = _Case(plan, f"c-{unit:07d}", start, _children(seed, unit, rng))
    referrer = rng.choice(p.by_kind[_REFERRERS.pick(rng)])
    if with_review:
        case.open(referrer)
        decided = _office(rng, _workdays(start, 1))
        case.action(decided, "referral_decision", outcome="section47", child=case.children[0][0])
        case.section47(decided, referrer, plan_months=rng.choice([9, 12, 15]))
    else:
        outcome = _DECISIONS.pick(rng)
        case.run(referrer, outcome)
    _case_challenges(plan, unit, case)
    if with_review:
        _review(plan, unit, case)
    if rng.random() < 0.05:
        _standalone_challenge(plan, unit, START + timedelta(seconds=rng.uniform(0, span)))
    return plan.finish()


def _plan_big_case(seed: int, events: int, partnerships: Sequence[_Partnership]) -> list[_Step]:
    """One long case with ``events`` events, spread over the whole timeline."""
    rng = random.Random(f"{seed}/big")
    p = partnerships[0]
    plan = _Plan(rng, p)
    children = [
        "ch_" + hashlib.sha256(f"{seed}/big/{k}".encode()).hexdigest()[:32] for k in range(4)
    ]
    start = _office(rng, START + timedelta(days=3))
    case = _Case(plan, "c-big", start, children)
    referrer = p.by_kind["police"][0]
    case.open(referrer)
    t = _office(rng, _workdays(start, 1))
    case.action(t, "referral_decision", outcome="section47", child=children[0])
    for group in ("icb", "trust", "gp", "school", "school", "housing", "vcs", "probation"):
        case.join(rng.choice(p.by_kind[group]), t + timedelta(minutes=rng.uniform(5, 60)))
    case.leaving.clear()
    case.meeting(t + timedelta(hours=2), "strategy_discussion", "section47")
    case.action(t + timedelta(hours=3), "section47_started")
    case.meeting(_office(rng, _workdays(t, 12)), "initial_conference", "protection_plan")
    gap = (END - t).total_seconds() / (events * 1.1)
    review = _workdays(t, 12)
    while len(plan.steps) < events * 1.15 and t < END:
        t += timedelta(seconds=rng.expovariate(1 / gap))
        x = rng.random()
        if t >= review + timedelta(days=182):
            case.meeting(t, "review_conference", "protection_plan")
            review = t
        elif x < 0.4:
            case.visit(t)
        elif x < 0.55:
            case.visit(t, case.partner(t))
        elif x < 0.7:
            case.action(t, "information_shared", case.partner(t))
        elif x < 0.8:
            case.action(t, "plan_reviewed", source="meeting_minutes")
        elif x < 0.95:
            case.request(t, case.lead, case.partner(t))
        else:
            case.concern(t, case.partner(t), _CONCERNS.pick(rng))
    return plan.finish()[:events]


# -- running the plan --------------------------------------------------------------------


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


def _units(
    seed: int, budget: int, big_case_events: int, partnerships: Sequence[_Partnership]
) -> Iterator[list[_Step]]:
    """Planned units, the big case first, cut so that their steps add up to ``budget``."""
    if big_case_events > 0 and budget > 0:
        big = _plan_big_case(seed, min(big_case_events, budget), partnerships)
        budget -= len(big)
        yield big
    unit = 0
    while budget > 0:
        steps = _plan_unit(seed, unit, partnerships)[:budget]
        budget -= len(steps)
        unit += 1
        yield steps


def generate(
    ledger: Ledger | Mapping[str, str],
    *,
    events: int,
    seed: int = 1,
    clock: SimulatedClock | None = None,
    workers: int = 8,
    big_case_events: int = 0,
    progress: Callable[[int], None] | None = None,
) -> GeneratedSummary:
    """Write a synthetic partnership of exactly ``events`` events through the ledger's commands.

    ``ledger`` is a :class:`Ledger` built with ``clock=clock`` (a :class:`SimulatedClock`,
    also passed here), or the eventsourcing environment to build one from (closed at the
    end). The partnerships are set up first on this thread; then ``workers`` threads
    write units of work (each its own case, challenges and review, so they never contend
    on an aggregate). ``progress(n)`` is called from the writing threads each time ``n``
    more events were written. Raises ``ValueError`` if a partnership exists already.
    """
    if isinstance(ledger, Ledger):
        if clock is None:
            raise ValueError("pass the SimulatedClock the Ledger was built with as clock=")
        return _generate(ledger, clock, events, seed, workers, big_case_events, progress)
    clock = SimulatedClock()
    app = Ledger(env=dict(ledger), clock=clock)
    try:
        return _generate(app, clock, events, seed, workers, big_case_events, progress)
    finally:
        app.close()


def _generate(
    ledger: Ledger,
    clock: SimulatedClock,
    events: int,
    seed: int,
    workers: int,
    big_case_events: int,
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
        for steps in _units(seed, events - len(setup), big_case_events, partnerships):
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


# -- the command line -------------------------------------------------------------------


class _RateColumn(ProgressColumn):
    """Events per second, from rich's own speed estimate."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- ev/s" if speed is None else f"{speed:,.0f} ev/s", style="cyan")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.synthetic",
        description="Write a seeded synthetic safeguarding partnership through the ledger.",
    )
    parser.add_argument("--events", type=int, required=True, help="events to write")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=8, help="writing threads")
    parser.add_argument(
        "--big-case-events", type=int, default=0, help="also write one case with this many events"
    )
    parser.add_argument("--nats-url", help="a running NATS server (default: start one)")
    parser.add_argument(
        "--data-dir", type=Path, help="the embedded server's data dir (default: a temporary one)"
    )
    parser.add_argument("--stream", default="SYNTHETIC")
    parser.add_argument("--subject-prefix", default="synthetic")
    parser.add_argument("--log-level", default="WARNING")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.synthetic``: returns the exit status."""
    args = _parser().parse_args(argv)
    console = Console(stderr=True)
    configure_logging(level=args.log_level)
    settings = Settings(stream=args.stream, subject_prefix=args.subject_prefix)
    with contextlib.ExitStack() as stack:
        url: str | None = args.nats_url
        if url is None:
            data_dir = args.data_dir or Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="ledger-synthetic-"))
            )
            url = stack.enter_context(EmbeddedNats(data_dir)).url
        clock = SimulatedClock()
        ledger = Ledger(env=settings.persistence_env(url), clock=clock)
        stack.callback(ledger.close)
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, speed_estimate_period=10) as bar:
            task = bar.add_task("events", total=args.events)
            try:
                summary = generate(
                    ledger,
                    clock=clock,
                    events=args.events,
                    seed=args.seed,
                    workers=args.workers,
                    big_case_events=args.big_case_events,
                    progress=lambda n: bar.advance(task, n),
                )
            except ValueError as error:
                console.print(f"[red]{error}[/red]")
                return 2
        _print_summary(Console(), summary, url, args.stream)
    return 0


def _print_summary(console: Console, summary: GeneratedSummary, url: str, stream: str) -> None:
    table = Table(title=f"synthetic partnership on {stream} ({url})")
    table.add_column("event type")
    table.add_column("count", justify="right")
    for event_type, count in sorted(summary.by_type.items(), key=lambda kv: -kv[1]):
        table.add_row(event_type, f"{count:,}")
    console.print(table)
    console.print(
        f"{summary.events:,} events in {summary.seconds:,.1f} s "
        f"= {summary.events_per_second:,.0f} events/s; {summary.cases:,} cases, "
        f"{summary.challenges:,} challenges, {summary.reviews:,} reviews; "
        f"{summary.late_recorded:,} recorded late ({summary.late_explained:,} explained)"
        + (f"; big case {summary.big_case}" if summary.big_case else "")
    )


if __name__ == "__main__":
    sys.exit(main())
