"""Commands on a review: the incident, rapid review, commission, publication, recommendations.

Each method builds the command of the same name in :mod:`schemas.commands`
(``publish_review`` builds ``PublishReview``) and executes it.
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from ledger._commands._base import (
    DEFAULT_SOURCE,
    CommandBase,
    Opt,
    Receipt,
    RecordedByInput,
    SourceInput,
)
from schemas.commands import (
    AcceptRecommendation,
    CommissionReview,
    CompleteRapidReview,
    ImplementRecommendation,
    IssueRecommendation,
    NotifySeriousIncident,
    PublishReview,
    RejectRecommendation,
    ReportRecommendationProgress,
)

__all__ = ["ReviewCommands"]

UNSET = msgspec.UNSET


class ReviewCommands(CommandBase):
    """The review's commands, mixed into :class:`~ledger.application.Ledger`.

    On recommendations, ``by_agency`` (the owner) defaults to the recording agency.
    """

    def notify_serious_incident(
        self,
        *,
        partnership: str,
        review: str,
        recorded_by: RecordedByInput,
        child: str,
        incident: str,
        became_aware_at: datetime,
        notified_panel_at: datetime,
        case: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Open ``review`` with the notification of a serious incident to the national panel."""
        return self._run(
            NotifySeriousIncident,
            recorded_by,
            partnership=partnership,
            review=review,
            child=child,
            incident=incident,
            became_aware_at=became_aware_at,
            notified_panel_at=notified_panel_at,
            case=case,
            source=source,
            occurred_at=occurred_at,
        )

    def complete_rapid_review(
        self,
        *,
        partnership: str,
        review: str,
        recorded_by: RecordedByInput,
        completed_at: datetime,
        decision: str,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Record the rapid review's completion and its ``decision`` (once)."""
        return self._run(
            CompleteRapidReview,
            recorded_by,
            partnership=partnership,
            review=review,
            completed_at=completed_at,
            decision=decision,
            source=source,
            occurred_at=occurred_at,
        )

    def commission_review(
        self,
        *,
        partnership: str,
        review: str,
        recorded_by: RecordedByInput,
        level: str,
        commissioned_at: datetime,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Commission a local or national practice review (once)."""
        return self._run(
            CommissionReview,
            recorded_by,
            partnership=partnership,
            review=review,
            level=level,
            commissioned_at=commissioned_at,
            source=source,
            occurred_at=occurred_at,
        )

    def publish_review(
        self,
        *,
        partnership: str,
        review: str,
        recorded_by: RecordedByInput,
        published_at: datetime,
        title: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Publish the review; afterwards only recommendation events are recorded on it."""
        return self._run(
            PublishReview,
            recorded_by,
            partnership=partnership,
            review=review,
            published_at=published_at,
            title=title,
            source=source,
            occurred_at=occurred_at,
        )

    def issue_recommendation(
        self,
        *,
        partnership: str,
        review: str,
        recorded_by: RecordedByInput,
        recommendation: str,
        owner: str,
        due: date,
        theme: str,
        text: str,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Issue ``recommendation`` to the registered ``owner``, due on ``due``."""
        return self._run(
            IssueRecommendation,
            recorded_by,
            partnership=partnership,
            review=review,
            recommendation=recommendation,
            owner=owner,
            due=due,
            theme=theme,
            text=text,
            source=source,
            occurred_at=occurred_at,
        )

    def accept_recommendation(
        self,
        *,
        partnership: str,
        review: str,
        recorded_by: RecordedByInput,
        recommendation: str,
        by_agency: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Accept ``recommendation``, as its owner."""
        return self._run(
            AcceptRecommendation,
            recorded_by,
            partnership=partnership,
            review=review,
            recommendation=recommendation,
            by_agency=by_agency,
            source=source,
            occurred_at=occurred_at,
        )

    def reject_recommendation(
        self,
        *,
        partnership: str,
        review: str,
        recorded_by: RecordedByInput,
        recommendation: str,
        basis: str,
        by_agency: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Reject ``recommendation`` (an opt-out) with its stated ``basis``, as its owner."""
        return self._run(
            RejectRecommendation,
            recorded_by,
            partnership=partnership,
            review=review,
            recommendation=recommendation,
            basis=basis,
            by_agency=by_agency,
            source=source,
            occurred_at=occurred_at,
        )

    def report_recommendation_progress(
        self,
        *,
        partnership: str,
        review: str,
        recorded_by: RecordedByInput,
        recommendation: str,
        status: str,
        by_agency: Opt[str] = UNSET,
        note: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Report red/amber/green progress on ``recommendation``, as its owner."""
        return self._run(
            ReportRecommendationProgress,
            recorded_by,
            partnership=partnership,
            review=review,
            recommendation=recommendation,
            status=status,
            by_agency=by_agency,
            note=note,
            source=source,
            occurred_at=occurred_at,
        )

    def implement_recommendation(
        self,
        *,
        partnership: str,
        review: str,
        recorded_by: RecordedByInput,
        recommendation: str,
        by_agency: Opt[str] = UNSET,
        evidence: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Record that the accepted ``recommendation`` was implemented, as its owner."""
        return self._run(
            ImplementRecommendation,
            recorded_by,
            partnership=partnership,
            review=review,
            recommendation=recommendation,
            by_agency=by_agency,
            evidence=evidence,
            source=source,
            occurred_at=occurred_at,
        )
