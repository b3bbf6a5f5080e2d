"""Events of the challenge aggregate: a professional disagreement between agencies.

A challenge is raised by one agency against another, answered, escalated through
the partnership's stages (``PartnershipEstablished.escalation_stages``) and ends
resolved or withdrawn. The clock for each stage runs from raising or escalation
to the next response, escalation or resolution.
"""

from __future__ import annotations

import enum
from typing import ClassVar

import msgspec

from schemas._base import AggregateKind, Event
from schemas._types import AgencyId, CaseId, FreeText, StageNumber

__all__ = [
    "ChallengeEscalated",
    "ChallengeEvent",
    "ChallengeMatter",
    "ChallengeOutcome",
    "ChallengeRaised",
    "ChallengeResolved",
    "ChallengeResponded",
    "ChallengeWithdrawn",
]


class ChallengeMatter(enum.StrEnum):
    """What the disagreement is about."""

    THRESHOLD_DECISION = "threshold_decision"
    INFORMATION_SHARING = "information_sharing"
    PLAN_OR_DECISION = "plan_or_decision"
    ATTENDANCE = "attendance"
    CASE_CLOSURE = "case_closure"
    OTHER = "other"


class ChallengeOutcome(enum.StrEnum):
    """How a challenge was resolved."""

    UPHELD = "upheld"
    PARTIALLY_UPHELD = "partially_upheld"
    NOT_UPHELD = "not_upheld"
    AGREED_WAY_FORWARD = "agreed_way_forward"


class ChallengeEvent(Event, frozen=True):
    """Base of the events whose aggregate is a challenge."""

    aggregate_kind: ClassVar[AggregateKind] = "challenge"


class ChallengeRaised(ChallengeEvent, tag="ChallengeRaised", frozen=True, kw_only=True):
    """An agency raised a challenge against another agency."""

    opens: ClassVar[bool] = True

    by_agency: AgencyId
    against_agency: AgencyId
    matter: ChallengeMatter
    case: CaseId | msgspec.UnsetType = msgspec.UNSET
    stage: StageNumber = 1
    summary: FreeText


class ChallengeResponded(ChallengeEvent, tag="ChallengeResponded", frozen=True, kw_only=True):
    """An agency responded to the challenge at a stage."""

    by_agency: AgencyId
    stage: StageNumber
    response: FreeText


class ChallengeEscalated(ChallengeEvent, tag="ChallengeEscalated", frozen=True, kw_only=True):
    """The challenge was escalated to a later stage."""

    to_stage: StageNumber
    by_agency: AgencyId
    reason: FreeText | msgspec.UnsetType = msgspec.UNSET


class ChallengeResolved(ChallengeEvent, tag="ChallengeResolved", frozen=True, kw_only=True):
    """The challenge was resolved with an outcome."""

    outcome: ChallengeOutcome
    note: FreeText | msgspec.UnsetType = msgspec.UNSET


class ChallengeWithdrawn(ChallengeEvent, tag="ChallengeWithdrawn", frozen=True, kw_only=True):
    """The agency that raised the challenge withdrew it."""

    by_agency: AgencyId
    reason: FreeText | msgspec.UnsetType = msgspec.UNSET
