"""Escalation challenges: on a case, or between two agencies without one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from runtime.synthetic._case import _Case
from runtime.synthetic._clock import _office, _workdays
from runtime.synthetic._plan import _Plan, _Weights

_MATTERS: Final = _Weights(
    "threshold_decision:30 information_sharing:25 plan_or_decision:20 attendance:10 "
    "case_closure:10 other:5"
)
_STANDALONE_MATTERS: Final = _Weights("attendance:40 information_sharing:40 other:20")
_OUTCOMES: Final = _Weights("upheld:30 partially_upheld:25 not_upheld:20 agreed_way_forward:25")


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
