"""The year a report covers: a partnership's reporting year (April to March) or a calendar year.

English safeguarding partnerships publish their yearly report for the year from
1 April to 31 March (Working Together 2023: "yearly report"; the years are named
``2025-26``), so ``--year 2025-26`` is that year. ``--year 2025`` is the calendar year,
1 January to 31 December, for a partnership (or a national panel) that counts so.
Days are London's, as every view counts them; the year ends at the last instant of its
last day in Europe/London.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal

import msgspec

from ledger.errors import LedgerError
from projections.calendar import LONDON

__all__ = ["InvalidReportYear", "ReportYear", "parse_year"]

_REPORTING: Final = re.compile(r"([0-9]{4})-([0-9]{2})")
_CALENDAR: Final = re.compile(r"[0-9]{4}")
_RULE: Final = (
    "a year is a reporting year such as 2025-26 (1 April 2025 to 31 March 2026)"
    " or a calendar year such as 2025"
)
#: The first year a report can cover (the ledger refuses events before it).
_FIRST: Final = 1900


class InvalidReportYear(LedgerError, ValueError):
    """Raised when a report's year is neither ``YYYY-YY`` (April to March) nor ``YYYY``."""

    field = "year"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.rule = _RULE


class ReportYear(msgspec.Struct, frozen=True, kw_only=True):
    """The days a report covers, both included, and how they were named."""

    #: ``2025-26`` or ``2025``, as asked.
    label: str
    kind: Literal["reporting", "calendar"]
    first_day: date
    last_day: date

    @property
    def end(self) -> datetime:
        """The last instant of :attr:`last_day` in London, in UTC."""
        after = datetime.combine(self.last_day + timedelta(days=1), time(), LONDON)
        return (after - timedelta(microseconds=1)).astimezone(UTC)

    @property
    def start(self) -> datetime:
        """The first instant of :attr:`first_day` in London, in UTC."""
        return datetime.combine(self.first_day, time(), LONDON).astimezone(UTC)

    def contains(self, day: date) -> bool:
        """Whether ``day`` (a London date) is one of the year's days."""
        return self.first_day <= day <= self.last_day


def parse_year(text: str) -> ReportYear:
    """``2025-26`` (1 April 2025 to 31 March 2026) or ``2025`` (the calendar year)."""
    found = _REPORTING.fullmatch(text)
    if found is not None:
        first, second = int(found[1]), int(found[2])
        if (first + 1) % 100 != second:
            msg = f"year {text!r} is not two consecutive years; rule: {_RULE}"
            raise InvalidReportYear(msg)
        _check_range(text, first)
        return ReportYear(
            label=text,
            kind="reporting",
            first_day=date(first, 4, 1),
            last_day=date(first + 1, 3, 31),
        )
    if _CALENDAR.fullmatch(text):
        year = int(text)
        _check_range(text, year)
        return ReportYear(
            label=text, kind="calendar", first_day=date(year, 1, 1), last_day=date(year, 12, 31)
        )
    msg = f"year {text!r} is not a year; rule: {_RULE}"
    raise InvalidReportYear(msg)


def _check_range(text: str, year: int) -> None:
    if not _FIRST <= year <= 9998:
        msg = f"year {text!r} is out of range (from {_FIRST}); rule: {_RULE}"
        raise InvalidReportYear(msg)
