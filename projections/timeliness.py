"""Timeliness: performance against statutory timescales, per agency and rule.

The rules (:mod:`projections.clocks`, ``rules.toml`` plus a partnership's own
file) say which event starts a clock, which stops it, the limit and whether it
counts working days (the partnership's nation's bank holidays), calendar days or
calendar months. Each start, stop and cancel is stored as a "mark" (with, for a
start, its responsible agency and its limit: the rule's number, the
partnership's setting, or the event's own due date). Clocks are made when asked,
by pairing the marks of each rule, aggregate and key **in the order they
happened** (``occurred_at``), not the order they were recorded: a referral
recorded after the decision that answered it is still paired with it. A stop
closes the open clock; a ``cancel`` closes it as "not applicable" (a case
closed, a referral needing no assessment, a recommendation rejected), neither met
nor overdue. Due days are worked out when asked, with the calendar then
installed, so a rebuild and a follower always agree.

Policies, stated because reviews will ask:

* **One open clock per rule, aggregate and key.** A second start while one is
  open does not restart it: the clock measures from the earliest unanswered start
  (two referrals before one decision are timed from the first), unless the rule
  says ``restart`` (the initial conference runs from the last strategy discussion).
* **Marks of one instant** apply stop, cancel, start: a review conference ends one
  period and begins the next; a serious incident's "became aware" and "notified"
  are two instants, so its clock opens and closes.
* **Late is a matter of dates**: stopped after the due day is late, even on a
  Saturday after a Friday due day; how late is counted in the rule's days (at
  least 1).
* **Days are London days.** A clock started at 23:30 UTC in summer starts the
  next day; on time means stopped on or before the due day.
* **The responsible agency** is the one that recorded the start, unless the rule
  names an agency field of the start event (``owner`` for recommendations).

Open clocks are "overdue" only relative to a date the caller gives: the view
never reads the system clock, so the same rows answer "as of 31 March".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, Final, Literal

import msgspec

from projections._checks import Day, check_choice, check_day, check_id
from projections._partnerships import PartnershipTable
from projections._store import Tx, ViewStore, to_micros
from projections._view import Envelope, View, Where
from projections.calendar import calendar_for, due_date, lateness, local_date
from projections.clocks import ClockStart, ClockStop, RuleIndex, RuleSet, limit_for, load_rules
from projections.errors import InvalidViewQuery
from schemas.partnership import Nation, PartnershipEstablished

__all__ = ["ClockRow", "RulePerformance", "TimelinessView"]

Status = Literal["on_time", "late", "open", "overdue", "not_applicable"]


class ClockRow(msgspec.Struct, frozen=True, kw_only=True):
    """One statutory clock: when it started, when it was due, and how it ended (if it has)."""

    rule: str
    aggregate: str
    key: str
    agency: str
    started_on: date
    due: date
    stopped_on: date | None
    status: Status
    #: Days past due, in working days for working-day rules: when it stopped, or as of the query.
    days_late: int


class RulePerformance(msgspec.Struct, frozen=True, kw_only=True):
    """One agency's record against one rule, as of a date."""

    agency: str
    rule: str
    title: str
    on_time: int
    late: int
    open: int
    overdue: int
    #: Clocks that stopped applying (the case closed, the recommendation was rejected).
    not_applicable: int
    #: Mean and worst lateness of the late ones, in the rule's days.
    mean_days_late: float
    max_days_late: int


_PARTNERSHIPS: Final = "timeliness_partnership"

# Kinds of mark, in the order marks of one event at one instant apply: a review
# conference stops the running clock, then starts the next.
_STOP: Final = 0
_CANCEL: Final = 1
_START: Final = 2


@dataclass(slots=True)
class _Clock:
    """One clock made by pairing marks (see :meth:`TimelinessView._pair`)."""

    rule: str
    aggregate: str
    key: str
    agency: str
    started_on: str
    limit_days: int | None
    fixed_due: str | None
    ended_on: str | None = None
    cancelled: bool = False


class TimelinessView(View):
    """The ``timeliness`` view."""

    name: str = "timeliness"
    table_names: ClassVar[tuple[str, ...]] = ("timeliness_mark", _PARTNERSHIPS)
    tables: ClassVar[tuple[str, ...]] = (
        PartnershipTable.ddl(_PARTNERSHIPS),
        # One row per start, stop or cancel of a clock (a "mark"); clocks are made by
        # pairing the marks in the order they happened, when asked.
        "CREATE TABLE IF NOT EXISTS timeliness_mark ("
        " partnership TEXT NOT NULL, rule TEXT NOT NULL, aggregate TEXT NOT NULL,"
        " clock_key TEXT NOT NULL, seq {bigint} NOT NULL, kind INTEGER NOT NULL,"
        " happened {bigint} NOT NULL, on_date TEXT NOT NULL, agency TEXT,"
        " limit_days INTEGER, fixed_due TEXT,"
        " PRIMARY KEY (partnership, rule, aggregate, clock_key, seq, kind)){clustered}",
    )

    def __init__(self, view: ViewStore, *, rules: RuleSet | None = None) -> None:
        super().__init__(view)
        self.rules = rules if rules is not None else load_rules()
        self._titles = {rule.name: rule.title for rule in self.rules.rules}
        self._units = {rule.name: rule.unit for rule in self.rules.rules}
        self._restarts = {rule.name: rule.restart for rule in self.rules.rules}
        self._index = RuleIndex(self.rules)
        self._partnerships = PartnershipTable(_PARTNERSHIPS)

    def forget(self) -> None:
        self._partnerships.forget()

    # -- applying ------------------------------------------------------------------

    def handler_for(self, tag: str) -> Callable[[Tx, Envelope], None] | None:
        if tag == "PartnershipEstablished" or self._index.handles(tag):
            return self.apply
        return None

    def apply(self, tx: Tx, event: Envelope) -> None:
        fact = event.fact
        if isinstance(fact, PartnershipEstablished):
            self._partnerships.record(tx, event.partnership, fact)
            return
        rules = self._index
        if not rules.handles(event.tag):
            return
        partnership = self._partnerships.get(tx, event.partnership)
        if partnership is None:
            return  # a stream always establishes a partnership first; nothing to time against
        starts, stops, cancels = rules.marks(fact, nation=partnership.nation)
        if not (starts or stops or cancels):
            return
        aggregate = f"{event.kind}.{event.ident}"
        for stop in stops:
            self._mark(tx, event, aggregate, stop, _STOP)
        for cancel in cancels:
            self._mark(tx, event, aggregate, cancel, _CANCEL)
        for start in starts:
            # The limit is fixed now (the rule's number, the partnership's setting, or
            # the event's own due date); the due day is worked out when asked.
            limit = limit_for(start.rule, fact, partnership.settings)
            self._mark(tx, event, aggregate, start, _START, limit=limit)

    @staticmethod
    def _mark(
        tx: Tx,
        event: Envelope,
        aggregate: str,
        mark: ClockStart | ClockStop,
        kind: int,
        *,
        limit: int | date | None = None,
    ) -> None:
        tx.insert_later(
            "INSERT INTO timeliness_mark (partnership, rule, aggregate, clock_key, seq, kind,"
            " happened, on_date, agency, limit_days, fixed_due)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.partnership,
                mark.rule.name,
                aggregate,
                mark.key,
                event.seq,
                kind,
                to_micros(mark.at),
                local_date(mark.at).isoformat(),
                mark.responsible if isinstance(mark, ClockStart) else None,
                limit if isinstance(limit, int) else None,
                limit.isoformat() if isinstance(limit, date) else None,
            ),
        )

    # -- querying ------------------------------------------------------------------

    def clocks(
        self,
        partnership: str,
        *,
        as_of: Day,
        rule: str | None = None,
        agency: str | None = None,
        status: Status | None = None,
    ) -> list[ClockRow]:
        """Every clock of the partnership started by ``as_of``, with its status as of then."""
        check_id("partnership", partnership)
        as_of = check_day("as_of", as_of)
        if rule is not None:
            check_choice("rule", rule, tuple(self._titles), "a timescale rule")
        where = Where("partnership = ? AND on_date <= ?", partnership, as_of.isoformat())
        where.equal("rule", rule)
        with self.view.reading() as tx:
            marks = tx.fetchall(
                # Constant fragments only; every value is a parameter.
                "SELECT rule, aggregate, clock_key, kind, on_date, agency, limit_days, fixed_due"  # noqa: S608
                f" FROM timeliness_mark WHERE {where.sql}"
                " ORDER BY rule, aggregate, clock_key, happened, seq, kind",
                where.params,
            )
        nation = self._nation(partnership)
        out = [self._row(clock, as_of, nation) for clock in self._pair(marks)]
        out.sort(key=lambda c: (c.started_on, c.rule, c.aggregate, c.key))
        return [
            c
            for c in out
            if (status is None or c.status == status) and (agency is None or c.agency == agency)
        ]

    def _pair(self, marks: list[tuple[Any, ...]]) -> list[_Clock]:
        """Clocks from the marks of each rule, aggregate and key, in the order they happened.

        A start opens a clock unless one is open (then it restarts it if the rule says
        so, else it is ignored); a stop closes the open clock; a cancel closes it as not
        applicable; a stop or cancel with no open clock changes nothing.
        """
        clocks: list[_Clock] = []
        group: tuple[str, str, str] | None = None
        open_: _Clock | None = None
        for rule, aggregate, key, kind, on_date, agency, days, fixed in marks:
            if (rule, aggregate, key) != group:
                if open_ is not None:
                    clocks.append(open_)
                group, open_ = (rule, aggregate, key), None
            if kind == _START:
                if open_ is None or self._restarts.get(rule, False):
                    open_ = _Clock(rule, aggregate, key, str(agency), str(on_date), days, fixed)
            elif open_ is not None:
                open_.ended_on, open_.cancelled = str(on_date), kind == _CANCEL
                clocks.append(open_)
                open_ = None
        if open_ is not None:
            clocks.append(open_)
        return clocks

    def performance(self, partnership: str, *, as_of: Day) -> list[RulePerformance]:
        """Per agency and rule: on time, late and by how much, open and overdue, as of ``as_of``."""
        check_id("partnership", partnership)
        as_of = check_day("as_of", as_of)
        table: dict[tuple[str, str], list[ClockRow]] = {}
        for clock in self.clocks(partnership, as_of=as_of):
            table.setdefault((clock.agency, clock.rule), []).append(clock)
        out = []
        for (agency, rule), clocks in sorted(table.items()):
            late = [c.days_late for c in clocks if c.status == "late"]
            out.append(
                RulePerformance(
                    agency=agency,
                    rule=rule,
                    title=self._titles.get(rule, rule),
                    on_time=sum(c.status == "on_time" for c in clocks),
                    late=len(late),
                    open=sum(c.status in ("open", "overdue") for c in clocks),
                    overdue=sum(c.status == "overdue" for c in clocks),
                    not_applicable=sum(c.status == "not_applicable" for c in clocks),
                    mean_days_late=round(sum(late) / len(late), 2) if late else 0.0,
                    max_days_late=max(late, default=0),
                )
            )
        return out

    def _nation(self, partnership: str) -> Nation:
        with self.view.reading() as tx:
            facts = self._partnerships.get(tx, partnership)
        if facts is None:
            msg = (
                f"partnership {partnership!r} has no timeliness rows; rule: it must be established"
            )
            raise InvalidViewQuery(msg, field="partnership")
        return facts.nation

    def _row(self, clock: _Clock, as_of: date, nation: Nation) -> ClockRow:
        rule = clock.rule
        started = date.fromisoformat(clock.started_on)
        unit = self._units.get(rule, "calendar_days")
        calendar = calendar_for(nation)
        if clock.fixed_due is not None:
            due = date.fromisoformat(clock.fixed_due)
        else:
            due = due_date(started, clock.limit_days or 0, unit, calendar)
        stopped: date | None = None
        status: Status
        if clock.ended_on is not None:
            stopped = date.fromisoformat(clock.ended_on)
            if clock.cancelled:
                status, late = "not_applicable", 0
            else:
                # Late is a matter of dates (a Saturday after a Friday due day is late,
                # though no working day passed); how late is counted in the rule's days.
                status = "late" if stopped > due else "on_time"
                late = max(lateness(due, stopped, unit, calendar), 1) if stopped > due else 0
        else:
            status = "overdue" if as_of > due else "open"
            late = max(lateness(due, as_of, unit, calendar), 1) if as_of > due else 0
        return ClockRow(
            rule=rule,
            aggregate=clock.aggregate,
            key=clock.key,
            agency=clock.agency,
            started_on=started,
            due=due,
            stopped_on=stopped,
            status=status,
            days_late=late,
        )
