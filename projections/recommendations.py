"""Recommendations and themes: what each review asked of which agency, and whether it was done.

A row per review (opened by ``SeriousIncidentNotified``: its rapid review, level,
commission and publication) and a row per recommendation (owner, theme, due date
and the instant of each step: issued, accepted, rejected, implemented), plus a
row per progress report (its red/amber/green status only: notes, the
recommendation's text and a rejection's basis are free text and never stored).

**As of a date.** Every query judges the recommendations as they stood at the end
of ``as_of``, a calendar date in Europe/London (today, by the view's clock, when
not given), from the ``occurred_at`` of each step: a recommendation issued later
is left out, a step taken later has not happened yet, and the reported status is
that of the last report made by then. A late recording counts from when it happened.

* **State**: ``implemented`` once implemented, else ``rejected`` once rejected,
  else ``accepted`` once accepted, else ``issued``.
* **Overdue**: neither implemented nor rejected, and ``due < as_of`` (the due date
  itself is still on time: a recommendation's clock is counted in calendar days).
* **RAG** (:func:`rag_for`), the policy: facts decide first, then the owner's
  report, then the calendar.

  1. implemented: green (a stale amber report no longer tells the truth);
  2. rejected: red (an opt-out: the lesson will not be acted on);
  3. overdue: red, whatever was last reported (a green report must not hide it);
  4. otherwise the last status reported, when there is one;
  5. otherwise amber when due within :data:`AMBER_WITHIN_DAYS` days, else green.

  ``rag_source`` says whether the status came from a report or was derived.

**Themes.** A theme's period is the year (``"2026"``) or quarter (``"2026-Q1"``)
of the London date on which the recommendation was issued. A theme is
*recurring* when two different reviews raised it in two different periods: one
review returning to its own theme, or two reviews of the same period, is not
"the same lesson again".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import ClassVar, Final, Literal, TypeAlias, cast

import msgspec

from projections._checks import Day, check_choice, check_id, check_int
from projections._store import Tx, from_micros, to_micros
from projections._view import ClockedView, Envelope, Where
from projections.calendar import LONDON, local_date
from schemas import (
    RagStatus,
    RapidReviewCompleted,
    RecommendationAccepted,
    RecommendationImplemented,
    RecommendationIssued,
    RecommendationProgressReported,
    RecommendationRejected,
    ReviewCommissioned,
    ReviewLevel,
    ReviewPublished,
    SeriousIncidentNotified,
    Theme,
)

__all__ = [
    "AMBER_WITHIN_DAYS",
    "RagSource",
    "RecommendationState",
    "RecommendationStatus",
    "RecommendationView",
    "RecurringTheme",
    "ReviewSummary",
    "ThemeCount",
    "rag_for",
]

#: A recommendation with no report and no more than this many days to its due date is amber.
AMBER_WITHIN_DAYS: Final = 30

RecommendationState: TypeAlias = Literal["issued", "accepted", "rejected", "implemented"]
RagSource: TypeAlias = Literal["reported", "derived"]
Period: TypeAlias = Literal["year", "quarter"]
_Label: TypeAlias = Callable[[date], str]

_STATES: Final = ("accepted", "implemented", "issued", "rejected")
_THEMES: Final = tuple(sorted(t.value for t in Theme))


class RecommendationStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One recommendation as it stood at the end of ``as_of``."""

    review: str
    recommendation: str
    owner: str
    theme: Theme
    due: date
    issued_at: datetime
    accepted_at: datetime | None
    rejected_at: datetime | None
    implemented_at: datetime | None
    state: RecommendationState
    reports: int
    last_report_at: datetime | None
    reported_rag: RagStatus | None
    rag: RagStatus
    rag_source: RagSource
    overdue: bool
    days_overdue: int
    as_of: date


class ReviewSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One review's steps and its recommendations counted by state, at the end of ``as_of``."""

    review: str
    case: str | None
    incident: str
    notified_panel_at: datetime
    rapid_review: str | None
    rapid_review_at: datetime | None
    level: ReviewLevel | None
    commissioned_at: datetime | None
    published_at: datetime | None
    recommendations: int
    issued: int
    accepted: int
    rejected: int
    implemented: int
    overdue: int
    as_of: date


class ThemeCount(msgspec.Struct, frozen=True, kw_only=True):
    """How often a theme was raised in one period, and by how many reviews."""

    theme: Theme
    period: str
    recommendations: int
    reviews: int
    recurring: bool


class RecurringTheme(msgspec.Struct, frozen=True, kw_only=True):
    """A theme raised by several reviews, and the periods in which it was raised."""

    theme: Theme
    reviews: int
    review_ids: list[str]
    recommendations: int
    periods: list[str]
    first_issued: date
    last_issued: date


def rag_for(
    *,
    state: RecommendationState,
    overdue: bool,
    reported: RagStatus | None,
    due: date,
    as_of: date,
) -> tuple[RagStatus, RagSource]:
    """The RAG status of a recommendation under the module's policy, and where it came from."""
    if state == "implemented":
        return RagStatus.GREEN, "derived"
    if state == "rejected" or overdue:
        return RagStatus.RED, "derived"
    if reported is not None:
        return reported, "reported"
    if (due - as_of).days <= AMBER_WITHIN_DAYS:
        return RagStatus.AMBER, "derived"
    return RagStatus.GREEN, "derived"


class RecommendationView(ClockedView):
    """The ``recommendations`` view.

    ``clock`` says what time it is for queries whose ``as_of`` defaults to today.
    """

    name: str = "recommendations"
    table_names: ClassVar[tuple[str, ...]] = ("rec_review", "rec_recommendation", "rec_progress")
    tables: ClassVar[tuple[str, ...]] = (
        "CREATE TABLE IF NOT EXISTS rec_review ("
        " partnership TEXT NOT NULL, review_id TEXT NOT NULL, case_id TEXT,"
        " incident TEXT NOT NULL, opened {bigint} NOT NULL, notified {bigint} NOT NULL,"
        " rapid_review TEXT, rapid_review_at {bigint}, level TEXT, commissioned {bigint},"
        " published {bigint}, PRIMARY KEY (partnership, review_id))",
        "CREATE TABLE IF NOT EXISTS rec_recommendation ("
        " partnership TEXT NOT NULL, review_id TEXT NOT NULL, recommendation TEXT NOT NULL,"
        " owner TEXT NOT NULL, theme TEXT NOT NULL, due TEXT NOT NULL, issued {bigint} NOT NULL,"
        " issued_on TEXT NOT NULL, accepted {bigint}, rejected {bigint}, implemented {bigint},"
        " PRIMARY KEY (partnership, review_id, recommendation))",
        "CREATE TABLE IF NOT EXISTS rec_progress ("
        " partnership TEXT NOT NULL, review_id TEXT NOT NULL, recommendation TEXT NOT NULL,"
        " seq {bigint} NOT NULL, occurred {bigint} NOT NULL, status TEXT NOT NULL,"
        " PRIMARY KEY (partnership, review_id, recommendation, seq))",
    )

    # -- applying: one statement per review event, no SQL for any other event ------------

    def on_SeriousIncidentNotified(self, tx: Tx, event: Envelope) -> None:
        fact = cast(SeriousIncidentNotified, event.fact)
        tx.execute(
            "INSERT INTO rec_review (partnership, review_id, case_id, incident, opened, notified)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                event.partnership,
                event.ident,
                fact.case if isinstance(fact.case, str) else None,
                fact.incident.value,
                event.occurred_us,
                to_micros(fact.notified_panel_at),
            ),
        )

    def on_RapidReviewCompleted(self, tx: Tx, event: Envelope) -> None:
        fact = cast(RapidReviewCompleted, event.fact)
        _set_review(
            tx,
            event,
            rapid_review=fact.decision.value,
            rapid_review_at=to_micros(fact.completed_at),
        )

    def on_ReviewCommissioned(self, tx: Tx, event: Envelope) -> None:
        fact = cast(ReviewCommissioned, event.fact)
        _set_review(tx, event, level=fact.level.value, commissioned=to_micros(fact.commissioned_at))

    def on_ReviewPublished(self, tx: Tx, event: Envelope) -> None:
        fact = cast(ReviewPublished, event.fact)
        _set_review(tx, event, published=to_micros(fact.published_at))

    def on_RecommendationIssued(self, tx: Tx, event: Envelope) -> None:
        fact = cast(RecommendationIssued, event.fact)
        tx.execute(
            "INSERT INTO rec_recommendation (partnership, review_id, recommendation, owner, theme,"
            " due, issued, issued_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.partnership,
                event.ident,
                fact.recommendation,
                fact.owner,
                fact.theme.value,
                fact.due.isoformat(),
                event.occurred_us,
                local_date(fact.occurred_at).isoformat(),
            ),
        )

    def on_RecommendationAccepted(self, tx: Tx, event: Envelope) -> None:
        _step(tx, event, "accepted")

    def on_RecommendationRejected(self, tx: Tx, event: Envelope) -> None:
        _step(tx, event, "rejected")

    def on_RecommendationImplemented(self, tx: Tx, event: Envelope) -> None:
        _step(tx, event, "implemented")

    def on_RecommendationProgressReported(self, tx: Tx, event: Envelope) -> None:
        fact = cast(RecommendationProgressReported, event.fact)
        tx.execute(
            "INSERT INTO rec_progress (partnership, review_id, recommendation, seq, occurred,"
            " status) VALUES (?, ?, ?, ?, ?, ?)",
            (
                event.partnership,
                event.ident,
                fact.recommendation,
                event.seq,
                event.occurred_us,
                fact.status.value,
            ),
        )

    # -- querying --------------------------------------------------------------------

    def recommendations(
        self,
        partnership: str,
        *,
        review: str | None = None,
        owner: str | None = None,
        status: RecommendationState | None = None,
        theme: Theme | str | None = None,
        as_of: Day | None = None,
    ) -> list[RecommendationStatus]:
        """The partnership's recommendations at the end of ``as_of``, filtered, by review and issue.

        ``status`` filters on the state at ``as_of`` (issued, accepted, rejected, implemented).
        """
        check_id("partnership", partnership)
        if review is not None:
            check_id("review", review)
        if owner is not None:
            check_id("owner", owner)
        if status is not None:
            check_choice("status", status, _STATES, "a state")
        if theme is not None:
            check_choice("theme", theme, _THEMES, "a theme")
        day = self._as_of(as_of)
        bound = _end_of(day)
        where = Where("partnership = ? AND issued < ?", partnership, bound)
        where.equal("review_id", review)
        where.equal("owner", owner)
        where.equal("theme", None if theme is None else str(theme))
        progress = Where("partnership = ? AND occurred < ?", partnership, bound)
        progress.equal("review_id", review)
        with self.view.reading() as tx:
            # Constant fragments only; every value is a parameter.
            rows = tx.fetchall(
                "SELECT review_id, recommendation, owner, theme, due, issued, accepted, rejected,"  # noqa: S608
                f" implemented FROM rec_recommendation WHERE {where.sql}"
                " ORDER BY review_id, issued, recommendation",
                where.params,
            )
            reports = tx.fetchall(
                "SELECT review_id, recommendation, occurred, seq, status FROM rec_progress"  # noqa: S608
                f" WHERE {progress.sql} ORDER BY occurred, seq",
                progress.params,
            )
        latest: dict[tuple[str, str], tuple[int, int, str]] = {}
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for review_id, recommendation, occurred, _seq, rag in reports:
            key = (str(review_id), str(recommendation))
            counts[key] += 1
            latest[key] = (int(occurred), int(_seq), str(rag))
        out: list[RecommendationStatus] = []
        for row in rows:
            key = (str(row[0]), str(row[1]))
            found = _status(row, day, bound, counts.get(key, 0), latest.get(key))
            if status is None or found.state == status:
                out.append(found)
        return out

    def reviews(self, partnership: str, *, as_of: Day | None = None) -> list[ReviewSummary]:
        """Every review notified by the end of ``as_of``, with its recommendations counted."""
        check_id("partnership", partnership)
        day = self._as_of(as_of)
        bound = _end_of(day)
        with self.view.reading() as tx:
            reviews = tx.fetchall(
                "SELECT review_id, case_id, incident, notified, rapid_review, rapid_review_at,"
                " level, commissioned, published FROM rec_review"
                " WHERE partnership = ? AND opened < ? ORDER BY notified, review_id",
                (partnership, bound),
            )
            recommendations = tx.fetchall(
                "SELECT review_id, due, accepted, rejected, implemented FROM rec_recommendation"
                " WHERE partnership = ? AND issued < ?",
                (partnership, bound),
            )
        tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for review_id, due, accepted, rejected, implemented in recommendations:
            state = _state(_by(accepted, bound), _by(rejected, bound), _by(implemented, bound))
            counts = tally[str(review_id)]
            counts[state] += 1
            counts["all"] += 1
            if _is_overdue(state, date.fromisoformat(due), day):
                counts["overdue"] += 1
        out: list[ReviewSummary] = []
        for row in reviews:
            counts = tally[str(row[0])]
            rapid_at = _by(row[5], bound)
            commissioned = _by(row[7], bound)
            out.append(
                ReviewSummary(
                    review=str(row[0]),
                    case=None if row[1] is None else str(row[1]),
                    incident=str(row[2]),
                    notified_panel_at=from_micros(int(row[3])),
                    rapid_review=None if rapid_at is None else str(row[4]),
                    rapid_review_at=rapid_at,
                    level=None if commissioned is None else ReviewLevel(row[6]),
                    commissioned_at=commissioned,
                    published_at=_by(row[8], bound),
                    recommendations=counts["all"],
                    issued=counts["issued"],
                    accepted=counts["accepted"],
                    rejected=counts["rejected"],
                    implemented=counts["implemented"],
                    overdue=counts["overdue"],
                    as_of=day,
                )
            )
        return out

    def themes(self, partnership: str, *, period: Period = "year") -> list[ThemeCount]:
        """Recommendations and distinct reviews per theme and period, by theme then period."""
        check_id("partnership", partnership)
        label = _period_label(period)
        issued = self._issued(partnership)
        recommendations: dict[tuple[str, str], int] = defaultdict(int)
        reviews: dict[tuple[str, str], set[str]] = defaultdict(set)
        pairs: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for theme, review, on in issued:
            at = label(on)
            recommendations[theme, at] += 1
            reviews[theme, at].add(review)
            pairs[theme].add((review, at))
        recurring = {theme for theme, seen in pairs.items() if _recurs(seen)}
        return [
            ThemeCount(
                theme=Theme(theme),
                period=at,
                recommendations=n,
                reviews=len(reviews[theme, at]),
                recurring=theme in recurring,
            )
            for (theme, at), n in sorted(recommendations.items())
        ]

    def recurring_themes(
        self, partnership: str, *, min_reviews: int = 2, period: Period = "year"
    ) -> list[RecurringTheme]:
        """Recurring themes raised by at least ``min_reviews`` distinct reviews, most reviews first.

        Recurring as in :meth:`themes`: two different reviews raised the theme in two
        different periods, so any number of reviews within one period is not enough.
        """
        check_id("partnership", partnership)
        check_int("min_reviews", min_reviews, 2, None, "a theme recurs in 2 or more reviews")
        label = _period_label(period)
        by_theme: dict[str, list[tuple[str, date]]] = defaultdict(list)
        for theme, review, on in self._issued(partnership):
            by_theme[theme].append((review, on))
        out: list[RecurringTheme] = []
        for theme, raised in by_theme.items():
            review_ids = sorted({review for review, _ in raised})
            if len(review_ids) < min_reviews or not _recurs(
                {(review, label(on)) for review, on in raised}
            ):
                continue
            days = [on for _, on in raised]
            out.append(
                RecurringTheme(
                    theme=Theme(theme),
                    reviews=len(review_ids),
                    review_ids=review_ids,
                    recommendations=len(raised),
                    periods=sorted({label(on) for on in days}),
                    first_issued=min(days),
                    last_issued=max(days),
                )
            )
        out.sort(key=lambda t: (-t.reviews, t.theme.value))
        return out

    def _issued(self, partnership: str) -> list[tuple[str, str, date]]:
        with self.view.reading() as tx:
            rows = tx.fetchall(
                "SELECT theme, review_id, issued_on FROM rec_recommendation WHERE partnership = ?",
                (partnership,),
            )
        return [(str(t), str(r), date.fromisoformat(on)) for t, r, on in rows]


# -- helpers -----------------------------------------------------------------------------


def _set_review(tx: Tx, event: Envelope, **columns: object) -> None:
    """Set ``columns`` (literal names in this module's code) of the event's review row."""
    tx.execute(
        f"UPDATE rec_review SET {', '.join(f'{c} = ?' for c in columns)}"  # noqa: S608 -- literal names
        " WHERE partnership = ? AND review_id = ?",
        (*columns.values(), event.partnership, event.ident),
    )


def _step(tx: Tx, event: Envelope, column: str) -> None:
    """Set the instant of a recommendation's step: ``accepted``, ``rejected`` or ``implemented``."""
    fact = cast(
        RecommendationAccepted | RecommendationRejected | RecommendationImplemented, event.fact
    )
    tx.execute(
        f"UPDATE rec_recommendation SET {column} = ?"  # noqa: S608 -- column is one of three literals
        " WHERE partnership = ? AND review_id = ? AND recommendation = ?",
        (event.occurred_us, event.partnership, event.ident, fact.recommendation),
    )


def _end_of(day: date) -> int:
    """The first microsecond after ``day`` ends in Europe/London."""
    return to_micros(datetime.combine(day + timedelta(days=1), time(), tzinfo=LONDON))


def _by(value: int | None, bound: int) -> datetime | None:
    """The instant ``value`` when it came before ``bound``, else ``None`` (not yet happened)."""
    return None if value is None or value >= bound else from_micros(int(value))


def _state(
    accepted: datetime | None, rejected: datetime | None, implemented: datetime | None
) -> RecommendationState:
    if implemented is not None:
        return "implemented"
    if rejected is not None:
        return "rejected"
    if accepted is not None:
        return "accepted"
    return "issued"


def _is_overdue(state: RecommendationState, due: date, as_of: date) -> bool:
    return state not in ("implemented", "rejected") and due < as_of


def _status(
    row: tuple[object, ...],
    day: date,
    bound: int,
    reports: int,
    latest: tuple[int, int, str] | None,
) -> RecommendationStatus:
    review, recommendation, owner, theme, due_text, issued = row[:6]
    accepted = _by(cast(int | None, row[6]), bound)
    rejected = _by(cast(int | None, row[7]), bound)
    implemented = _by(cast(int | None, row[8]), bound)
    state = _state(accepted, rejected, implemented)
    due = date.fromisoformat(str(due_text))
    overdue = _is_overdue(state, due, day)
    reported = None if latest is None else RagStatus(latest[2])
    rag, source = rag_for(state=state, overdue=overdue, reported=reported, due=due, as_of=day)
    return RecommendationStatus(
        review=str(review),
        recommendation=str(recommendation),
        owner=str(owner),
        theme=Theme(str(theme)),
        due=due,
        issued_at=from_micros(cast(int, issued)),
        accepted_at=accepted,
        rejected_at=rejected,
        implemented_at=implemented,
        state=state,
        reports=reports,
        last_report_at=None if latest is None else from_micros(latest[0]),
        reported_rag=reported,
        rag=rag,
        rag_source=source,
        overdue=overdue,
        days_overdue=(day - due).days if overdue else 0,
        as_of=day,
    )


_LABELS: Final[dict[str, _Label]] = {
    "year": lambda day: f"{day.year}",
    "quarter": lambda day: f"{day.year}-Q{(day.month - 1) // 3 + 1}",
}


def _period_label(period: str) -> _Label:
    check_choice("period", period, tuple(_LABELS), "a period")
    return _LABELS[period]


def _recurs(seen: set[tuple[str, str]]) -> bool:
    """Whether two different reviews raised the theme in two different periods."""
    items = sorted(seen)
    return any(
        a_review != b_review and a_period != b_period
        for i, (a_review, a_period) in enumerate(items)
        for b_review, b_period in items[i + 1 :]
    )
