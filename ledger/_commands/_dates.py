"""Dates that cannot be true, refused on the write path only.

The rules here compare a command's dates with the ledger's clock (``recorded_at``)
and with each other. They run when a command builds its fact, never when stored
history is decoded: replaying the stream must not fail because time moved on, and
the clock of the day a fact was recorded is not the clock of the day it is read.

Every comparison is made in UTC: an instant given with an offset (``+05:30``) is the
same instant as its UTC reading, so no offset moves it past a rule.

* A UTC offset is whole minutes (:data:`WHOLE_MINUTE_OFFSET`): RFC 3339 has no seconds
  in an offset, and the codec would silently drop them (``+01:00:30`` became ``+01:00``,
  a different instant) (:func:`check_offsets`, before the fact is encoded).
* No date a caller gives lies before :data:`schemas.EARLIEST_YEAR`, in UTC.
* A :data:`~schemas.HappenedAt` field (``occurred_at``, ``became_aware_at``,
  ``published_at`` ...) is not later than ``recorded_at`` by more than the clock-skew
  allowance that ``occurred_at`` has always had (:data:`FUTURE_TOLERANCE`). Due dates
  (``due_by``, a recommendation's ``due``) are the future by nature and are not held
  to it, but lie at most :data:`schemas.YEARS_AHEAD` years after ``recorded_at``
  (:data:`WITHIN_YEARS_AHEAD`).
* A request is not due before it was made (:data:`DUE_AFTER_REQUEST`).

Which fields are dates, and which of them record something that happened, comes from
the event types (:func:`schemas.temporal_fields`), so a new event type is covered
without a change here.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import msgspec

from ledger.domain._rules import FUTURE_TOLERANCE, NOT_IN_FUTURE, Rule, violation
from ledger.errors import InvalidCommand
from schemas import EARLIEST_YEAR, YEARS_AHEAD, InformationRequested, temporal_fields
from schemas import Event as Fact

__all__ = [
    "DUE_AFTER_REQUEST",
    "NOT_BEFORE_EARLIEST_YEAR",
    "WHOLE_MINUTE_OFFSET",
    "WITHIN_YEARS_AHEAD",
    "check_dates",
    "check_offsets",
]

NOT_BEFORE_EARLIEST_YEAR: Final = Rule(
    "date_not_before_1900", f"no date in the ledger lies before the year {EARLIEST_YEAR}"
)
WITHIN_YEARS_AHEAD: Final = Rule(
    "date_within_50_years",
    f"no date in the ledger lies more than {YEARS_AHEAD} years after it is recorded",
)
WHOLE_MINUTE_OFFSET: Final = Rule(
    "offset_in_whole_minutes",
    "a UTC offset is whole hours and minutes, as RFC 3339 writes it, without seconds",
)
DUE_AFTER_REQUEST: Final = Rule("due_after_request", "a request is not due before it was made")

#: ``recorded_at`` is the ledger's own clock, not the caller's: it is not checked here.
_STAMPED: Final = "recorded_at"
#: A calendar date that happened may be "today" somewhere up to 14 hours ahead of UTC.
_DATE_TOLERANCE: Final = dt.timedelta(days=1)


def check_offsets(draft: Fact) -> None:
    """Refuse a date-time of ``draft`` whose UTC offset is not whole minutes.

    Runs on the fact as built, before it is encoded: the codec writes an offset in
    minutes and would silently move such an instant. Raises :class:`InvalidCommand`.
    """
    for field in temporal_fields(type(draft)):
        if field.name == _STAMPED:
            continue
        value = getattr(draft, field.name, None)
        if not isinstance(value, dt.datetime):
            continue
        offset = value.utcoffset()
        if offset is not None and offset % dt.timedelta(minutes=1):
            msg = (
                f"{field.name} has the UTC offset {_offset(offset)}, with seconds "
                f"({WHOLE_MINUTE_OFFSET.text})"
            )
            raise InvalidCommand(msg, field=field.name)


def check_dates(fact: Fact) -> None:
    """Refuse a fact whose dates cannot be true: too early, too far ahead, out of order.

    Every instant is compared in UTC. Raises :class:`InvalidCommand` for a date before
    :data:`schemas.EARLIEST_YEAR` and :class:`~ledger.errors.RuleViolation` for a date in the
    future, too far ahead or out of order, each naming the field.
    """
    recorded_at = fact.recorded_at.astimezone(dt.UTC)
    for field in temporal_fields(type(fact)):
        if field.name == _STAMPED:
            continue
        value = getattr(fact, field.name)
        if value is msgspec.UNSET:
            continue
        utc = _in_utc(field.name, value)
        if utc.year < EARLIEST_YEAR:
            msg = (
                f"{field.name} is in the year {utc.year} (UTC), before {EARLIEST_YEAR} "
                f"({NOT_BEFORE_EARLIEST_YEAR.text})"
            )
            raise InvalidCommand(msg, field=field.name)
        if field.happened:
            _not_in_future(field.name, utc, recorded_at)
        else:
            _not_too_far_ahead(field.name, utc, recorded_at)
    if (
        isinstance(fact, InformationRequested)
        and isinstance(fact.due_by, dt.datetime)
        and fact.due_by.astimezone(dt.UTC) < fact.occurred_at.astimezone(dt.UTC)
    ):
        raise violation("due_by", "is before occurred_at, when it was asked", DUE_AFTER_REQUEST)


def _in_utc(name: str, value: dt.date) -> dt.date:
    """``value`` read in UTC (a date as it is); an instant UTC cannot hold is refused.

    ``0001-01-01T00:30+01:00`` lies before year 1 in UTC and ``9999-12-31T23:30-01:00``
    after 9999: both are refused by the rule they break, not by an ``OverflowError``.
    """
    if not isinstance(value, dt.datetime):
        return value
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        if value.year < EARLIEST_YEAR:
            msg = (
                f"{name} lies before the year 1 in UTC, before {EARLIEST_YEAR} "
                f"({NOT_BEFORE_EARLIEST_YEAR.text})"
            )
            raise InvalidCommand(msg, field=name) from None
        raise violation(name, "lies after the year 9999 in UTC", WITHIN_YEARS_AHEAD) from None


def _not_in_future(name: str, value: dt.date, recorded_at: dt.datetime) -> None:
    """The same rule, words and allowance as ``occurred_at`` (``check_occurred_at``)."""
    if isinstance(value, dt.datetime):
        if value - recorded_at > FUTURE_TOLERANCE:
            raise violation(
                name,
                f"{value.isoformat()} is later than recorded_at {recorded_at.isoformat()} "
                "by more than 5 minutes",
                NOT_IN_FUTURE,
            )
    elif value - recorded_at.date() > _DATE_TOLERANCE:
        raise violation(
            name,
            f"{value.isoformat()} is after the day recorded_at {recorded_at.isoformat()} "
            "falls on anywhere on earth",
            NOT_IN_FUTURE,
        )


def _not_too_far_ahead(name: str, value: dt.date, recorded_at: dt.datetime) -> None:
    """Refuse a date more than :data:`schemas.YEARS_AHEAD` years after ``recorded_at`` (in UTC)."""
    limit = _years_after(recorded_at.date(), YEARS_AHEAD)
    day = value.date() if isinstance(value, dt.datetime) else value
    if day > limit:
        raise violation(
            name,
            f"{value.isoformat()} is more than {YEARS_AHEAD} years after recorded_at "
            f"{recorded_at.isoformat()}",
            WITHIN_YEARS_AHEAD,
        )


def _years_after(day: dt.date, years: int) -> dt.date:
    """``day`` ``years`` later (29 February becomes 28 February in a common year)."""
    if day.year + years > dt.MAXYEAR:
        return dt.date.max
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _offset(offset: dt.timedelta) -> str:
    """``+01:00:30``: an offset as ISO 8601 writes it, seconds included."""
    sign = "-" if offset < dt.timedelta(0) else "+"
    seconds = int(abs(offset).total_seconds())
    return f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
