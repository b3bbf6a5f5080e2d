"""Commands on a review: the incident, rapid review, commission, publication, recommendations.

Each command names the event it records (``records``); ``by_recorder`` lists the
fields that default to the recording agency when not given.
"""

from __future__ import annotations

import datetime
from typing import ClassVar

import msgspec

from schemas._base import Event
from schemas._types import (
    AgencyId,
    CaseId,
    ChildRef,
    FreeText,
    HappenedAt,
    RecommendationId,
    ReviewId,
    ShortText,
)
from schemas.commands._base import BaseCommand
from schemas.review import (
    IncidentKind,
    RagStatus,
    RapidReviewCompleted,
    RapidReviewDecision,
    RecommendationAccepted,
    RecommendationImplemented,
    RecommendationIssued,
    RecommendationProgressReported,
    RecommendationRejected,
    ReviewCommissioned,
    ReviewLevel,
    ReviewPublished,
    SeriousIncidentNotified,
    Theme,
)

__all__ = [
    "AcceptRecommendation",
    "CommissionReview",
    "CompleteRapidReview",
    "ImplementRecommendation",
    "IssueRecommendation",
    "NotifySeriousIncident",
    "PublishReview",
    "RejectRecommendation",
    "ReportRecommendationProgress",
]


class NotifySeriousIncident(BaseCommand, tag="NotifySeriousIncident", frozen=True, kw_only=True):
    """Open ``review`` with the notification of a serious incident to the national panel."""

    records: ClassVar[type[Event]] = SeriousIncidentNotified

    review: ReviewId
    child: ChildRef
    incident: IncidentKind
    became_aware_at: HappenedAt
    notified_panel_at: HappenedAt
    case: CaseId | msgspec.UnsetType = msgspec.UNSET


class CompleteRapidReview(BaseCommand, tag="CompleteRapidReview", frozen=True, kw_only=True):
    """Record the rapid review"s completion and its ``decision`` (once)."""

    records: ClassVar[type[Event]] = RapidReviewCompleted

    review: ReviewId
    completed_at: HappenedAt
    decision: RapidReviewDecision


class CommissionReview(BaseCommand, tag="CommissionReview", frozen=True, kw_only=True):
    """Commission a local or national practice review (once)."""

    records: ClassVar[type[Event]] = ReviewCommissioned

    review: ReviewId
    level: ReviewLevel
    commissioned_at: HappenedAt


class PublishReview(BaseCommand, tag="PublishReview", frozen=True, kw_only=True):
    """Publish the review; afterwards only recommendation events are recorded on it."""

    records: ClassVar[type[Event]] = ReviewPublished

    review: ReviewId
    published_at: HappenedAt
    title: ShortText | msgspec.UnsetType = msgspec.UNSET


class IssueRecommendation(BaseCommand, tag="IssueRecommendation", frozen=True, kw_only=True):
    """Issue ``recommendation`` to the registered ``owner``, due on ``due``."""

    records: ClassVar[type[Event]] = RecommendationIssued

    review: ReviewId
    recommendation: RecommendationId
    owner: AgencyId
    due: datetime.date
    theme: Theme
    text: FreeText


class AcceptRecommendation(BaseCommand, tag="AcceptRecommendation", frozen=True, kw_only=True):
    """Accept ``recommendation``, as its owner."""

    records: ClassVar[type[Event]] = RecommendationAccepted
    by_recorder: ClassVar[tuple[str, ...]] = ("by_agency",)

    review: ReviewId
    recommendation: RecommendationId
    by_agency: AgencyId | msgspec.UnsetType = msgspec.UNSET


class RejectRecommendation(BaseCommand, tag="RejectRecommendation", frozen=True, kw_only=True):
    """Reject ``recommendation`` (an opt-out) with its stated ``basis``, as its owner."""

    records: ClassVar[type[Event]] = RecommendationRejected
    by_recorder: ClassVar[tuple[str, ...]] = ("by_agency",)

    review: ReviewId
    recommendation: RecommendationId
    basis: FreeText
    by_agency: AgencyId | msgspec.UnsetType = msgspec.UNSET


class ReportRecommendationProgress(
    BaseCommand, tag="ReportRecommendationProgress", frozen=True, kw_only=True
):
    """Report red/amber/green progress on ``recommendation``, as its owner."""

    records: ClassVar[type[Event]] = RecommendationProgressReported
    by_recorder: ClassVar[tuple[str, ...]] = ("by_agency",)

    review: ReviewId
    recommendation: RecommendationId
    status: RagStatus
    by_agency: AgencyId | msgspec.UnsetType = msgspec.UNSET
    note: FreeText | msgspec.UnsetType = msgspec.UNSET


class ImplementRecommendation(
    BaseCommand, tag="ImplementRecommendation", frozen=True, kw_only=True
):
    """Record that the accepted ``recommendation`` was implemented, as its owner."""

    records: ClassVar[type[Event]] = RecommendationImplemented
    by_recorder: ClassVar[tuple[str, ...]] = ("by_agency",)

    review: ReviewId
    recommendation: RecommendationId
    by_agency: AgencyId | msgspec.UnsetType = msgspec.UNSET
    evidence: FreeText | msgspec.UnsetType = msgspec.UNSET
