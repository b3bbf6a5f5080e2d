"""The year's figures, from the questions the API answers, as the ledger stood at year end.

Every figure is counted from the answer of a question of
:data:`interfaces.queries.QUERIES`, asked through its :attr:`~interfaces.queries.Query.answer`
as the HTTP API asks it, of views replayed as of the end of the year (or of now, for a
year not over): so each figure is what ``GET /partnerships/{p}/<question>?as_of=<year
end>`` answers, counted over the year's days. What counts for a year:

- **Cooperation**: ``opt-outs`` with ``date_from``/``date_to`` the year's first and last
  day (the day the opt-out occurred; an unanswered request's due day), as of year end.
- **Timeliness**: ``timeliness``'s clocks started on one of the year's days, with their
  status at year end; every rule of the partnership's nation is listed, with no clock too.
- **Challenges**: ``challenges`` with ``date_from``/``date_to`` (the day raised), as they
  stood at year end, with each stage's time.
- **Reviews**: ``reviews`` with an incident notified, a rapid review completed, or a review
  commissioned or published on one of the year's days.
- **Recommendations**: ``recommendations`` issued by year end and not implemented or
  rejected before the year began (those carried into the year count too), at year end.
- **Themes**: the themes of those recommendations; recurring when ``recurring-themes``
  (as of year end) finds the theme in at least two reviews.

:func:`recorded_after` counts what the ledger holds now about the year's days and did not
hold at its end (an opt-out recorded in April, backdated into March): not in the figures,
but told beside them.

No free text enters the report: opt-outs are counted by kind and stated basis (a
refusal's reason and a rejection's written basis are left out), challenges by matter and
outcome (never their summaries or responses), recommendations by id, owner, theme and
status (never their text). The partnership's name is the only text it carries, as the
board registered it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, Final, cast

import msgspec

from interfaces.queries import QUERIES, Ask
from interfaces.report._year import ReportYear
from projections import Views
from projections.calendar import local_date
from projections.challenges import ChallengeSummary
from projections.directory import AgencySummary, PartnershipSummary
from projections.optouts import OptOutEntry
from projections.recommendations import RecommendationStatus, RecurringTheme, ReviewSummary
from projections.timeliness import ClockRow

__all__ = [
    "AgencyChallenges",
    "AgencyCooperation",
    "Challenges",
    "Cooperation",
    "RecommendationLine",
    "Recommendations",
    "RecordedAfter",
    "ReviewLine",
    "Reviews",
    "RuleTimeliness",
    "StageFigures",
    "ThemeLine",
    "YearReport",
    "assemble",
    "recorded_after",
]

#: The opt-out kinds and standings, in the order the report lists them.
OPT_OUT_KINDS: Final = (
    "information_withheld",
    "meeting_not_attended",
    "report_not_provided",
    "request_not_answered",
    "other",
    "recommendation_rejected",
)
STANDINGS: Final = ("decision_not_to_share", "stated_basis", "no_stated_basis")
CLOCK_STATUSES: Final = ("on_time", "late", "open", "overdue", "not_applicable")
RECOMMENDATION_STATES: Final = ("issued", "accepted", "rejected", "implemented")
RAGS: Final = ("red", "amber", "green")


class AgencyCooperation(msgspec.Struct, frozen=True, kw_only=True):
    """How one agency cooperated in the year: its opt-outs by kind, standing and basis."""

    agency: str
    name: str
    opt_outs: int
    by_kind: dict[str, int]
    by_standing: dict[str, int]
    #: Refusals by their stated basis (a :class:`~schemas.case.RefusalBasis` value).
    by_basis: dict[str, int]


class Cooperation(msgspec.Struct, frozen=True, kw_only=True):
    opt_outs: int
    by_kind: dict[str, int]
    by_standing: dict[str, int]
    #: Every registered agency, those with no opt-out too.
    agencies: list[AgencyCooperation]


class RuleTimeliness(msgspec.Struct, frozen=True, kw_only=True):
    """One rule's clocks started in the year, by their status at year end."""

    rule: str
    title: str
    started: int
    on_time: int
    late: int
    open: int
    overdue: int
    not_applicable: int
    max_days_late: int


class StageFigures(msgspec.Struct, frozen=True, kw_only=True):
    """One escalation stage across the year's challenges: how many reached it, how long it took."""

    stage: int
    title: str
    limit_working_days: int
    reached: int
    #: Closed within the stage's limit, closed after it, and still open at year end.
    in_time: int
    late: int
    open: int
    #: Working days from the stage's start to its close, over the closed stages.
    mean_working_days: float | None
    max_working_days: int | None


class AgencyChallenges(msgspec.Struct, frozen=True, kw_only=True):
    agency: str
    raised: int
    received: int
    escalated: int
    resolved: int


class Challenges(msgspec.Struct, frozen=True, kw_only=True):
    raised: int
    #: Reached a stage beyond the first.
    escalated: int
    resolved: int
    withdrawn: int
    #: Still open at year end.
    open: int
    by_matter: dict[str, int]
    outcomes: dict[str, int]
    stages: list[StageFigures]
    agencies: list[AgencyChallenges]


class ReviewLine(msgspec.Struct, frozen=True, kw_only=True):
    review: str
    level: str | None
    notified_on: str
    rapid_review_on: str | None
    commissioned_on: str | None
    published_on: str | None
    recommendations: int


class Reviews(msgspec.Struct, frozen=True, kw_only=True):
    """The year's reviews: counts of each step taken in the year, and each review."""

    notified: int
    rapid_reviews: int
    commissioned: int
    published: int
    reviews: list[ReviewLine]


class RecommendationLine(msgspec.Struct, frozen=True, kw_only=True):
    review: str
    recommendation: str
    owner: str
    theme: str
    due: str
    state: str
    rag: str
    overdue: bool


class Recommendations(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    by_state: dict[str, int]
    by_rag: dict[str, int]
    overdue: int
    #: Overdue first, then by due date.
    items: list[RecommendationLine]


class ThemeLine(msgspec.Struct, frozen=True, kw_only=True):
    theme: str
    recommendations: int
    reviews: int
    #: The theme was found in at least two reviews by year end.
    recurring: bool
    #: Reviews with the theme by year end (0 unless recurring).
    reviews_to_date: int


class RecordedAfter(msgspec.Struct, frozen=True, kw_only=True):
    """What was recorded after the year ended about its days, so not in its figures: opt-outs
    of its days, challenges raised on them, clocks started on them."""

    opt_outs: int
    challenges: int
    clocks: int


class YearReport(msgspec.Struct, frozen=True, kw_only=True):
    """The partnership's yearly accountability report: every figure it shows."""

    partnership: str
    name: str
    nation: str
    year: ReportYear
    #: The instant the figures are as of: the year's last instant, or now while it runs.
    as_of: datetime
    complete: bool
    cooperation: Cooperation
    timeliness: list[RuleTimeliness]
    challenges: Challenges
    reviews: Reviews
    recommendations: Recommendations
    themes: list[ThemeLine]
    #: Known when the report was drawn beside the live views of a year that is over.
    recorded_after: RecordedAfter | None = None


#: Asks a question by its name and filters (a dict).
_Ask = Callable[..., Any]


def _asker(views: Views, partnership: str, day: date, as_of: datetime | None) -> _Ask:
    """Asks a question of ``views`` by its name and filters, as the API answers it."""

    def ask(name: str, filters: dict[str, Any] | None = None) -> Any:
        query = QUERIES[name]
        given = msgspec.convert(filters or {}, query.filters)
        return query.answer(
            views, Ask(partnership=partnership, filters=given, day=day, as_of=as_of)
        )

    return ask


def recorded_after(
    now: Views, then: Views, partnership: str, year: ReportYear, *, as_of: datetime
) -> RecordedAfter:
    """What the ledger holds ``now`` about the year's days that it did not hold ``then`` (at
    ``as_of``): the same questions asked of both, their items told apart by identity."""
    day = local_date(as_of)
    days = {"date_from": year.first_day, "date_to": year.last_day}
    asked = [_asker(now, partnership, day, None), _asker(then, partnership, day, as_of)]
    opt_outs = [{e.sequence for e in ask("opt-outs", days)} for ask in asked]
    challenges = [{c.challenge for c in ask("challenges", days)} for ask in asked]
    clocks = [
        {(c.rule, c.aggregate, c.key) for c in ask("timeliness") if year.contains(c.started_on)}
        for ask in asked
    ]
    return RecordedAfter(
        opt_outs=len(opt_outs[0] - opt_outs[1]),
        challenges=len(challenges[0] - challenges[1]),
        clocks=len(clocks[0] - clocks[1]),
    )


def assemble(
    views: Views,
    partnership: str,
    year: ReportYear,
    *,
    as_of: datetime,
    complete: bool,
    late: RecordedAfter | None = None,
) -> YearReport:
    """The year's figures, from ``views`` as the ledger stood at ``as_of``."""
    ask = _asker(views, partnership, local_date(as_of), as_of)
    days = {"date_from": year.first_day, "date_to": year.last_day}
    about = cast(PartnershipSummary, ask("partnership"))
    agencies = cast(list[AgencySummary], ask("agencies"))
    recommendations = _recommendations(
        [
            r
            for r in cast(list[RecommendationStatus], ask("recommendations"))
            if not _closed_before(r, year)
        ]
    )
    return YearReport(
        partnership=partnership,
        name=about.name,
        nation=about.nation,
        year=year,
        as_of=as_of,
        complete=complete,
        cooperation=_cooperation(cast(list[OptOutEntry], ask("opt-outs", days)), agencies),
        timeliness=_timeliness(
            [r for r in cast(list[ClockRow], ask("timeliness")) if year.contains(r.started_on)],
            _rule_titles(views, about.nation),
        ),
        challenges=_challenges(cast(list[ChallengeSummary], ask("challenges", days)), about),
        reviews=_reviews(cast(list[ReviewSummary], ask("reviews")), year),
        recommendations=recommendations,
        themes=_themes(
            recommendations.items,
            cast(list[RecurringTheme], ask("recurring-themes", {"min_reviews": 2})),
        ),
        recorded_after=late,
    )


def _zeros(keys: Sequence[str]) -> dict[str, int]:
    return dict.fromkeys(keys, 0)


def _counted(keys: Sequence[str], values: Sequence[str]) -> dict[str, int]:
    """``values`` counted, every key of ``keys`` present (0 when absent), others after."""
    counts = _zeros(keys)
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _cooperation(entries: list[OptOutEntry], agencies: list[AgencySummary]) -> Cooperation:
    names = {a.agency: a.name for a in agencies}
    for entry in entries:  # an agency no longer registered is still counted
        names.setdefault(entry.agency, entry.agency)
    lines = []
    for agency, name in sorted(names.items()):
        own = [e for e in entries if e.agency == agency]
        lines.append(
            AgencyCooperation(
                agency=agency,
                name=name,
                opt_outs=len(own),
                by_kind=_counted(OPT_OUT_KINDS, [e.kind for e in own]),
                by_standing=_counted(STANDINGS, [e.standing for e in own]),
                by_basis=dict(sorted(Counter(e.basis for e in own if e.basis).items())),
            )
        )
    return Cooperation(
        opt_outs=len(entries),
        by_kind=_counted(OPT_OUT_KINDS, [e.kind for e in entries]),
        by_standing=_counted(STANDINGS, [e.standing for e in entries]),
        agencies=lines,
    )


def _rule_titles(views: Views, nation: str) -> dict[str, str]:
    return {r.name: r.title for r in views.rules.rules if nation in r.nations}


def _timeliness(clocks: list[ClockRow], titles: dict[str, str]) -> list[RuleTimeliness]:
    rules = dict(titles)
    for clock in clocks:  # a rule no longer in the rules file still shows its clocks
        rules.setdefault(clock.rule, clock.rule)
    lines = []
    for rule, title in rules.items():
        own = [c for c in clocks if c.rule == rule]
        status = Counter(c.status for c in own)
        lines.append(
            RuleTimeliness(
                rule=rule,
                title=title,
                started=len(own),
                on_time=status["on_time"],
                late=status["late"],
                open=status["open"],
                overdue=status["overdue"],
                not_applicable=status["not_applicable"],
                max_days_late=max((c.days_late for c in own), default=0),
            )
        )
    return lines


def _challenges(found: list[ChallengeSummary], about: PartnershipSummary) -> Challenges:
    stages = []
    for stage in about.escalation_stages:
        timings = [t for c in found for t in c.stages if t.stage == stage.stage]
        taken = [t.working_days_taken for t in timings if t.working_days_taken is not None]
        stages.append(
            StageFigures(
                stage=stage.stage,
                title=stage.title,
                limit_working_days=stage.response_working_days,
                reached=len(timings),
                in_time=sum(1 for t in timings if t.late is False),
                late=sum(1 for t in timings if t.late is True),
                open=sum(1 for t in timings if t.late is None),
                mean_working_days=round(sum(taken) / len(taken), 1) if taken else None,
                max_working_days=max(taken) if taken else None,
            )
        )
    agencies = sorted({c.by_agency for c in found} | {c.against_agency for c in found})
    return Challenges(
        raised=len(found),
        escalated=sum(1 for c in found if c.stage_reached > 1),
        resolved=sum(1 for c in found if c.status == "resolved"),
        withdrawn=sum(1 for c in found if c.status == "withdrawn"),
        open=sum(1 for c in found if c.status == "open"),
        by_matter=dict(sorted(Counter(c.matter for c in found).items())),
        outcomes=dict(sorted(Counter(c.outcome for c in found if c.outcome).items())),
        stages=stages,
        agencies=[
            AgencyChallenges(
                agency=agency,
                raised=sum(1 for c in found if c.by_agency == agency),
                received=sum(1 for c in found if c.against_agency == agency),
                escalated=sum(
                    1
                    for c in found
                    if agency in (c.by_agency, c.against_agency) and c.stage_reached > 1
                ),
                resolved=sum(
                    1
                    for c in found
                    if agency in (c.by_agency, c.against_agency) and c.status == "resolved"
                ),
            )
            for agency in agencies
        ],
    )


def _in_year(instant: datetime | None, year: ReportYear) -> bool:
    return instant is not None and year.contains(local_date(instant))


def _day(instant: datetime | None) -> str | None:
    return None if instant is None else local_date(instant).isoformat()


def _reviews(found: list[ReviewSummary], year: ReportYear) -> Reviews:
    kept = [
        r
        for r in found
        if any(
            _in_year(at, year)
            for at in (r.notified_panel_at, r.rapid_review_at, r.commissioned_at, r.published_at)
        )
    ]
    return Reviews(
        notified=sum(1 for r in kept if _in_year(r.notified_panel_at, year)),
        rapid_reviews=sum(1 for r in kept if _in_year(r.rapid_review_at, year)),
        commissioned=sum(1 for r in kept if _in_year(r.commissioned_at, year)),
        published=sum(1 for r in kept if _in_year(r.published_at, year)),
        reviews=[
            ReviewLine(
                review=r.review,
                level=None if r.level is None else str(r.level),
                notified_on=local_date(r.notified_panel_at).isoformat(),
                rapid_review_on=_day(r.rapid_review_at),
                commissioned_on=_day(r.commissioned_at),
                published_on=_day(r.published_at),
                recommendations=r.recommendations,
            )
            for r in kept
        ],
    )


def _closed_before(r: RecommendationStatus, year: ReportYear) -> bool:
    closed = r.implemented_at or r.rejected_at
    return closed is not None and local_date(closed) < year.first_day


def _recommendations(found: list[RecommendationStatus]) -> Recommendations:
    items = sorted(
        (
            RecommendationLine(
                review=r.review,
                recommendation=r.recommendation,
                owner=r.owner,
                theme=str(r.theme),
                due=r.due.isoformat(),
                state=r.state,
                rag=str(r.rag),
                overdue=r.overdue,
            )
            for r in found
        ),
        key=lambda line: (not line.overdue, line.due, line.review, line.recommendation),
    )
    return Recommendations(
        total=len(items),
        by_state=_counted(RECOMMENDATION_STATES, [i.state for i in items]),
        by_rag=_counted(RAGS, [i.rag for i in items]),
        overdue=sum(1 for i in items if i.overdue),
        items=items,
    )


def _themes(items: list[RecommendationLine], recurring: list[RecurringTheme]) -> list[ThemeLine]:
    across = {str(t.theme): t.reviews for t in recurring}
    themes = sorted({i.theme for i in items})
    return [
        ThemeLine(
            theme=theme,
            recommendations=sum(1 for i in items if i.theme == theme),
            reviews=len({i.review for i in items if i.theme == theme}),
            recurring=theme in across,
            reviews_to_date=across.get(theme, 0),
        )
        for theme in sorted(themes, key=lambda t: (t not in across, t))
    ]
