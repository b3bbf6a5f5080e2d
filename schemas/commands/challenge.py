"""Commands on a challenge: raise it, respond, escalate, resolve or withdraw it.

Each command names the event it records (``records``); ``by_recorder`` lists the
fields that default to the recording agency when not given.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from schemas._base import Event
from schemas._types import AgencyId, CaseId, ChallengeId, FreeText, StageNumber
from schemas.challenge import (
    ChallengeEscalated,
    ChallengeMatter,
    ChallengeOutcome,
    ChallengeRaised,
    ChallengeResolved,
    ChallengeResponded,
    ChallengeWithdrawn,
)
from schemas.commands._base import BaseCommand

__all__ = [
    "EscalateChallenge",
    "RaiseChallenge",
    "ResolveChallenge",
    "RespondToChallenge",
    "WithdrawChallenge",
]


class RaiseChallenge(BaseCommand, tag="RaiseChallenge", frozen=True, kw_only=True):
    """Raise ``challenge`` by ``by_agency`` against ``against_agency``, at ``stage``."""

    records: ClassVar[type[Event]] = ChallengeRaised
    by_recorder: ClassVar[tuple[str, ...]] = ("by_agency",)

    challenge: ChallengeId
    against_agency: AgencyId
    matter: ChallengeMatter
    summary: FreeText
    by_agency: AgencyId | msgspec.UnsetType = msgspec.UNSET
    case: CaseId | msgspec.UnsetType = msgspec.UNSET
    stage: StageNumber = 1


class RespondToChallenge(BaseCommand, tag="RespondToChallenge", frozen=True, kw_only=True):
    """Respond, as the agency challenged, at the challenge"s current ``stage``."""

    records: ClassVar[type[Event]] = ChallengeResponded
    by_recorder: ClassVar[tuple[str, ...]] = ("by_agency",)

    challenge: ChallengeId
    stage: StageNumber
    response: FreeText
    by_agency: AgencyId | msgspec.UnsetType = msgspec.UNSET


class EscalateChallenge(BaseCommand, tag="EscalateChallenge", frozen=True, kw_only=True):
    """Escalate the challenge to the later stage ``to_stage``."""

    records: ClassVar[type[Event]] = ChallengeEscalated
    by_recorder: ClassVar[tuple[str, ...]] = ("by_agency",)

    challenge: ChallengeId
    to_stage: StageNumber
    by_agency: AgencyId | msgspec.UnsetType = msgspec.UNSET
    reason: FreeText | msgspec.UnsetType = msgspec.UNSET


class ResolveChallenge(BaseCommand, tag="ResolveChallenge", frozen=True, kw_only=True):
    """Resolve the challenge with ``outcome``."""

    records: ClassVar[type[Event]] = ChallengeResolved

    challenge: ChallengeId
    outcome: ChallengeOutcome
    note: FreeText | msgspec.UnsetType = msgspec.UNSET


class WithdrawChallenge(BaseCommand, tag="WithdrawChallenge", frozen=True, kw_only=True):
    """Withdraw the challenge, as the agency that raised it."""

    records: ClassVar[type[Event]] = ChallengeWithdrawn
    by_recorder: ClassVar[tuple[str, ...]] = ("by_agency",)

    challenge: ChallengeId
    by_agency: AgencyId | msgspec.UnsetType = msgspec.UNSET
    reason: FreeText | msgspec.UnsetType = msgspec.UNSET
