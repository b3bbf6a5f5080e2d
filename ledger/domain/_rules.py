"""What the aggregates share: the rules they name and how a broken rule is reported.

Every rule has a stable ``code`` (for programs: the CLI's exit message, the HTTP
problem type) and a ``text`` (for people). A :class:`~ledger.errors.RuleViolation`
names the field, what is wrong with its value and the rule, for example::

    recorded_by.agency 'police-x' is not a party to case 'c-1'
    (only an agency party to a case records on it)

Values are quoted only when they are identifiers; child references and free text
are personal data and never appear in a message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final, NamedTuple

from ledger.errors import RuleViolation
from schemas import Event as Fact

__all__ = ["FUTURE_TOLERANCE", "Rule", "check_occurred_at", "violation"]

#: How far ``occurred_at`` may lie after ``recorded_at``: clocks differ, but not by more.
FUTURE_TOLERANCE: Final = timedelta(minutes=5)


class Rule(NamedTuple):
    """A domain rule: a stable code and the sentence that states it."""

    code: str
    text: str


def violation(field: str, problem: str, rule: Rule) -> RuleViolation:
    """The error for ``field`` whose value has ``problem`` under ``rule``."""
    return RuleViolation(f"{field} {problem} ({rule.text})", field=field, rule=rule.code)


NOT_IN_FUTURE: Final = Rule(
    "occurred_not_in_future",
    "an event cannot have happened more than 5 minutes after the ledger recorded it",
)


def check_occurred_at(fact: Fact) -> None:
    """Reject a fact that claims to have happened after it was recorded (beyond clock skew)."""
    if fact.occurred_at - fact.recorded_at > FUTURE_TOLERANCE:
        raise violation(
            "occurred_at",
            f"{fact.occurred_at.isoformat()} is later than recorded_at "
            f"{fact.recorded_at.isoformat()} by more than 5 minutes",
            NOT_IN_FUTURE,
        )
