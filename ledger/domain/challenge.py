"""The challenge aggregate: a professional disagreement between two agencies.

A challenge is raised by one registered agency against another, answered by the
agency challenged at the current stage, escalated up the partnership's stages,
and ends resolved or withdrawn; once ended it takes no further event.
"""

from __future__ import annotations

import enum
from typing import Any, Final, cast

from ledger._aggregate import LedgerAggregate, register_aggregate
from ledger.domain._rules import Rule, check_occurred_at, violation
from ledger.domain.partnership import Partnership
from ledger.errors import InvalidCommand
from schemas import (
    ChallengeEscalated,
    ChallengeMatter,
    ChallengeOutcome,
    ChallengeRaised,
    ChallengeResolved,
    ChallengeResponded,
    ChallengeWithdrawn,
    tag_of,
)
from schemas import Event as Fact

__all__ = ["Challenge", "ChallengeStatus"]

REGISTERED_FIRST: Final = Rule(
    "registered_before_challenge",
    "an agency must be registered in the partnership before it raises, receives or records "
    "on a challenge",
)
ANOTHER_AGENCY: Final = Rule(
    "challenge_another_agency", "a challenge is raised by one agency against a different agency"
)
KNOWN_STAGE: Final = Rule(
    "stage_configured", "a challenge starts at one of the partnership's escalation stages"
)
RAISED_ONCE: Final = Rule("challenge_raised_once", "a challenge is raised once")
STILL_OPEN: Final = Rule(
    "challenge_open",
    "a resolved or withdrawn challenge takes no response, escalation, resolution or withdrawal",
)
CHALLENGED_RESPONDS: Final = Rule(
    "challenged_responds", "a response comes from the agency challenged"
)
CURRENT_STAGE: Final = Rule("respond_current_stage", "a response is made at the current stage")
ESCALATE_UP: Final = Rule(
    "escalate_up", "escalation goes to a later stage, at most the partnership's last stage"
)
ESCALATED_BY_PARTY: Final = Rule(
    "escalated_by_party", "a challenge is escalated by the agency that raised it or received it"
)
RAISER_WITHDRAWS: Final = Rule(
    "raiser_withdraws", "only the agency that raised a challenge withdraws it"
)


class ChallengeStatus(enum.StrEnum):
    """Where a challenge stands."""

    OPEN = "open"
    RESOLVED = "resolved"
    WITHDRAWN = "withdrawn"


@register_aggregate
class Challenge(LedgerAggregate):
    """A challenge: who raised it against whom, its stage and status."""

    KIND = "challenge"

    def __init__(self) -> None:
        self.by_agency: str = ""
        self.against_agency: str = ""
        self.matter: ChallengeMatter | None = None
        self.case: str | None = None
        self.stage: int = 0
        self.status: ChallengeStatus = ChallengeStatus.OPEN
        self.outcome: ChallengeOutcome | None = None

    # -- commands --------------------------------------------------------------------

    @classmethod
    def start(cls, ident: str, fact: ChallengeRaised, partnership: Partnership) -> Challenge:
        """Check the opening fact and create the challenge ``ident`` (an aggregate id)."""
        cls.check_opening(fact, partnership)
        return cast(Challenge, cls.open(ident, fact))

    @staticmethod
    def check_opening(fact: ChallengeRaised, partnership: Partnership) -> None:
        """The rules a new challenge obeys."""
        check_occurred_at(fact)
        partnership.require_registered(
            "recorded_by.agency", fact.recorded_by.agency, REGISTERED_FIRST
        )
        partnership.require_registered("by_agency", fact.by_agency, REGISTERED_FIRST)
        partnership.require_registered("against_agency", fact.against_agency, REGISTERED_FIRST)
        if fact.against_agency == fact.by_agency:
            raise violation(
                "against_agency",
                f"'{fact.against_agency}' is also the agency raising the challenge",
                ANOTHER_AGENCY,
            )
        if fact.stage not in partnership.stages:
            raise violation(
                "stage",
                f"{fact.stage} is not a stage of partnership '{partnership.ident}' "
                f"(stages 1 to {partnership.max_stage})",
                KNOWN_STAGE,
            )

    def handle(self, fact: Fact, partnership: Partnership) -> None:
        """Check ``fact`` against the challenge's rules, then record it."""
        self.check(fact, partnership)
        self.record(fact)

    def check(self, fact: Fact, partnership: Partnership) -> None:
        """Raise a :class:`~ledger.errors.RuleViolation` if ``fact`` may not be recorded now."""
        check_occurred_at(fact)
        if isinstance(fact, ChallengeRaised):
            raise violation("challenge", f"'{self.ident}' is already raised", RAISED_ONCE)
        partnership.require_registered(
            "recorded_by.agency", fact.recorded_by.agency, REGISTERED_FIRST
        )
        if self.status is not ChallengeStatus.OPEN:
            raise violation("challenge", f"'{self.ident}' is {self.status.value}", STILL_OPEN)
        match fact:
            case ChallengeResponded():
                if fact.by_agency != self.against_agency:
                    raise violation(
                        "by_agency",
                        f"'{fact.by_agency}' is not the agency challenged '{self.against_agency}'",
                        CHALLENGED_RESPONDS,
                    )
                if fact.stage != self.stage:
                    raise violation(
                        "stage",
                        f"{fact.stage} is not the current stage {self.stage}",
                        CURRENT_STAGE,
                    )
            case ChallengeEscalated():
                if fact.by_agency not in (self.by_agency, self.against_agency):
                    raise violation(
                        "by_agency",
                        f"'{fact.by_agency}' is neither the raising nor the challenged agency",
                        ESCALATED_BY_PARTY,
                    )
                if fact.to_stage <= self.stage:
                    raise violation(
                        "to_stage",
                        f"{fact.to_stage} is not after the current stage {self.stage}",
                        ESCALATE_UP,
                    )
                if fact.to_stage not in partnership.stages:
                    raise violation(
                        "to_stage",
                        f"{fact.to_stage} is beyond the last stage {partnership.max_stage} of "
                        f"partnership '{partnership.ident}'",
                        ESCALATE_UP,
                    )
            case ChallengeWithdrawn():
                if fact.by_agency != self.by_agency:
                    raise violation(
                        "by_agency",
                        f"'{fact.by_agency}' did not raise challenge '{self.ident}'",
                        RAISER_WITHDRAWS,
                    )
            case ChallengeResolved():
                pass
            case _:
                raise InvalidCommand(
                    f"type '{tag_of(type(fact))}' is not an event of a challenge", field="type"
                )

    # -- state -----------------------------------------------------------------------

    def when(self, fact: Fact) -> None:
        match fact:
            case ChallengeRaised():
                self.by_agency = fact.by_agency
                self.against_agency = fact.against_agency
                self.matter = fact.matter
                self.case = fact.case if isinstance(fact.case, str) else None
                self.stage = fact.stage
            case ChallengeEscalated():
                self.stage = fact.to_stage
            case ChallengeResolved():
                self.status = ChallengeStatus.RESOLVED
                self.outcome = fact.outcome
            case ChallengeWithdrawn():
                self.status = ChallengeStatus.WITHDRAWN
            case _:
                pass

    def state(self) -> dict[str, Any]:
        """The aggregate's state as plain data, to compare a live aggregate with a replayed one."""
        return {
            "version": self.version,
            "by_agency": self.by_agency,
            "against_agency": self.against_agency,
            "matter": self.matter,
            "case": self.case,
            "stage": self.stage,
            "status": self.status,
            "outcome": self.outcome,
        }
