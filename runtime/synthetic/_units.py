"""Units of work (a case and what hangs off it), the big case, and the run's budget."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Final

from runtime.synthetic._case import _CONCERNS, _Case
from runtime.synthetic._challenge import _case_challenges, _standalone_challenge
from runtime.synthetic._clock import END, START, _office, _workdays
from runtime.synthetic._partnerships import _Partnership
from runtime.synthetic._plan import _Plan, _Weights
from runtime.synthetic._review import _review
from runtime.synthetic._step import _Step

#: Every how many units one has a serious incident on its case, unless told otherwise.
REVIEW_EVERY: Final = 120
_REFERRERS: Final = _Weights("police:30 school:25 icb:8 trust:10 gp:7 housing:5 vcs:10 yjs:5")
_DECISIONS: Final = _Weights("no_further_action:25 early_help:15 section17:30 section47:30")


def _children(seed: int, unit: int, rng: random.Random) -> list[str]:
    x = rng.random()
    count = 1 if x < 0.6 else 2 if x < 0.85 else rng.randint(3, 4)
    return [
        "ch_" + hashlib.sha256(f"{seed}/{unit}/{k}".encode()).hexdigest()[:32] for k in range(count)
    ]


def _plan_unit(
    seed: int, unit: int, partnerships: Sequence[_Partnership], reviews_every: int = REVIEW_EVERY
) -> list[_Step]:
    """The steps of unit ``unit``: a case, its challenges, maybe a review; in record order."""
    rng = random.Random(f"{seed}/unit/{unit}")
    p = rng.choices(partnerships, [q.weight for q in partnerships])[0]
    plan = _Plan(rng, p)
    with_review = unit % reviews_every == 1
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


def _units(
    seed: int,
    budget: int,
    big_case_events: int,
    partnerships: Sequence[_Partnership],
    reviews_every: int = REVIEW_EVERY,
) -> Iterator[list[_Step]]:
    """Planned units, the big case first, cut so that their steps add up to ``budget``."""
    if big_case_events > 0 and budget > 0:
        big = _plan_big_case(seed, min(big_case_events, budget), partnerships)
        budget -= len(big)
        yield big
    unit = 0
    while budget > 0:
        steps = _plan_unit(seed, unit, partnerships, reviews_every)[:budget]
        budget -= len(steps)
        unit += 1
        yield steps
