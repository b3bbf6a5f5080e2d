"""Query-argument checks every view shares.

Each check refuses a bad argument with :class:`~projections.errors.InvalidViewQuery`
whose ``field`` names the argument and whose message says the field, the problem
and the rule: ``date_to datetime(...) is not a calendar date; rule: ...``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import msgspec

from projections.errors import InvalidViewQuery
from schemas import EARLIEST_YEAR, YEARS_AHEAD, Id

__all__ = [
    "check_choice",
    "check_day",
    "check_id",
    "check_instant",
    "check_int",
    "check_range",
]

_decode_id = msgspec.json.Decoder(Id).decode

_BOUND_RULE = f"between {EARLIEST_YEAR}-01-01 and {YEARS_AHEAD} years from now"


def _latest() -> datetime:
    """The latest instant a query may name: 50 years of 365.25 days from now."""
    return datetime.now(UTC) + timedelta(days=round(YEARS_AHEAD * 365.25))


def _out_of_bounds(field: str, value: date) -> InvalidViewQuery:
    msg = f"{field} {value.isoformat()} is out of range; rule: a query names a time {_BOUND_RULE}"
    return InvalidViewQuery(msg, field=field)


def check_id(field: str, value: object) -> None:
    """Refuse a query argument that is not a ledger identifier."""
    try:
        _decode_id(msgspec.json.encode(value))
    except (msgspec.ValidationError, TypeError, UnicodeEncodeError):
        # The value is not quoted: a caller may have typed a name where an id belongs.
        msg = f"{field} is not an identifier; rule: lowercase letters, digits, _ and -"
        raise InvalidViewQuery(msg, field=field) from None


def check_instant(field: str, value: datetime) -> None:
    """Refuse a naive datetime, or one before 1900 or over 50 years ahead."""
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"{field} has no time zone; rule: an instant must be timezone-aware (UTC)"
        raise InvalidViewQuery(msg, field=field)
    if value.year < EARLIEST_YEAR or value > _latest():
        raise _out_of_bounds(field, value)


def check_day(field: str, value: object) -> None:
    """Refuse anything but a :class:`~datetime.date` (a datetime is not a day) from 1900
    to 50 years ahead."""
    if isinstance(value, datetime) or not isinstance(value, date):
        msg = (
            f"{field} {value!r} is not a calendar date;"
            " rule: a day is a datetime.date, read as a Europe/London date"
        )
        raise InvalidViewQuery(msg, field=field)
    if value.year < EARLIEST_YEAR or value > _latest().date():
        raise _out_of_bounds(field, value)


def check_range(date_from: date | None, date_to: date | None) -> None:
    """Refuse ``date_from``/``date_to`` that are not days, or that run backwards."""
    if date_from is not None:
        check_day("date_from", date_from)
    if date_to is not None:
        check_day("date_to", date_to)
    if date_from is not None and date_to is not None and date_from > date_to:
        msg = (
            f"date_from {date_from.isoformat()} is after date_to {date_to.isoformat()}; "
            "rule: a date range runs from its first day to its last, date_from <= date_to"
        )
        raise InvalidViewQuery(msg, field="date_from")


def check_choice(field: str, value: object, choices: Sequence[str], what: str) -> None:
    """Refuse a value outside ``choices``; ``what`` names a valid one (``a status``)."""
    if value not in choices:
        msg = f"{field} {value!r} is not {what}; rule: one of {', '.join(choices)}"
        raise InvalidViewQuery(msg, field=field)


def check_int(field: str, value: object, low: int, high: int | None, rule: str) -> None:
    """Refuse anything but a whole number from ``low`` to ``high`` (no upper bound: ``None``)."""
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        msg = f"{field} {value!r} is not a whole number in range; rule: {rule}"
        raise InvalidViewQuery(msg, field=field)
