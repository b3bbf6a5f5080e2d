"""Challenge history: who challenged whom, how far it went, how fast each stage was answered.

Per challenge: the agency that raised it and the agency it is against, the matter,
the case (if any), the day it was raised, its current stage and the stage it
reached (the same: escalation only goes up), its status (open, resolved,
withdrawn) and outcome, and the working days it took to resolve. Per stage: when
its clock started (raised, or escalated to it), when it closed, what closed it
(the first ``ChallengeResponded`` at that stage, or an escalation, resolution or
withdrawal while it was unanswered), the stage's response limit, the working days
taken, and whether that was late.

**Answered or not.** A stage is *answered* only by the challenged agency's
``ChallengeResponded`` at that stage: only then are ``answered_at``/``answered_on``
set. A stage the raising agency escalated before the challenged agency answered is
``escalated_unanswered`` (its clock stopped at the escalation, so lateness is still
measured to it, but nobody answered); one the challenged agency escalated itself
without answering is ``escalated_by_challenged``; one during which the challenge
was resolved or withdrawn is ``resolved`` or ``withdrawn`` (:data:`StageStatus`).

**Time to resolve.** ``working_days_to_resolve`` counts the working days in
``(raised_on, ended_on]`` of a resolved challenge; it is ``None`` while the
challenge is open (on the day asked about) and for a withdrawn one, which was never
resolved (``raised_on`` and ``ended_on`` still say how long it ran).

**Limits and working days.** A stage's limit is the partnership's own
(``PartnershipEstablished.escalation_stages[*].response_working_days``), or
:data:`DEFAULT_RESPONSE_WORKING_DAYS` for a stage the partnership did not define.
The partnership's nation and limits are kept in ``challenge_partnership`` (the
partnership's events come first in the stream) and cached in memory. Days are
``Europe/London`` dates; working days exclude weekends and the nation's bank
holidays, and are counted in ``(start, answer]``, so a challenge raised on
Thursday 2 April 2026 and answered on Wednesday 8 April 2026 in England took
2 working days (Good Friday and Easter Monday do not count). A stage is late when
it was answered after its due day, the ``limit``-th working day after it started:
by date, so an answer on the Saturday after a Friday due day is late, and by the
working days from the due day to the answer, but never by fewer than 1 (that
Saturday answer is 1 working day late, as is one on the Monday after).

**As of a day.** Rows keep instants and days, and the working-day arithmetic is
done when asked, so :meth:`ChallengeView.open_challenges` and
:meth:`ChallengeView.by_agency` can answer as of any day ``D``: a challenge raised
by ``D`` and not ended by ``D``, a stage answered after ``D`` still open on ``D``,
and overdue when ``D`` is after its due day, by the working days from its due day
to ``D`` and at least 1 (the same rule as lateness).

No free text: the summary, responses, reasons and notes of a challenge are
personal data and are left out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Final, Literal, TypeAlias, cast

import msgspec

from projections._checks import Day, check_choice, check_day, check_id, check_range
from projections._partnerships import PartnershipFacts, PartnershipTable
from projections._store import Tx, ViewStore, from_micros
from projections._view import ClockedView, Envelope, Where, utc_now
from projections.calendar import WorkingCalendar, calendar_for, local_date
from projections.errors import InvalidViewQuery
from schemas.challenge import (
    ChallengeEscalated,
    ChallengeMatter,
    ChallengeRaised,
    ChallengeResolved,
    ChallengeResponded,
    ChallengeWithdrawn,
)
from schemas.partnership import Nation, PartnershipEstablished

__all__ = [
    "DEFAULT_RESPONSE_WORKING_DAYS",
    "AgencyChallengeCounts",
    "ChallengeSummary",
    "ChallengeView",
    "ClosedBy",
    "StageStatus",
    "StageTiming",
]

#: The response limit of a stage the partnership's escalation procedure does not define.
DEFAULT_RESPONSE_WORKING_DAYS: Final = 5

Status: TypeAlias = Literal["open", "resolved", "withdrawn"]
Role: TypeAlias = Literal["raised", "received"]
#: What started a stage's clock.
StartedBy: TypeAlias = Literal["raised", "escalated"]
#: What stopped a stage's clock.
ClosedBy: TypeAlias = Literal["responded", "escalated", "resolved", "withdrawn"]
#: How a stage went: ``answered`` only by the challenged agency's response at that stage.
StageStatus: TypeAlias = Literal[
    "open", "answered", "escalated_unanswered", "escalated_by_challenged", "resolved", "withdrawn"
]

_STATUSES: Final = ("open", "resolved", "withdrawn")
_ROLES: Final = ("raised", "received")
_MATTERS: Final = tuple(m.value for m in ChallengeMatter)


class StageTiming(msgspec.Struct, frozen=True, kw_only=True):
    """One stage of a challenge: its clock, its limit and how it went."""

    stage: int
    started_at: datetime
    started_on: date
    started_by: StartedBy
    limit_working_days: int
    #: Whether the partnership defined this stage's limit (else the default applied).
    limit_defined: bool
    #: The last day on which an answer was on time.
    due_on: date
    #: ``open`` until the stage's clock stops; ``answered`` only by the challenged agency's
    #: response at this stage; ``escalated_unanswered`` when the raising agency escalated first.
    status: StageStatus = "open"
    #: When the challenged agency responded at this stage (``None``: it never did).
    answered_at: datetime | None = None
    answered_on: date | None = None
    #: When the stage's clock stopped (the response, or the escalation, resolution or
    #: withdrawal that came first), and what stopped it.
    closed_at: datetime | None = None
    closed_on: date | None = None
    closed_by: ClosedBy | None = None
    #: Working days in ``(started_on, closed_on]``.
    working_days_taken: int | None = None
    #: ``None`` while the stage is open.
    late: bool | None = None
    #: Working days past ``due_on`` when closed: 0 when on time, at least 1 when late.
    working_days_late: int | None = None
    #: Working days past ``due_on`` as of the query's day, for an open stage: 0 while the
    #: day is not after ``due_on``, at least 1 once it is (a Saturday after a Friday due day).
    days_overdue: int | None = None


class ChallengeSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A challenge as it stood (now, or as of the query's day), with its stages."""

    challenge: str
    by_agency: str
    against_agency: str
    matter: str
    case: str | None
    raised_at: datetime
    raised_on: date
    current_stage: int
    stage_reached: int
    status: Status
    outcome: str | None
    ended_at: datetime | None
    ended_on: date | None
    stages: list[StageTiming]
    #: Working days in ``(raised_on, ended_on]`` of a resolved challenge; ``None`` while it
    #: is open and for a withdrawn one (it was not resolved).
    working_days_to_resolve: int | None = None


class AgencyChallengeCounts(msgspec.Struct, frozen=True, kw_only=True):
    """One agency's challenges, raised and received, as of the query's day.

    ``late_responses`` and ``overdue_now`` are about the challenges it received: the
    stages it was asked to answer that were answered (by a response, an escalation,
    a resolution or a withdrawal) after their limit, and those still open past it.
    """

    agency: str
    raised: int
    received: int
    open_raised: int
    open_received: int
    withdrawn: int
    #: Resolved challenges it raised, per :class:`~schemas.challenge.ChallengeOutcome` value.
    resolved_raised: dict[str, int]
    #: Resolved challenges against it, per outcome.
    resolved_received: dict[str, int]
    #: The highest stage any challenge it raised or received reached (0 for none).
    max_stage_reached: int
    late_responses: int
    overdue_now: int


def _limit(facts: PartnershipFacts | None, stage: int) -> tuple[int, bool]:
    """A stage's response limit in working days, and whether the partnership defined it."""
    days = None if facts is None else facts.stage_limits.get(stage)
    return (DEFAULT_RESPONSE_WORKING_DAYS, False) if days is None else (days, True)


_PARTNERSHIPS: Final = "challenge_partnership"
_SELECT: Final = (
    "SELECT c.challenge, c.by_agency, c.against_agency, c.matter, c.case_id, c.raised,"
    " c.raised_day, c.status, c.outcome, c.ended, c.ended_day, s.stage, s.started, s.started_day,"
    " s.started_by, s.limit_days, s.limit_defined, s.closed, s.closed_day, s.closed_by,"
    " s.closed_agency"
    " FROM challenge c JOIN challenge_stage s"
    " ON s.partnership = c.partnership AND s.challenge = c.challenge"
)
_ORDER: Final = " ORDER BY c.raised, c.challenge, s.stage"


class ChallengeView(ClockedView):
    """The ``challenges`` view: challenge history and stage response times.

    ``clock`` says what time it is for queries that default to today (a test's fixed clock).
    """

    name = "challenges"
    table_names: ClassVar[tuple[str, ...]] = (_PARTNERSHIPS, "challenge", "challenge_stage")
    tables: ClassVar[tuple[str, ...]] = (
        PartnershipTable.ddl(_PARTNERSHIPS),
        "CREATE TABLE IF NOT EXISTS challenge ("
        " partnership TEXT NOT NULL, challenge TEXT NOT NULL, seq {bigint} NOT NULL,"
        " by_agency TEXT NOT NULL, against_agency TEXT NOT NULL, matter TEXT NOT NULL,"
        " case_id TEXT, raised {bigint} NOT NULL, raised_day TEXT NOT NULL,"
        " status TEXT NOT NULL, outcome TEXT, ended {bigint}, ended_day TEXT,"
        " PRIMARY KEY (partnership, challenge))",
        "CREATE INDEX IF NOT EXISTS challenge_raised ON challenge (partnership, raised_day)",
        "CREATE TABLE IF NOT EXISTS challenge_stage ("
        " partnership TEXT NOT NULL, challenge TEXT NOT NULL, stage INTEGER NOT NULL,"
        " started {bigint} NOT NULL, started_day TEXT NOT NULL, started_by TEXT NOT NULL,"
        " limit_days INTEGER NOT NULL, limit_defined INTEGER NOT NULL,"
        " closed {bigint}, closed_day TEXT, closed_by TEXT, closed_agency TEXT,"
        " PRIMARY KEY (partnership, challenge, stage))",
    )

    def __init__(self, view: ViewStore, *, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(view, clock=clock)
        self._partnerships = PartnershipTable(_PARTNERSHIPS)

    def forget(self) -> None:
        self._partnerships.forget()

    # -- applying ------------------------------------------------------------------
    # At most two statements per event; a partnership's facts are read once per process.

    def on_PartnershipEstablished(self, tx: Tx, event: Envelope) -> None:
        fact = cast(PartnershipEstablished, event.fact)
        self._partnerships.record(tx, event.partnership, fact)

    def on_ChallengeRaised(self, tx: Tx, event: Envelope) -> None:
        fact = cast(ChallengeRaised, event.fact)
        day = local_date(fact.occurred_at).isoformat()
        tx.execute(
            "INSERT INTO challenge (partnership, challenge, seq, by_agency, against_agency, matter,"
            " case_id, raised, raised_day, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open')",
            (
                event.partnership,
                event.ident,
                event.seq,
                fact.by_agency,
                fact.against_agency,
                fact.matter.value,
                fact.case if isinstance(fact.case, str) else None,
                event.occurred_us,
                day,
            ),
        )
        self._start_stage(tx, event, fact.stage, "raised", day)

    def on_ChallengeResponded(self, tx: Tx, event: Envelope) -> None:
        fact = cast(ChallengeResponded, event.fact)
        tx.execute(
            "UPDATE challenge_stage SET closed = ?, closed_day = ?, closed_by = 'responded',"
            " closed_agency = ?"
            " WHERE partnership = ? AND challenge = ? AND stage = ? AND closed IS NULL",
            (
                event.occurred_us,
                local_date(fact.occurred_at).isoformat(),
                fact.by_agency,
                event.partnership,
                event.ident,
                fact.stage,
            ),
        )

    def on_ChallengeEscalated(self, tx: Tx, event: Envelope) -> None:
        fact = cast(ChallengeEscalated, event.fact)
        day = local_date(fact.occurred_at).isoformat()
        self._stop_open_stage(tx, event, day, "escalated", fact.by_agency)
        self._start_stage(tx, event, fact.to_stage, "escalated", day)

    def on_ChallengeResolved(self, tx: Tx, event: Envelope) -> None:
        fact = cast(ChallengeResolved, event.fact)
        self._end(tx, event, "resolved", fact.outcome.value, None)

    def on_ChallengeWithdrawn(self, tx: Tx, event: Envelope) -> None:
        fact = cast(ChallengeWithdrawn, event.fact)
        self._end(tx, event, "withdrawn", None, fact.by_agency)

    def _end(
        self,
        tx: Tx,
        event: Envelope,
        status: Literal["resolved", "withdrawn"],
        outcome: str | None,
        agency: str | None,
    ) -> None:
        day = local_date(event.fact.occurred_at).isoformat()
        self._stop_open_stage(tx, event, day, status, agency)
        tx.execute(
            "UPDATE challenge SET status = ?, outcome = ?, ended = ?, ended_day = ?"
            " WHERE partnership = ? AND challenge = ?",
            (status, outcome, event.occurred_us, day, event.partnership, event.ident),
        )

    @staticmethod
    def _stop_open_stage(
        tx: Tx, event: Envelope, day: str, closed_by: ClosedBy, agency: str | None
    ) -> None:
        # Earlier stages were stopped when the challenge left them: only the current
        # stage can still be open.
        tx.execute(
            "UPDATE challenge_stage SET closed = ?, closed_day = ?, closed_by = ?,"
            " closed_agency = ? WHERE partnership = ? AND challenge = ? AND closed IS NULL",
            (event.occurred_us, day, closed_by, agency, event.partnership, event.ident),
        )

    def _start_stage(
        self, tx: Tx, event: Envelope, stage: int, started_by: StartedBy, day: str
    ) -> None:
        days, defined = _limit(self._partnerships.get(tx, event.partnership), stage)
        tx.execute(
            "INSERT INTO challenge_stage (partnership, challenge, stage, started, started_day,"
            " started_by, limit_days, limit_defined) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.partnership,
                event.ident,
                stage,
                event.occurred_us,
                day,
                started_by,
                days,
                int(defined),
            ),
        )

    # -- querying ------------------------------------------------------------------

    def challenges(
        self,
        partnership: str,
        *,
        agency: str | None = None,
        role: Role | None = None,
        case: str | None = None,
        matter: str | None = None,
        date_from: Day | None = None,
        date_to: Day | None = None,
        status: Status | None = None,
    ) -> list[ChallengeSummary]:
        """The partnership's challenges in the order raised, with their stages.

        ``agency`` alone matches challenges it raised or received; with ``role`` only
        those it ``raised`` or ``received``. ``date_from``/``date_to`` bound the day a
        challenge was raised, both included.
        """
        check_id("partnership", partnership)
        if agency is not None:
            check_id("agency", agency)
        if role is not None:
            check_choice("role", role, _ROLES, "a role")
            if agency is None:
                msg = "role is given without agency; rule: role says how agency took part"
                raise InvalidViewQuery(msg, field="role")
        if case is not None:
            check_id("case", case)
        if matter is not None:
            check_choice("matter", matter, _MATTERS, "a challenge matter")
        if status is not None:
            check_choice("status", status, _STATUSES, "a status")
        date_from, date_to = check_range(date_from, date_to)

        where = Where("c.partnership = ?", partnership)
        if agency is not None and role is None:
            where.add("(c.by_agency = ? OR c.against_agency = ?)", agency, agency)
        elif agency is not None:
            where.add("c.by_agency = ?" if role == "raised" else "c.against_agency = ?", agency)
        where.equal("c.case_id", case)
        where.equal("c.matter", matter)
        where.equal("c.status", status)
        where.days("c.raised_day", date_from, date_to)
        return self._summaries(partnership, where, None)

    def open_challenges(self, partnership: str, *, as_of: Day) -> list[ChallengeSummary]:
        """The challenges open on ``as_of`` as they stood then; open stages say days overdue."""
        check_id("partnership", partnership)
        as_of = check_day("as_of", as_of)
        day = as_of.isoformat()
        where = Where("c.partnership = ? AND c.raised_day <= ?", partnership, day)
        where.add("(c.ended_day IS NULL OR c.ended_day > ?)", day)
        return self._summaries(partnership, where, as_of)

    def by_agency(
        self, partnership: str, *, as_of: Day | None = None
    ) -> list[AgencyChallengeCounts]:
        """Per agency, its challenges raised and received as they stood on ``as_of``.

        ``as_of`` defaults to today in London. Only agencies that raised or received a
        challenge by then are listed, in name order.
        """
        check_id("partnership", partnership)
        day = self._as_of(as_of)
        summaries = self._summaries(
            partnership,
            Where("c.partnership = ? AND c.raised_day <= ?", partnership, day.isoformat()),
            day,
        )
        tallies: dict[str, _Tally] = defaultdict(_Tally)
        for c in summaries:
            raiser, receiver = tallies[c.by_agency], tallies[c.against_agency]
            raiser.raised += 1
            receiver.received += 1
            for tally in (raiser, receiver):
                tally.max_stage = max(tally.max_stage, c.stage_reached)
            if c.status == "open":
                raiser.open_raised += 1
                receiver.open_received += 1
            elif c.status == "withdrawn":
                raiser.withdrawn += 1
            elif c.outcome is not None:
                raiser.resolved_raised[c.outcome] += 1
                receiver.resolved_received[c.outcome] += 1
            receiver.late += sum(1 for s in c.stages if s.late)
            receiver.overdue += sum(
                1 for s in c.stages if s.days_overdue is not None and day > s.due_on
            )
        return [tallies[agency].counts(agency) for agency in sorted(tallies)]

    def _summaries(
        self, partnership: str, where: Where, as_of: date | None
    ) -> list[ChallengeSummary]:
        with self.view.reading() as tx:
            facts = self._partnerships.get(tx, partnership)
            # ``where`` is made of constant fragments only; every value is a parameter.
            rows = tx.fetchall(f"{_SELECT} WHERE {where.sql}{_ORDER}", where.params)
        # England's calendar for a partnership never established (it can have no challenges).
        calendar = calendar_for(Nation.ENGLAND if facts is None else facts.nation)
        grouped: dict[str, list[Sequence[Any]]] = {}
        for row in rows:
            grouped.setdefault(str(row[0]), []).append(row)
        return [_summary(group, calendar, as_of) for group in grouped.values()]


@dataclass
class _Tally:
    raised: int = 0
    received: int = 0
    open_raised: int = 0
    open_received: int = 0
    withdrawn: int = 0
    resolved_raised: Counter[str] = field(default_factory=Counter)
    resolved_received: Counter[str] = field(default_factory=Counter)
    max_stage: int = 0
    late: int = 0
    overdue: int = 0

    def counts(self, agency: str) -> AgencyChallengeCounts:
        return AgencyChallengeCounts(
            agency=agency,
            raised=self.raised,
            received=self.received,
            open_raised=self.open_raised,
            open_received=self.open_received,
            withdrawn=self.withdrawn,
            resolved_raised=dict(sorted(self.resolved_raised.items())),
            resolved_received=dict(sorted(self.resolved_received.items())),
            max_stage_reached=self.max_stage,
            late_responses=self.late,
            overdue_now=self.overdue,
        )


def _day(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(str(value))


def _instant(value: Any) -> datetime | None:
    return None if value is None else from_micros(int(value))


def _summary(
    rows: Sequence[Sequence[Any]], calendar: WorkingCalendar, as_of: date | None
) -> ChallengeSummary:
    """A challenge from its joined rows (one per stage); as of ``as_of`` when given."""
    first = rows[0]
    challenge, by_agency, against_agency, matter, case, raised, raised_day = first[:7]
    status, outcome, ended, ended_day = first[7:11]
    ended_on = _day(ended_day)
    if as_of is not None and ended_on is not None and ended_on > as_of:
        status, outcome, ended, ended_on = "open", None, None, None
    stages = [
        _stage(row[11:], str(against_agency), calendar, as_of)
        for row in rows
        if as_of is None or date.fromisoformat(str(row[13])) <= as_of
    ]
    reached = max(s.stage for s in stages)
    raised_on = date.fromisoformat(str(raised_day))
    return ChallengeSummary(
        challenge=str(challenge),
        by_agency=str(by_agency),
        against_agency=str(against_agency),
        matter=str(matter),
        case=case,
        raised_at=from_micros(int(raised)),
        raised_on=raised_on,
        current_stage=reached,
        stage_reached=reached,
        status=status,
        outcome=outcome,
        ended_at=_instant(ended),
        ended_on=ended_on,
        stages=stages,
        working_days_to_resolve=None
        if status != "resolved" or ended_on is None
        else calendar.working_days_between(raised_on, ended_on),
    )


def _stage(
    row: Sequence[Any], against_agency: str, calendar: WorkingCalendar, as_of: date | None
) -> StageTiming:
    stage, started, started_day, started_by, limit, defined = row[:6]
    closed, closed_day, closed_by, closed_agency = row[6:]
    started_on = date.fromisoformat(str(started_day))
    due_on = calendar.add_working_days(started_on, int(limit))
    closed_on = _day(closed_day)
    base = StageTiming(
        stage=int(stage),
        started_at=from_micros(int(started)),
        started_on=started_on,
        started_by=started_by,
        limit_working_days=int(limit),
        limit_defined=bool(defined),
        due_on=due_on,
    )
    if closed_on is None or (as_of is not None and closed_on > as_of):
        if as_of is None:
            return base
        return msgspec.structs.replace(base, days_overdue=_past_due(due_on, as_of, calendar))
    answered = closed_by == "responded"
    return msgspec.structs.replace(
        base,
        status=_stage_status(closed_by, closed_agency, against_agency),
        answered_at=_instant(closed) if answered else None,
        answered_on=closed_on if answered else None,
        closed_at=_instant(closed),
        closed_on=closed_on,
        closed_by=closed_by,
        working_days_taken=calendar.working_days_between(started_on, closed_on),
        late=closed_on > due_on,
        working_days_late=_past_due(due_on, closed_on, calendar),
    )


def _stage_status(closed_by: str, closed_agency: Any, against_agency: str) -> StageStatus:
    """How a closed stage went: answered only by a response from the agency challenged."""
    if closed_by == "responded":
        return "answered"
    if closed_by == "escalated":
        return (
            "escalated_by_challenged" if closed_agency == against_agency else "escalated_unanswered"
        )
    return "resolved" if closed_by == "resolved" else "withdrawn"


def _past_due(due_on: date, day: date, calendar: WorkingCalendar) -> int:
    """Working days ``day`` is past ``due_on``: 0 unless after it, then at least 1.

    Past due is decided by date; the working days in ``(due_on, day]`` only say by how
    much, and are 0 for a weekend or bank holiday straight after the due day.
    """
    if day <= due_on:
        return 0
    return max(1, calendar.working_days_between(due_on, day))
