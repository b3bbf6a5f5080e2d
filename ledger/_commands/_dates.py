"""Dates that cannot be true, refused on the write path only.

The rules here compare a command's dates with the ledger's clock (``recorded_at``)
and with each other. They run when a command builds its fact, never when stored
history is decoded: replaying the stream must not fail because time moved on, and
the clock of the day a fact was recorded is not the clock of the day it is read.

* No date a caller gives lies before :data:`EARLIEST_YEAR`.
* A :data:`~schemas.HappenedAt` field (``occurred_at``, ``became_aware_at``,
  ``published_at`` ...) is not later than ``recorded_at`` by more than the clock-skew
  allowance that ``occurred_at`` has always had (:data:`FUTURE_TOLERANCE`). Due dates
  (``due_by``, a recommendation's ``due``) are the future by nature and are not held
  to it.
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
from schemas import Event as Fact
from schemas import InformationRequested, temporal_fields

__all__ = ["DUE_AFTER_REQUEST", "EARLIEST_YEAR", "NOT_BEFORE_EARLIEST_YEAR", "check_dates"]

#: No date a caller gives lies before this year. A safeguarding record is about a living
#: child and the practitioners around them; a year before 1900 is a typing slip (``0025``
#: for ``2025``) or a probe, and working-day calendars know no bank holidays that early.
EARLIEST_YEAR: Final = 1900

NOT_BEFORE_EARLIEST_YEAR: Final = Rule(
    "date_not_before_1900", f"no date in the ledger lies before the year {EARLIEST_YEAR}"
)
DUE_AFTER_REQUEST: Final = Rule("due_after_request", "a request is not due before it was made")

#: ``recorded_at`` is the ledger's own clock, not the caller's: it is not checked here.
_STAMPED: Final = "recorded_at"


def check_dates(fact: Fact) -> None:
    """Refuse a fact whose dates cannot be true: too early, in the future, out of order.

    Raises :class:`InvalidCommand` for a date before :data:`EARLIEST_YEAR` and
    :class:`~ledger.errors.RuleViolation` for a date in the future or out of order,
    each naming the field.
    """
    for field in temporal_fields(type(fact)):
        if field.name == _STAMPED:
            continue
        value = getattr(fact, field.name)
        if value is msgspec.UNSET:
            continue
        if value.year < EARLIEST_YEAR:
            msg = (
                f"{field.name} is in the year {value.year}, before {EARLIEST_YEAR} "
                f"({NOT_BEFORE_EARLIEST_YEAR.text})"
            )
            raise InvalidCommand(msg, field=field.name)
        if field.happened and isinstance(value, dt.datetime):
            _not_in_future(field.name, value, fact.recorded_at)
    if (
        isinstance(fact, InformationRequested)
        and isinstance(fact.due_by, dt.datetime)
        and fact.due_by < fact.occurred_at
    ):
        raise violation("due_by", "is before occurred_at, when it was asked", DUE_AFTER_REQUEST)


def _not_in_future(name: str, value: dt.datetime, recorded_at: dt.datetime) -> None:
    """The same rule, words and allowance as ``occurred_at`` (``check_occurred_at``)."""
    if value - recorded_at > FUTURE_TOLERANCE:
        raise violation(
            name,
            f"{value.isoformat()} is later than recorded_at {recorded_at.isoformat()} "
            "by more than 5 minutes",
            NOT_IN_FUTURE,
        )
