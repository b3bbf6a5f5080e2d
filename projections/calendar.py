"""Working-day calendars and statutory due dates, per nation.

Three units measure a statutory clock:

* ``working_days``: Monday to Friday, less the bank holidays of the partnership's
  nation. England and Wales are looked up separately (``holidays`` subdivisions
  ``ENG`` and ``WLS``) even where their bank holidays coincide today, so a day that
  one nation adds never leaks into the other's clocks. "``n`` working days after
  ``d``" is the ``n``-th working day strictly after ``d``; ``d`` itself never counts,
  whether or not it is a working day.
* ``calendar_days``: every day counts.
* ``calendar_months``: the same day ``n`` months on, or the last day of that month
  when it is shorter (31 January plus one month is 28 or 29 February).

Events carry UTC instants; the day something happened is its date in
``Europe/London`` (:func:`local_date`), so an instant at 23:30 UTC in British Summer
Time falls on the next day. Bank holidays are expanded lazily, year by year, as
dates are asked about. Everything here is pure: no clock is read, nothing is written.
"""

from __future__ import annotations

import functools
from collections.abc import Container
from datetime import date, datetime, timedelta
from typing import Final, Literal, TypeAlias
from zoneinfo import ZoneInfo

import holidays
from dateutil.relativedelta import relativedelta

from schemas.partnership import Nation

__all__ = [
    "LONDON",
    "SUBDIVISIONS",
    "Unit",
    "WorkingCalendar",
    "add_calendar_days",
    "add_months",
    "calendar_for",
    "due_date",
    "lateness",
    "local_date",
]

#: The unit a statutory limit is counted in.
Unit: TypeAlias = Literal["working_days", "calendar_days", "calendar_months"]

#: The time zone whose dates count: a day is a day in England and Wales.
LONDON: Final = ZoneInfo("Europe/London")

#: The ``holidays`` subdivision of the United Kingdom whose bank holidays each nation keeps.
SUBDIVISIONS: Final[dict[Nation, str]] = {Nation.ENGLAND: "ENG", Nation.WALES: "WLS"}

_SATURDAY: Final = 5


def local_date(instant: datetime) -> date:
    """The date in ``Europe/London`` on which a timezone-aware ``instant`` fell.

    Raises :class:`ValueError` for a naive datetime, which names no instant.
    """
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("local_date needs a timezone-aware datetime")
    return instant.astimezone(LONDON).date()


def _bank_holidays(subdivision: str) -> Container[date]:
    """The bank holidays of one UK subdivision, expanded year by year as they are asked about."""
    return holidays.country_holidays("GB", subdiv=subdivision, expand=True)


#: How many answers a calendar remembers before it starts again.
_MEMO_LIMIT: Final = 100_000


class WorkingCalendar:
    """The working days of one nation: weekdays that are not its bank holidays.

    ``bank_holidays`` defaults to the ``holidays`` package's data for the nation's
    subdivision; pass any container of dates to use another source (a test's fake).
    """

    __slots__ = ("_added", "_holidays", "_years", "nation", "subdivision")

    def __init__(self, nation: Nation, bank_holidays: Container[date] | None = None) -> None:
        self.nation: Final = nation
        self.subdivision: Final = SUBDIVISIONS[nation]
        self._holidays: Final = (
            bank_holidays if bank_holidays is not None else _bank_holidays(self.subdivision)
        )
        self._added: dict[tuple[date, int], date] = {}
        #: Per year, the working days among its first ``i`` days, for ``i`` of 0 to its length.
        self._years: dict[int, tuple[int, ...]] = {}

    def __repr__(self) -> str:
        return f"WorkingCalendar({self.nation.value!r}, subdivision={self.subdivision!r})"

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` is a weekday and not a bank holiday of this nation."""
        return d.weekday() < _SATURDAY and d not in self._holidays

    def add_working_days(self, d: date, n: int) -> date:
        """The ``n``-th working day after ``d`` (``d`` itself when ``n`` is 0).

        Raises :class:`ValueError` for a negative ``n``. Answers are remembered (a
        rebuild asks for the same few thousand dates a million times), up to a bound.
        """
        if n < 0:
            raise ValueError("add_working_days counts forward only: n must be 0 or more")
        found = self._added.get((d, n))
        if found is None:
            if len(self._added) >= _MEMO_LIMIT:
                self._added.clear()
            found = self._added[(d, n)] = self._add_working_days(d, n)
        return found

    def _add_working_days(self, d: date, n: int) -> date:
        day = d
        while n > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
        return day

    def working_days_between(self, a: date, b: date) -> int:
        """The number of working days in ``(a, b]``; negative when ``b`` is before ``a``.

        Counted from each year's running total of working days (:meth:`_year`, worked out
        once per year), not day by day: a board's dashboard counts how late every overdue
        clock is to today, years of days for each of thousands of clocks.
        """
        if b < a:
            return -self.working_days_between(b, a)
        count = self._through(b) - self._through(a)
        for year in range(a.year, b.year):
            count += self._year(year)[-1]
        return count

    def _through(self, d: date) -> int:
        """The working days of ``d``'s year up to and including ``d``."""
        return self._year(d.year)[d.timetuple().tm_yday]

    def _year(self, year: int) -> tuple[int, ...]:
        table = self._years.get(year)
        if table is None:
            first = date(year, 1, 1)
            totals = [0]
            for offset in range((date(year + 1, 1, 1) - first).days):
                totals.append(totals[-1] + self.is_working_day(first + timedelta(days=offset)))
            table = self._years[year] = tuple(totals)
        return table


@functools.cache  # an lru_cache without a bound: one calendar per nation
def calendar_for(nation: Nation) -> WorkingCalendar:
    """The working calendar of ``nation``, one shared instance per nation."""
    return WorkingCalendar(nation)


def add_calendar_days(d: date, n: int) -> date:
    """The date ``n`` calendar days after ``d`` (before it when ``n`` is negative)."""
    return d + timedelta(days=n)


def add_months(d: date, n: int) -> date:
    """The same day ``n`` months after ``d``, or the last day of a shorter month."""
    result: date = d + relativedelta(months=n)
    return result


def due_date(start: date, limit: int, unit: Unit, calendar: WorkingCalendar) -> date:
    """The last day on which a clock started on ``start`` with ``limit`` ``unit`` is on time."""
    if unit == "working_days":
        return calendar.add_working_days(start, limit)
    if unit == "calendar_days":
        return add_calendar_days(start, limit)
    return add_months(start, limit)


def lateness(due: date, done: date, unit: Unit, calendar: WorkingCalendar) -> int:
    """How many days late ``done`` is past ``due``: 0 when on time (``done <= due``).

    Counted in working days for a working-day clock, in calendar days otherwise
    (a month-based clock is late by days, since months are not of one length).
    """
    if done <= due:
        return 0
    if unit == "working_days":
        return calendar.working_days_between(due, done)
    return (done - due).days
