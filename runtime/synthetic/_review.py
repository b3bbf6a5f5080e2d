"""Serious incidents: notification, rapid and practice reviews, recommendations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from runtime.synthetic._case import _Case
from runtime.synthetic._clock import END, _office, _workdays
from runtime.synthetic._plan import _Plan, _Weights
from schemas import Theme

_RAPID: Final = _Weights("local_review:60 national_review:12 no_review:28")
_THEMES: Final = tuple(theme.value for theme in Theme)
_RAG: Final = ("amber", "green", "red")


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
