"""Events of the review aggregate: a serious incident, its review and recommendations.

A review opens with the notification of a serious incident to the national panel,
goes through a rapid review, may be commissioned as a local or national practice
review and published, and issues recommendations that agencies accept, reject
(an opt-out), report progress on and implement. Recommendations live inside the
review aggregate, so each recommendation event names its ``recommendation``.
"""

from __future__ import annotations

import datetime
import enum
from typing import ClassVar

import msgspec

from schemas._base import AggregateKind, Event
from schemas._types import (
    AgencyId,
    CaseId,
    ChildRef,
    FreeText,
    HappenedAt,
    RecommendationId,
    ShortText,
)

__all__ = [
    "IncidentKind",
    "RagStatus",
    "RapidReviewCompleted",
    "RapidReviewDecision",
    "RecommendationAccepted",
    "RecommendationImplemented",
    "RecommendationIssued",
    "RecommendationProgressReported",
    "RecommendationRejected",
    "ReviewCommissioned",
    "ReviewEvent",
    "ReviewLevel",
    "ReviewPublished",
    "SeriousIncidentNotified",
    "Theme",
]


class IncidentKind(enum.StrEnum):
    """What happened to the child in a serious incident."""

    DEATH = "death"
    SERIOUS_HARM = "serious_harm"


class RapidReviewDecision(enum.StrEnum):
    """What the rapid review decided should follow."""

    LOCAL_REVIEW = "local_review"
    NATIONAL_REVIEW = "national_review"
    NO_REVIEW = "no_review"


class ReviewLevel(enum.StrEnum):
    """Whether a practice review is local or national."""

    LOCAL = "local"
    NATIONAL = "national"


class Theme(enum.StrEnum):
    """The practice theme of a recommendation; themes recur across reviews."""

    INFORMATION_SHARING = "information_sharing"
    MULTI_AGENCY_WORKING = "multi_agency_working"
    VOICE_OF_THE_CHILD = "voice_of_the_child"
    SEEN_ALONE = "seen_alone"
    ESCALATION = "escalation"
    RISK_ASSESSMENT = "risk_assessment"
    TIMELINESS = "timeliness"
    SUPERVISION = "supervision"
    DOMESTIC_ABUSE = "domestic_abuse"
    NEGLECT = "neglect"
    EXPLOITATION = "exploitation"
    OTHER = "other"


class RagStatus(enum.StrEnum):
    """Red, amber or green progress status of a recommendation."""

    RED = "red"
    AMBER = "amber"
    GREEN = "green"


class ReviewEvent(Event, frozen=True):
    """Base of the events whose aggregate is a review."""

    aggregate_kind: ClassVar[AggregateKind] = "review"


class SeriousIncidentNotified(
    ReviewEvent, tag="SeriousIncidentNotified", frozen=True, kw_only=True
):
    """The local authority notified the national panel of a serious incident."""

    opens: ClassVar[bool] = True

    case: CaseId | msgspec.UnsetType = msgspec.UNSET
    child: ChildRef
    became_aware_at: HappenedAt
    notified_panel_at: HappenedAt
    incident: IncidentKind


class RapidReviewCompleted(ReviewEvent, tag="RapidReviewCompleted", frozen=True, kw_only=True):
    """The rapid review of the incident was completed with a decision."""

    completed_at: HappenedAt
    decision: RapidReviewDecision


class ReviewCommissioned(ReviewEvent, tag="ReviewCommissioned", frozen=True, kw_only=True):
    """A local or national practice review was commissioned."""

    level: ReviewLevel
    commissioned_at: HappenedAt


class ReviewPublished(ReviewEvent, tag="ReviewPublished", frozen=True, kw_only=True):
    """The practice review was published."""

    published_at: HappenedAt
    title: ShortText | msgspec.UnsetType = msgspec.UNSET


class RecommendationIssued(ReviewEvent, tag="RecommendationIssued", frozen=True, kw_only=True):
    """The review issued a recommendation to an owner agency, with a due date and theme."""

    recommendation: RecommendationId
    owner: AgencyId
    due: datetime.date
    theme: Theme
    text: FreeText


class RecommendationAccepted(ReviewEvent, tag="RecommendationAccepted", frozen=True, kw_only=True):
    """An agency accepted a recommendation."""

    recommendation: RecommendationId
    by_agency: AgencyId


class RecommendationRejected(ReviewEvent, tag="RecommendationRejected", frozen=True, kw_only=True):
    """An agency rejected a recommendation (an opt-out), stating its basis."""

    recommendation: RecommendationId
    by_agency: AgencyId
    basis: FreeText


class RecommendationProgressReported(
    ReviewEvent, tag="RecommendationProgressReported", frozen=True, kw_only=True
):
    """An agency reported progress on a recommendation with a red/amber/green status."""

    recommendation: RecommendationId
    by_agency: AgencyId
    status: RagStatus
    note: FreeText | msgspec.UnsetType = msgspec.UNSET


class RecommendationImplemented(
    ReviewEvent, tag="RecommendationImplemented", frozen=True, kw_only=True
):
    """An agency implemented a recommendation."""

    recommendation: RecommendationId
    by_agency: AgencyId
    evidence: FreeText | msgspec.UnsetType = msgspec.UNSET
