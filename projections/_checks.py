"""Query-argument checks every view shares, and the one place days and instants are parsed.

A query takes a day as a :class:`~datetime.date` or an ISO date string (``2026-04-01``)
and an instant as a timezone-aware :class:`~datetime.datetime` or an ISO 8601 string with
its offset (``2026-04-01T09:30:00Z``), so the CLI and HTTP layers pass what they were
given; :func:`check_day` and :func:`check_instant` return the parsed value, and every
view parses through them. Each check refuses a bad argument with
:class:`~projections.errors.InvalidViewQuery` whose ``field`` names the argument and
whose message says the field, the problem and the rule: ``date_to datetime(...) is an
instant, not a calendar date; rule: ...``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TypeAlias

import msgspec

from projections.errors import InvalidViewQuery
from schemas import EARLIEST_YEAR, YEARS_AHEAD, Id

__all__ = [
    "Day",
    "Instant",
    "check_choice",
    "check_day",
    "check_id",
    "check_instant",
    "check_int",
    "check_optional_day",
    "check_optional_instant",
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


#: A day as a query takes it: a :class:`~datetime.date` or an ISO date string.
Day: TypeAlias = date | str
#: An instant as a query takes it: an aware :class:`~datetime.datetime` or an ISO string
#: with its offset.
Instant: TypeAlias = datetime | str

_DAY_RULE = (
    "a day is a datetime.date or an ISO date string YYYY-MM-DD, read as a Europe/London date"
)
_INSTANT_RULE = (
    "an instant is a timezone-aware datetime or an ISO 8601 string with its offset"
    " (2026-04-01T09:30:00Z, 2026-04-01T10:30:00+01:00)"
)
#: An ISO calendar date, and nothing else (``date.fromisoformat`` also takes ``20260401``
#: and week dates, which no one means by a day).
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: The longest ISO instant worth parsing (a date, time to microseconds and an offset).
_MAX_INSTANT_CHARS = 40


def _shown(value: object) -> str:
    """``value`` as an error message shows it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= _MAX_INSTANT_CHARS else f"{text[:_MAX_INSTANT_CHARS]}..."


def check_instant(field: str, value: object) -> datetime:
    """``value`` as an aware instant: an aware datetime, or an ISO 8601 string with its
    offset; refuse anything else, a naive one, and one before 1900 or over 50 years ahead."""
    if isinstance(value, str):
        parsed: datetime | None = None
        if len(value) <= _MAX_INSTANT_CHARS and value.isascii():
            with contextlib.suppress(ValueError):
                parsed = datetime.fromisoformat(value)
        if parsed is None:
            msg = f"{field} {_shown(value)} is not an ISO 8601 instant; rule: {_INSTANT_RULE}"
            raise InvalidViewQuery(msg, field=field)
        value = parsed
    elif not isinstance(value, datetime):
        kind = "a calendar date, not an instant" if isinstance(value, date) else "not an instant"
        msg = f"{field} {_shown(value)} is {kind}; rule: {_INSTANT_RULE}"
        raise InvalidViewQuery(msg, field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"{field} has no time zone; rule: {_INSTANT_RULE}"
        raise InvalidViewQuery(msg, field=field)
    if value.year < EARLIEST_YEAR or value > _latest():
        raise _out_of_bounds(field, value)
    return value


def check_day(field: str, value: object) -> date:
    """``value`` as a day: a :class:`~datetime.date` (a datetime is not a day) or an ISO
    date string; refuse anything else, and a day before 1900 or over 50 years ahead."""
    if isinstance(value, str):
        parsed: date | None = None
        if _ISO_DAY.fullmatch(value):
            with contextlib.suppress(ValueError):
                parsed = date.fromisoformat(value)
        if parsed is None:
            msg = f"{field} {_shown(value)} is not an ISO calendar date; rule: {_DAY_RULE}"
            raise InvalidViewQuery(msg, field=field)
        value = parsed
    elif isinstance(value, datetime) or not isinstance(value, date):
        kind = (
            "an instant, not a calendar date"
            if isinstance(value, datetime)
            else "not a calendar date"
        )
        msg = f"{field} {_shown(value)} is {kind}; rule: {_DAY_RULE}"
        raise InvalidViewQuery(msg, field=field)
    if value.year < EARLIEST_YEAR or value > _latest().date():
        raise _out_of_bounds(field, value)
    return value


def check_optional_day(field: str, value: object) -> date | None:
    """``value`` as a day (see :func:`check_day`), or ``None`` when not given."""
    return None if value is None else check_day(field, value)


def check_optional_instant(field: str, value: object) -> datetime | None:
    """``value`` as an instant (see :func:`check_instant`), or ``None`` when not given."""
    return None if value is None else check_instant(field, value)


def check_range(date_from: object, date_to: object) -> tuple[date | None, date | None]:
    """``date_from``/``date_to`` as days (either may be ``None``); refuse ones that are not
    days, or that run backwards."""
    first = check_optional_day("date_from", date_from)
    last = check_optional_day("date_to", date_to)
    if first is not None and last is not None and first > last:
        msg = (
            f"date_from {first.isoformat()} is after date_to {last.isoformat()}; "
            "rule: a date range runs from its first day to its last, date_from <= date_to"
        )
        raise InvalidViewQuery(msg, field="date_from")
    return first, last


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
