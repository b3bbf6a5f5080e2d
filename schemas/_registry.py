"""The closed set of ledger event types: their union and the tag -> class registry."""

from __future__ import annotations

import typing
from typing import Final, TypeAlias

from schemas._base import Event
from schemas.case import (
    ActionRecorded,
    AgencyJoinedCase,
    AgencyLeftCase,
    CaseClosed,
    CaseOpened,
    ChildIdentifierLinked,
    ChildIdentifierUnknown,
    ChildIdentifierUnlinked,
    ConcernRaised,
    CooperationRefused,
    InformationProvided,
    InformationRequested,
    LateRecordingExplained,
)
from schemas.challenge import (
    ChallengeEscalated,
    ChallengeRaised,
    ChallengeResolved,
    ChallengeResponded,
    ChallengeWithdrawn,
)
from schemas.partnership import (
    AgencyKeyRegistered,
    AgencyKeyRevoked,
    AgencyRegistered,
    PartnershipEstablished,
    SignaturesRequired,
)
from schemas.review import (
    RapidReviewCompleted,
    RecommendationAccepted,
    RecommendationImplemented,
    RecommendationIssued,
    RecommendationProgressReported,
    RecommendationRejected,
    ReviewCommissioned,
    ReviewPublished,
    SeriousIncidentNotified,
)

__all__ = ["EVENT_TYPES", "LedgerEvent", "tag_of"]

#: Every concrete ledger event type, discriminated by its ``type`` tag.
LedgerEvent: TypeAlias = (
    # partnership
    PartnershipEstablished
    | AgencyRegistered
    | AgencyKeyRegistered
    | AgencyKeyRevoked
    | SignaturesRequired
    # case
    | CaseOpened
    | ChildIdentifierLinked
    | ChildIdentifierUnlinked
    | ChildIdentifierUnknown
    | AgencyJoinedCase
    | AgencyLeftCase
    | ActionRecorded
    | InformationRequested
    | InformationProvided
    | CooperationRefused
    | ConcernRaised
    | LateRecordingExplained
    | CaseClosed
    # challenge
    | ChallengeRaised
    | ChallengeResponded
    | ChallengeEscalated
    | ChallengeResolved
    | ChallengeWithdrawn
    # review
    | SeriousIncidentNotified
    | RapidReviewCompleted
    | ReviewCommissioned
    | ReviewPublished
    | RecommendationIssued
    | RecommendationAccepted
    | RecommendationRejected
    | RecommendationProgressReported
    | RecommendationImplemented
)


def tag_of(cls: type[Event]) -> str:
    """The ``type`` tag an event class is stored under."""
    tag = cls.__struct_config__.tag
    if not isinstance(tag, str):
        raise TypeError(f"{cls.__qualname__} has no string tag")
    return tag


#: Tag -> event class, for every member of :data:`LedgerEvent`.
EVENT_TYPES: Final[dict[str, type[Event]]] = {
    tag_of(cls): cls for cls in typing.get_args(LedgerEvent)
}
