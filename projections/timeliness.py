"""Timeliness: performance against statutory timescales, per agency and rule.

The rules (:mod:`projections.clocks`, ``rules.toml`` plus a partnership's own
file) say which event starts a clock, which stops it, the limit and whether it
counts working days (the partnership's nation's bank holidays), calendar days or
calendar months. Each started clock is a row with its start day and limit (the
rule's number, the partnership's setting, or the event's own due date, fixed
when it starts); the due day is worked out when asked, with the calendar then
installed, so a rebuild and a follower always agree. A stop closes the open
clock with the same rule, aggregate and key; a ``cancel`` trigger closes it as
"not applicable" (a case closed, a referral needing no assessment, a
recommendation rejected), so it is neither met nor overdue.

Policies, stated because reviews will ask:

* **One open clock per rule, aggregate and key.** A second start while one is
  open does not restart it: the clock measures from the earliest unanswered start
  (two referrals before one decision are timed from the first), unless the rule
  says ``restart`` (the initial conference runs from the last strategy discussion).
* **An event that starts and stops one rule** at the same instant ends a period and
  begins the next (review conferences); at two instants (a serious incident's
  "became aware" and "notified"), it opens the clock and closes it.
* **Late is a matter of dates**: stopped after the due day is late, even on a
  Saturday after a Friday due day; how late is counted in the rule's days (at
  least 1).
* **Pairing follows recording order.** A stop recorded before its start (a late
  recording) finds no open clock and is not counted; the start then opens a clock
  that stays open until the next stop. The chronology shows both events.
* **Days are London days.** A clock started at 23:30 UTC in summer starts the
  next day; on time means stopped on or before the due day.
* **The responsible agency** is the one that recorded the start, unless the rule
  names an agency field of the start event (``owner`` for recommendations).

Open clocks are "overdue" only relative to a date the caller gives: the view
never reads the system clock, so the same rows answer "as of 31 March".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar, Final, Literal

import msgspec

from projections._checks import check_choice, check_id
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


class TimelinessView(View):
    """The ``timeliness`` view."""

    name: str = "timeliness"
    table_names: ClassVar[tuple[str, ...]] = ("timeliness_clock", _PARTNERSHIPS)
    tables: ClassVar[tuple[str, ...]] = (
        PartnershipTable.ddl(_PARTNERSHIPS),
        "CREATE TABLE IF NOT EXISTS timeliness_clock ("
        " partnership TEXT NOT NULL, rule TEXT NOT NULL, aggregate TEXT NOT NULL,"
        " clock_key TEXT NOT NULL, start_seq {bigint} NOT NULL, agency TEXT NOT NULL,"
        " started {bigint} NOT NULL, start_date TEXT NOT NULL,"
        " limit_days INTEGER, fixed_due TEXT,"
        " stop_seq {bigint}, stopped {bigint}, stop_date TEXT,"
        " cancelled INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY (partnership, rule, aggregate, clock_key, start_seq))",
        # At most one open clock per rule, aggregate and key: a second start is ignored.
        "CREATE UNIQUE INDEX IF NOT EXISTS timeliness_open ON timeliness_clock"
        " (partnership, rule, aggregate, clock_key) WHERE stop_seq IS NULL",
        "CREATE INDEX IF NOT EXISTS timeliness_agency"
        " ON timeliness_clock (partnership, agency, rule)",
    )

    def __init__(self, view: ViewStore, *, rules: RuleSet | None = None) -> None:
        super().__init__(view)
        self.rules = rules if rules is not None else load_rules()
        self._titles = {rule.name: rule.title for rule in self.rules.rules}
        self._units = {rule.name: rule.unit for rule in self.rules.rules}
        self._index = RuleIndex(self.rules)
        self._partnerships = PartnershipTable(_PARTNERSHIPS)

    def forget(self) -> None:
        self._partnerships.forget()

    # -- applying ------------------------------------------------------------------

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
        nation = partnership.nation
        aggregate = f"{event.kind}.{event.ident}"
        starts = rules.starts(fact, nation=nation)
        started_at = {start.rule.name: start.at for start in starts}
        stops = rules.stops(fact, nation=nation)
        # A rule both stopped and started by this event at the same instant is a
        # recurring clock (a review conference ends one period and begins the next):
        # stop, then start. Stopped at another instant of the same event (a serious
        # incident notification says when the LA became aware and when it notified):
        # start, then stop.
        after = [s for s in stops if started_at.get(s.rule.name, s.at) != s.at]
        for stop in rules.cancels(fact, nation=nation):
            self._close(tx, event, aggregate, stop, cancelled=True)
        for stop in stops:
            if stop not in after:
                self._close(tx, event, aggregate, stop, cancelled=False)
        for start in starts:
            self._open(tx, event, aggregate, start, partnership.settings)
        for stop in after:
            self._close(tx, event, aggregate, stop, cancelled=False)

    def _open(
        self,
        tx: Tx,
        event: Envelope,
        aggregate: str,
        start: ClockStart,
        settings: Mapping[str, int],
    ) -> None:
        # The limit is fixed now (the rule's number, the partnership's setting, or the
        # event's own due date); the due day is worked out when asked, with the calendar.
        limit = limit_for(start.rule, event.fact, settings)
        days, fixed = (None, limit.isoformat()) if isinstance(limit, date) else (limit, None)
        conflict = (
            "ON CONFLICT (partnership, rule, aggregate, clock_key) WHERE stop_seq IS NULL"
            " DO UPDATE SET start_seq = excluded.start_seq, agency = excluded.agency,"
            " started = excluded.started, start_date = excluded.start_date,"
            " limit_days = excluded.limit_days, fixed_due = excluded.fixed_due"
            if start.rule.restart
            else "ON CONFLICT DO NOTHING"
        )
        insert = (
            "INSERT INTO timeliness_clock (partnership, rule, aggregate, clock_key, start_seq,"
            " agency, started, start_date, limit_days, fixed_due)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        )
        tx.execute(
            insert + conflict,  # both constant: no input reaches the SQL text
            (
                event.partnership,
                start.rule.name,
                aggregate,
                start.key,
                event.seq,
                start.responsible,
                to_micros(start.at),
                local_date(start.at).isoformat(),
                days,
                fixed,
            ),
        )

    @staticmethod
    def _close(
        tx: Tx, event: Envelope, aggregate: str, stop: ClockStop, *, cancelled: bool
    ) -> None:
        tx.execute(
            "UPDATE timeliness_clock SET stop_seq = ?, stopped = ?, stop_date = ?, cancelled = ?"
            " WHERE partnership = ? AND rule = ? AND aggregate = ? AND clock_key = ?"
            " AND stop_seq IS NULL",
            (
                event.seq,
                to_micros(stop.at),
                local_date(stop.at).isoformat(),
                1 if cancelled else 0,
                event.partnership,
                stop.rule.name,
                aggregate,
                stop.key,
            ),
        )

    # -- querying ------------------------------------------------------------------

    def clocks(
        self,
        partnership: str,
        *,
        as_of: date,
        rule: str | None = None,
        agency: str | None = None,
        status: Status | None = None,
    ) -> list[ClockRow]:
        """Every clock of the partnership started by ``as_of``, with its status as of then."""
        check_id("partnership", partnership)
        if rule is not None:
            check_choice("rule", rule, tuple(self._titles), "a timescale rule")
        where = Where("partnership = ? AND start_date <= ?", partnership, as_of.isoformat())
        where.equal("rule", rule)
        where.equal("agency", agency)
        with self.view.reading() as tx:
            rows = tx.fetchall(
                # Constant fragments only; every value is a parameter.
                "SELECT rule, aggregate, clock_key, agency, start_date, limit_days, fixed_due,"  # noqa: S608
                " stop_date, cancelled"
                f" FROM timeliness_clock WHERE {where.sql}"
                " ORDER BY start_date, rule, aggregate, clock_key",
                where.params,
            )
        nation = self._nation(partnership)
        out = [self._row(r, as_of, nation) for r in rows]
        return [c for c in out if status is None or c.status == status]

    def performance(self, partnership: str, *, as_of: date) -> list[RulePerformance]:
        """Per agency and rule: on time, late and by how much, open and overdue, as of ``as_of``."""
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

    def _row(self, row: tuple[Any, ...], as_of: date, nation: Nation) -> ClockRow:
        rule, aggregate, key, agency, started_text, days, fixed, stopped_text, cancelled = row
        started = date.fromisoformat(started_text)
        unit = self._units.get(rule, "calendar_days")
        calendar = calendar_for(nation)
        due = (
            date.fromisoformat(fixed)
            if fixed is not None
            else due_date(started, days, unit, calendar)
        )
        stopped: date | None = None
        status: Status
        if stopped_text is not None and date.fromisoformat(stopped_text) <= as_of:
            stopped = date.fromisoformat(stopped_text)
            if cancelled:
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
            aggregate=aggregate,
            key=key,
            agency=agency,
            started_on=started,
            due=due,
            stopped_on=stopped,
            status=status,
            days_late=late,
        )
