"""Opt-out register: every time an agency did not cooperate, by agency, kind, case and date.

An entry is one of four categories:

* ``refusal``: a ``CooperationRefused`` (information withheld, report not provided, other);
* ``non_attendance``: a ``CooperationRefused`` of kind ``meeting_not_attended``;
* ``unanswered_request``: a ``CooperationRefused`` of kind ``request_not_answered``, or,
  in a query given ``as_of``, an ``InformationRequested`` whose ``due_by`` day had
  passed by then with neither an ``InformationProvided`` nor a refusal naming it;
* ``rejected_recommendation``: a ``RecommendationRejected`` from a review (its case is
  the one the review's ``SeriousIncidentNotified`` named, if any).

**Stated basis.** A refusal keeps its structured :class:`~schemas.case.RefusalBasis`,
and every entry has a ``standing``: ``decision_not_to_share`` for a refusal on the
basis that sharing would be more detrimental to the child (Children Act 2004
s16LA), ``stated_basis`` for any other basis given (legal prohibition, consent not
given, other, and a rejected recommendation's written basis), and
``no_stated_basis`` for a refusal that gave none and for a request left unanswered.

**Reasons are personal data.** The register answers "who opted out, and why", so,
unlike the other views, it keeps the free text of a refusal's ``reason`` and of a
rejected recommendation's ``basis`` (column ``reason``). Crypto-shredding the
events and rebuilding the view removes it.

**Policy choices.**

* The date of an entry is the ``Europe/London`` date of its ``occurred_at``; for an
  overdue request it is its ``due_by`` (``occurred_at`` is then the ``due_by`` instant).
* A request is overdue as of day ``D`` when its due day is before ``D`` and it was
  neither answered nor refused on or before ``D``; ``days_overdue`` counts calendar
  days, since an information request's ``due_by`` is a calendar deadline. A refused
  request is represented by its refusal, never also as overdue.
* :meth:`OptOutView.counts_by_quarter` and :meth:`OptOutView.repeated` count recorded
  opt-outs only (an overdue request depends on the day it is looked at); ``repeated``
  counts refusals (``CooperationRefused`` of any kind), not rejected recommendations.
* A lawful decision not to share (s16LA) is not a failure to cooperate: ``repeated``
  leaves it out of the count its threshold is judged on and shows it apart
  (``decisions_not_to_share``), unless asked to count it too.
* A query's "today" (``repeated`` without ``as_of``) is the London date of the
  view's clock.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Final, Literal, TypeAlias, cast

import msgspec

from projections._checks import (
    Day,
    check_choice,
    check_id,
    check_int,
    check_optional_day,
    check_range,
)
from projections._store import Tx, from_micros, to_micros
from projections._view import ClockedView, Envelope, Where
from projections.calendar import local_date
from projections.errors import InvalidViewQuery
from schemas.case import (
    CooperationRefused,
    InformationProvided,
    InformationRequested,
    RefusalBasis,
    RefusalKind,
)
from schemas.review import RecommendationRejected, SeriousIncidentNotified

__all__ = [
    "RECOMMENDATION_REJECTED",
    "Category",
    "OptOutEntry",
    "OptOutView",
    "QuarterCount",
    "RepeatPattern",
    "Standing",
]

#: What an entry is, broadly.
Category: TypeAlias = Literal[
    "refusal", "non_attendance", "unanswered_request", "rejected_recommendation"
]
#: Whether the agency stated a basis, and whether it was a s16LA decision not to share.
Standing: TypeAlias = Literal["decision_not_to_share", "stated_basis", "no_stated_basis"]

#: The ``kind`` of a rejected recommendation (the other kinds are :class:`RefusalKind` values).
RECOMMENDATION_REJECTED: Final = "recommendation_rejected"
_KINDS: Final = tuple(sorted([*(k.value for k in RefusalKind), RECOMMENDATION_REJECTED]))
_STANDINGS: Final = ("decision_not_to_share", "stated_basis", "no_stated_basis")


class OptOutEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the opt-out register.

    ``reason`` is **personal data**: the free text of a refusal's ``reason`` or of a
    rejected recommendation's ``basis``. Do not log it or export it beyond the register.
    """

    #: Stream sequence of the refusal or rejection (of the request, for an overdue request).
    sequence: int
    category: Category
    #: A :class:`~schemas.case.RefusalKind` value, or ``recommendation_rejected``.
    kind: str
    #: The agency that did not cooperate.
    agency: str
    #: The agency that recorded the event.
    recorded_by: str
    occurred_at: datetime
    occurred_on: date
    standing: Standing
    #: The :class:`~schemas.case.RefusalBasis` value of a refusal; ``None`` otherwise.
    basis: str | None = None
    case: str | None = None
    review: str | None = None
    recommendation: str | None = None
    request: str | None = None
    #: The agency that made the request a refusal or an overdue entry is about.
    requested_by: str | None = None
    due_by: datetime | None = None
    #: Calendar days past the due day as of the query's ``as_of`` (overdue requests only).
    days_overdue: int | None = None
    #: Personal data: the refusal's reason or the rejection's written basis.
    reason: str | None = None


class QuarterCount(msgspec.Struct, frozen=True, kw_only=True):
    """How many opt-outs of one kind one agency recorded against it in a calendar quarter."""

    agency: str
    #: ``2026-Q1``: the quarter of the London date the opt-out occurred on.
    quarter: str
    kind: str
    count: int
    without_stated_basis: int
    decisions_not_to_share: int


class RepeatPattern(msgspec.Struct, frozen=True, kw_only=True):
    """An agency that refused at least ``threshold`` times within the window.

    ``count``, ``kinds``, ``without_stated_basis``, ``first_on`` and ``last_on`` are
    about the refusals counted: those that were not decisions not to share, or every
    refusal when the query included them.
    """

    agency: str
    #: The refusals counted against the threshold.
    count: int
    #: Counted refusals per :class:`~schemas.case.RefusalKind` value.
    kinds: dict[str, int]
    without_stated_basis: int
    #: The agency's decisions not to share (s16LA) in the window, counted or not.
    decisions_not_to_share: int
    first_on: date
    last_on: date
    window_from: date
    window_to: date


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _quarter(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _category(kind: str) -> Category:
    if kind == RefusalKind.MEETING_NOT_ATTENDED:
        return "non_attendance"
    if kind == RefusalKind.REQUEST_NOT_ANSWERED:
        return "unanswered_request"
    if kind == RECOMMENDATION_REJECTED:
        return "rejected_recommendation"
    return "refusal"


def _standing(basis: str | None, kind: str) -> Standing:
    if basis == RefusalBasis.MORE_DETRIMENTAL_TO_CHILD:
        return "decision_not_to_share"
    if basis == RefusalBasis.NO_STATED_BASIS or (basis is None and kind != RECOMMENDATION_REJECTED):
        return "no_stated_basis"
    return "stated_basis"


_ENTRY_COLUMNS: Final = (
    "e.seq, e.kind, e.agency, e.recorded_by, e.occurred, e.day, e.basis, e.case_id, e.review,"
    " e.recommendation, e.request, r.from_agency, e.reason"
)


class OptOutView(ClockedView):
    """The ``optouts`` view: the opt-out register.

    ``clock`` says what time it is for queries that default to today (a test's fixed clock).
    """

    name = "optouts"
    table_names: ClassVar[tuple[str, ...]] = ("optout_entry", "optout_request", "optout_review")
    tables: ClassVar[tuple[str, ...]] = (
        "CREATE TABLE IF NOT EXISTS optout_entry ("
        " partnership TEXT NOT NULL, seq {bigint} NOT NULL, kind TEXT NOT NULL,"
        " agency TEXT NOT NULL, recorded_by TEXT NOT NULL, occurred {bigint} NOT NULL,"
        " day TEXT NOT NULL, quarter TEXT NOT NULL, basis TEXT, case_id TEXT, review TEXT,"
        " recommendation TEXT, request TEXT, reason TEXT, PRIMARY KEY (partnership, seq))",
        "CREATE INDEX IF NOT EXISTS optout_entry_agency ON optout_entry (partnership, agency, day)",
        "CREATE INDEX IF NOT EXISTS optout_entry_day ON optout_entry (partnership, day)",
        "CREATE TABLE IF NOT EXISTS optout_request ("
        " partnership TEXT NOT NULL, case_id TEXT NOT NULL, request TEXT NOT NULL,"
        " seq {bigint} NOT NULL, from_agency TEXT NOT NULL, to_agency TEXT NOT NULL,"
        " recorded_by TEXT NOT NULL, requested_day TEXT NOT NULL, due {bigint}, due_day TEXT,"
        " answered_day TEXT, refused_day TEXT, PRIMARY KEY (partnership, case_id, request))",
        "CREATE INDEX IF NOT EXISTS optout_request_due ON optout_request (partnership, due_day)"
        " WHERE due_day IS NOT NULL",
        "CREATE TABLE IF NOT EXISTS optout_review ("
        " partnership TEXT NOT NULL, review TEXT NOT NULL, case_id TEXT NOT NULL,"
        " PRIMARY KEY (partnership, review))",
    )

    # -- applying ------------------------------------------------------------------
    # One statement per event, two for a refusal naming a request; no reads, no caches.
    # A request's insert is queued (answers and refusals update it by a statement that
    # runs the queue first).

    def on_CooperationRefused(self, tx: Tx, event: Envelope) -> None:
        fact = cast(CooperationRefused, event.fact)
        request = _text(fact.request)
        day = local_date(fact.occurred_at)
        tx.execute(
            "INSERT INTO optout_entry (partnership, seq, kind, agency, recorded_by, occurred, day,"
            " quarter, basis, case_id, request, reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.partnership,
                event.seq,
                fact.kind.value,
                fact.agency,
                fact.recorded_by.agency,
                event.occurred_us,
                day.isoformat(),
                _quarter(day),
                fact.basis.value,
                event.ident,
                request,
                _text(fact.reason),
            ),
        )
        if request is not None:
            tx.execute(
                "UPDATE optout_request SET refused_day = ? WHERE partnership = ? AND case_id = ?"
                " AND request = ? AND refused_day IS NULL",
                (day.isoformat(), event.partnership, event.ident, request),
            )

    def on_RecommendationRejected(self, tx: Tx, event: Envelope) -> None:
        fact = cast(RecommendationRejected, event.fact)
        day = local_date(fact.occurred_at)
        tx.execute(
            "INSERT INTO optout_entry (partnership, seq, kind, agency, recorded_by, occurred, day,"
            " quarter, case_id, review, recommendation, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
            " (SELECT case_id FROM optout_review WHERE partnership = ? AND review = ?), ?, ?, ?)",
            (
                event.partnership,
                event.seq,
                RECOMMENDATION_REJECTED,
                fact.by_agency,
                fact.recorded_by.agency,
                event.occurred_us,
                day.isoformat(),
                _quarter(day),
                event.partnership,
                event.ident,
                event.ident,
                fact.recommendation,
                fact.basis,
            ),
        )

    def on_SeriousIncidentNotified(self, tx: Tx, event: Envelope) -> None:
        fact = cast(SeriousIncidentNotified, event.fact)
        case = _text(fact.case)
        if case is not None:
            tx.execute(
                "INSERT INTO optout_review (partnership, review, case_id) VALUES (?, ?, ?)",
                (event.partnership, event.ident, case),
            )

    def on_InformationRequested(self, tx: Tx, event: Envelope) -> None:
        fact = cast(InformationRequested, event.fact)
        due = fact.due_by if isinstance(fact.due_by, datetime) else None
        tx.insert_later(
            "INSERT INTO optout_request (partnership, case_id, request, seq, from_agency,"
            " to_agency, recorded_by, requested_day, due, due_day)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.partnership,
                event.ident,
                fact.request,
                event.seq,
                fact.from_agency,
                fact.to_agency,
                fact.recorded_by.agency,
                local_date(fact.occurred_at).isoformat(),
                None if due is None else to_micros(due),
                None if due is None else local_date(due).isoformat(),
            ),
        )

    def on_InformationProvided(self, tx: Tx, event: Envelope) -> None:
        fact = cast(InformationProvided, event.fact)
        tx.execute(
            "UPDATE optout_request SET answered_day = ? WHERE partnership = ? AND case_id = ?"
            " AND request = ?",
            (
                local_date(fact.occurred_at).isoformat(),
                event.partnership,
                event.ident,
                fact.request,
            ),
        )

    # -- querying ------------------------------------------------------------------

    def entries(
        self,
        partnership: str,
        *,
        agency: str | None = None,
        kind: str | None = None,
        case: str | None = None,
        date_from: Day | None = None,
        date_to: Day | None = None,
        standing: Standing | None = None,
        as_of: Day | None = None,
    ) -> list[OptOutEntry]:
        """The register's entries, in date order, filtered by any of the arguments.

        ``kind`` is a :class:`~schemas.case.RefusalKind` value or ``recommendation_rejected``;
        ``date_from``/``date_to`` bound the entry's date, both days included. With
        ``as_of``, requests overdue on that day (and not answered or refused by it) are
        added as ``unanswered_request`` entries of kind ``request_not_answered``.
        """
        check_id("partnership", partnership)
        if agency is not None:
            check_id("agency", agency)
        if case is not None:
            check_id("case", case)
        if kind is not None:
            check_choice("kind", kind, _KINDS, "a kind of opt-out")
        if standing is not None:
            check_choice("standing", standing, _STANDINGS, "a standing")
        date_from, date_to = check_range(date_from, date_to)
        as_of = check_optional_day("as_of", as_of)

        where = Where("e.partnership = ?", partnership)
        where.equal("e.agency", agency)
        where.equal("e.kind", kind)
        where.equal("e.case_id", case)
        where.days("e.day", date_from, date_to)
        with self.view.reading() as tx:
            rows = tx.fetchall(
                # Constant fragments only; every value is a parameter.
                f"SELECT {_ENTRY_COLUMNS} FROM optout_entry e LEFT JOIN optout_request r"  # noqa: S608
                " ON r.partnership = e.partnership AND r.case_id = e.case_id"
                " AND r.request = e.request"
                f" WHERE {where.sql} ORDER BY e.occurred, e.seq",
                where.params,
            )
            overdue: list[Any] = []
            if as_of is not None and kind in (None, RefusalKind.REQUEST_NOT_ANSWERED):
                overdue = self._overdue(tx, partnership, agency, case, date_from, date_to, as_of)
        found = [_entry(row) for row in rows]
        found += [_overdue_entry(row, as_of) for row in overdue if as_of is not None]
        if standing is not None:
            found = [e for e in found if e.standing == standing]
        if overdue:
            found.sort(key=lambda e: (e.occurred_at, e.sequence))
        return found

    @staticmethod
    def _overdue(
        tx: Tx,
        partnership: str,
        agency: str | None,
        case: str | None,
        date_from: date | None,
        date_to: date | None,
        as_of: date,
    ) -> list[Any]:
        day = as_of.isoformat()
        where = Where(
            "partnership = ? AND due_day < ? AND requested_day <= ?", partnership, day, day
        )
        where.add("(answered_day IS NULL OR answered_day > ?)", day)
        where.add("(refused_day IS NULL OR refused_day > ?)", day)
        where.equal("to_agency", agency)
        where.equal("case_id", case)
        where.days("due_day", date_from, date_to)
        return tx.fetchall(
            # Constant fragments only; every value is a parameter.
            "SELECT seq, to_agency, recorded_by, due, due_day, case_id, request, from_agency"  # noqa: S608
            f" FROM optout_request WHERE {where.sql}",
            where.params,
        )

    def counts_by_quarter(self, partnership: str, *, year: int | None = None) -> list[QuarterCount]:
        """Recorded opt-outs per agency, calendar quarter and kind (``year``: that year's only)."""
        check_id("partnership", partnership)
        params: list[Any] = [partnership]
        bounds = ""
        if year is not None:
            check_int("year", year, 1900, 9999, "a year is a whole number from 1900 to 9999")
            bounds = " AND quarter >= ? AND quarter <= ?"
            params += [f"{year}-Q1", f"{year}-Q4"]
        with self.view.reading() as tx:
            rows = tx.fetchall(
                # Constant fragments only; every value is a parameter.
                "SELECT agency, quarter, kind, COUNT(*),"  # noqa: S608
                " SUM(CASE WHEN basis = ? OR (basis IS NULL AND kind <> ?) THEN 1 ELSE 0 END),"
                " SUM(CASE WHEN basis = ? THEN 1 ELSE 0 END)"
                f" FROM optout_entry WHERE partnership = ?{bounds}"
                " GROUP BY agency, quarter, kind ORDER BY quarter, agency, kind",
                [
                    RefusalBasis.NO_STATED_BASIS.value,
                    RECOMMENDATION_REJECTED,
                    RefusalBasis.MORE_DETRIMENTAL_TO_CHILD.value,
                    *params,
                ],
            )
        return [
            QuarterCount(
                agency=str(r[0]),
                quarter=str(r[1]),
                kind=str(r[2]),
                count=int(r[3]),
                without_stated_basis=int(r[4]),
                decisions_not_to_share=int(r[5]),
            )
            for r in rows
        ]

    def repeated(
        self,
        partnership: str,
        *,
        threshold: int = 3,
        within_days: int = 365,
        as_of: Day | None = None,
        include_decisions_not_to_share: bool = False,
    ) -> list[RepeatPattern]:
        """Agencies that refused at least ``threshold`` times in ``within_days`` days to ``as_of``.

        The window holds ``within_days`` days and ends on ``as_of`` (included; default:
        today in London). Rejected recommendations are not refusals and do not count.
        A decision not to share because sharing would be more detrimental to the child
        (s16LA) is lawful, so it counts only with ``include_decisions_not_to_share``;
        either way each pattern says how many the agency made in the window.
        """
        check_id("partnership", partnership)
        check_int("threshold", threshold, 2, 10_000, "a repeat is at least 2 refusals")
        check_int("within_days", within_days, 1, 36_600, "a window is 1 to 36600 days long")
        if not isinstance(include_decisions_not_to_share, bool):
            field = "include_decisions_not_to_share"
            msg = f"{field} {include_decisions_not_to_share!r} is not a bool; rule: True or False"
            raise InvalidViewQuery(msg, field=field)
        day = self._as_of(as_of)
        window_from = day - timedelta(days=within_days - 1)
        with self.view.reading() as tx:
            rows = tx.fetchall(
                "SELECT agency, kind, basis, day FROM optout_entry WHERE partnership = ?"
                " AND kind <> ? AND day >= ? AND day <= ? ORDER BY agency, day",
                (partnership, RECOMMENDATION_REJECTED, window_from.isoformat(), day.isoformat()),
            )
        by_agency: dict[str, list[Sequence[Any]]] = defaultdict(list)
        for row in rows:
            by_agency[str(row[0])].append(row)
        patterns = []
        for agency, every in sorted(by_agency.items()):
            lawful = sum(1 for r in every if r[2] == RefusalBasis.MORE_DETRIMENTAL_TO_CHILD)
            refusals = (
                every
                if include_decisions_not_to_share
                else [r for r in every if r[2] != RefusalBasis.MORE_DETRIMENTAL_TO_CHILD]
            )
            if len(refusals) < threshold:
                continue
            patterns.append(
                RepeatPattern(
                    agency=agency,
                    count=len(refusals),
                    kinds=dict(sorted(Counter(str(r[1]) for r in refusals).items())),
                    without_stated_basis=sum(
                        1 for r in refusals if r[2] == RefusalBasis.NO_STATED_BASIS
                    ),
                    decisions_not_to_share=lawful,
                    first_on=date.fromisoformat(str(refusals[0][3])),
                    last_on=date.fromisoformat(str(refusals[-1][3])),
                    window_from=window_from,
                    window_to=day,
                )
            )
        return patterns


def _entry(row: Sequence[Any]) -> OptOutEntry:
    seq, kind, agency, recorded_by, occurred, day, basis, case, review = row[:9]
    recommendation, request, requested_by, reason = row[9:]
    kind = str(kind)
    return OptOutEntry(
        sequence=int(seq),
        category=_category(kind),
        kind=kind,
        agency=str(agency),
        recorded_by=str(recorded_by),
        occurred_at=from_micros(int(occurred)),
        occurred_on=date.fromisoformat(str(day)),
        standing=_standing(basis, kind),
        basis=basis,
        case=case,
        review=review,
        recommendation=recommendation,
        request=request,
        requested_by=requested_by,
        reason=reason,
    )


def _overdue_entry(row: Sequence[Any], as_of: date) -> OptOutEntry:
    seq, to_agency, recorded_by, due, due_day, case, request, from_agency = row
    due_on = date.fromisoformat(str(due_day))
    due_by = from_micros(int(due))
    return OptOutEntry(
        sequence=int(seq),
        category="unanswered_request",
        kind=RefusalKind.REQUEST_NOT_ANSWERED.value,
        agency=str(to_agency),
        recorded_by=str(recorded_by),
        occurred_at=due_by,
        occurred_on=due_on,
        standing="no_stated_basis",
        case=str(case),
        request=str(request),
        requested_by=str(from_agency),
        due_by=due_by,
        days_overdue=(as_of - due_on).days,
    )
