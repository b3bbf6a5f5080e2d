"""The review aggregate: a serious incident, its reviews, and the recommendations that follow.

Recommendations live inside the review: each is issued to a registered owner
agency with a due date, and only that owner accepts or rejects it (once, not
both), reports progress on it and implements it (only once accepted). After the
review is published only recommendation events are recorded.
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass
from typing import Any, Final, cast

from ledger._aggregate import LedgerAggregate, register_aggregate
from ledger.domain._rules import Rule, check_occurred_at, violation
from ledger.domain.partnership import Partnership
from ledger.errors import InvalidCommand
from schemas import Event as Fact
from schemas import (
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
    tag_of,
)

__all__ = ["Recommendation", "RecommendationStatus", "Review"]

REGISTERED_FIRST: Final = Rule(
    "registered_before_review",
    "an agency must be registered in the partnership before it records on a review or owns "
    "a recommendation",
)
NOTIFIED_AFTER_AWARE: Final = Rule(
    "notified_after_aware", "the panel is notified after the local authority became aware"
)
NOTIFIED_ONCE: Final = Rule("incident_notified_once", "a serious incident is notified once")
ONCE: Final = Rule("review_step_once", "a review's rapid review and commission happen once each")
AFTER_PUBLICATION: Final = Rule(
    "after_publication", "after a review is published only recommendation events are recorded"
)
UNIQUE_RECOMMENDATION: Final = Rule(
    "unique_recommendation", "recommendation ids are unique within a review"
)
DUE_AFTER_ISSUE: Final = Rule(
    "due_after_issue", "a recommendation's due date is not before the date it is issued"
)
KNOWN_RECOMMENDATION: Final = Rule(
    "known_recommendation", "a recommendation event names a recommendation the review issued"
)
OWNER_ACTS: Final = Rule(
    "owner_acts", "only the owner of a recommendation accepts, rejects, progresses or implements it"
)
DECIDE_ONCE: Final = Rule(
    "decide_once", "a recommendation is accepted or rejected once, and not both"
)
PROGRESS_OPEN: Final = Rule(
    "progress_open", "progress is reported on a recommendation neither rejected nor implemented"
)
IMPLEMENT_ACCEPTED: Final = Rule(
    "implement_accepted", "a recommendation is implemented once, and only after it was accepted"
)


class RecommendationStatus(enum.StrEnum):
    """Where a recommendation stands."""

    ISSUED = "issued"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IMPLEMENTED = "implemented"


@dataclass
class Recommendation:
    """A recommendation of the review: owner, due date, status and latest RAG rating."""

    owner: str
    due: datetime.date
    status: RecommendationStatus = RecommendationStatus.ISSUED
    rag: RagStatus | None = None


_RECOMMENDATION_EVENTS: Final = (
    RecommendationIssued,
    RecommendationAccepted,
    RecommendationRejected,
    RecommendationProgressReported,
    RecommendationImplemented,
)


@register_aggregate
class Review(LedgerAggregate):
    """A serious incident's review: its steps and its recommendations."""

    KIND = "review"

    def __init__(self) -> None:
        self.case: str | None = None
        self.incident: IncidentKind | None = None
        self.rapid_review: RapidReviewDecision | None = None
        self.level: ReviewLevel | None = None
        self.published: bool = False
        self.recommendations: dict[str, Recommendation] = {}

    # -- commands --------------------------------------------------------------------

    @classmethod
    def start(cls, ident: str, fact: SeriousIncidentNotified, partnership: Partnership) -> Review:
        """Check the opening fact and create the review ``ident`` (an aggregate id)."""
        cls.check_opening(fact, partnership)
        return cast(Review, cls.open(ident, fact))

    @staticmethod
    def check_opening(fact: SeriousIncidentNotified, partnership: Partnership) -> None:
        """The rules a new review obeys."""
        check_occurred_at(fact)
        partnership.require_registered(
            "recorded_by.agency", fact.recorded_by.agency, REGISTERED_FIRST
        )
        if fact.notified_panel_at < fact.became_aware_at:
            raise violation("notified_panel_at", "is before became_aware_at", NOTIFIED_AFTER_AWARE)

    def handle(self, fact: Fact, partnership: Partnership) -> None:
        """Check ``fact`` against the review's rules, then record it."""
        self.check(fact, partnership)
        self.record(fact)

    def check(self, fact: Fact, partnership: Partnership) -> None:
        """Raise a :class:`~ledger.errors.RuleViolation` if ``fact`` may not be recorded now."""
        check_occurred_at(fact)
        if isinstance(fact, SeriousIncidentNotified):
            raise violation("review", f"'{self.ident}' already has its incident", NOTIFIED_ONCE)
        partnership.require_registered(
            "recorded_by.agency", fact.recorded_by.agency, REGISTERED_FIRST
        )
        if self.published and not isinstance(fact, _RECOMMENDATION_EVENTS):
            raise violation("review", f"'{self.ident}' is published", AFTER_PUBLICATION)
        match fact:
            case RapidReviewCompleted():
                if self.rapid_review is not None:
                    raise violation("review", f"'{self.ident}' had its rapid review", ONCE)
            case ReviewCommissioned():
                if self.level is not None:
                    raise violation("review", f"'{self.ident}' is already commissioned", ONCE)
            case ReviewPublished():
                pass
            case RecommendationIssued():
                self._check_issue(fact, partnership)
            case (
                RecommendationAccepted()
                | RecommendationRejected()
                | RecommendationProgressReported()
                | RecommendationImplemented()
            ):
                self._check_owner_step(fact)
            case _:
                raise InvalidCommand(
                    f"type '{tag_of(type(fact))}' is not an event of a review", field="type"
                )

    def _check_issue(self, fact: RecommendationIssued, partnership: Partnership) -> None:
        if fact.recommendation in self.recommendations:
            raise violation(
                "recommendation",
                f"'{fact.recommendation}' was already issued by review '{self.ident}'",
                UNIQUE_RECOMMENDATION,
            )
        partnership.require_registered("owner", fact.owner, REGISTERED_FIRST)
        issued = fact.occurred_at.astimezone(datetime.UTC).date()
        if fact.due < issued:
            raise violation(
                "due",
                f"{fact.due.isoformat()} is before the issue date {issued.isoformat()}",
                DUE_AFTER_ISSUE,
            )

    def _check_owner_step(
        self,
        fact: RecommendationAccepted
        | RecommendationRejected
        | RecommendationProgressReported
        | RecommendationImplemented,
    ) -> None:
        recommendation = self.recommendations.get(fact.recommendation)
        if recommendation is None:
            raise violation(
                "recommendation",
                f"'{fact.recommendation}' was not issued by review '{self.ident}'",
                KNOWN_RECOMMENDATION,
            )
        if fact.by_agency != recommendation.owner:
            raise violation(
                "by_agency",
                f"'{fact.by_agency}' is not the owner '{recommendation.owner}' of recommendation "
                f"'{fact.recommendation}'",
                OWNER_ACTS,
            )
        status = recommendation.status
        if isinstance(fact, RecommendationAccepted | RecommendationRejected):
            allowed, rule = status is RecommendationStatus.ISSUED, DECIDE_ONCE
        elif isinstance(fact, RecommendationProgressReported):
            allowed = status in (RecommendationStatus.ISSUED, RecommendationStatus.ACCEPTED)
            rule = PROGRESS_OPEN
        else:
            allowed, rule = status is RecommendationStatus.ACCEPTED, IMPLEMENT_ACCEPTED
        if not allowed:
            raise violation(
                "recommendation", f"'{fact.recommendation}' is already {status.value}", rule
            )

    # -- state -----------------------------------------------------------------------

    def when(self, fact: Fact) -> None:
        match fact:
            case SeriousIncidentNotified():
                self.case = fact.case if isinstance(fact.case, str) else None
                self.incident = fact.incident
            case RapidReviewCompleted():
                self.rapid_review = fact.decision
            case ReviewCommissioned():
                self.level = fact.level
            case ReviewPublished():
                self.published = True
            case RecommendationIssued():
                self.recommendations[fact.recommendation] = Recommendation(fact.owner, fact.due)
            case RecommendationAccepted():
                self._set_status(fact.recommendation, RecommendationStatus.ACCEPTED)
            case RecommendationRejected():
                self._set_status(fact.recommendation, RecommendationStatus.REJECTED)
            case RecommendationImplemented():
                self._set_status(fact.recommendation, RecommendationStatus.IMPLEMENTED)
            case RecommendationProgressReported():
                if recommendation := self.recommendations.get(fact.recommendation):
                    recommendation.rag = fact.status
            case _:
                pass

    def _set_status(self, recommendation: str, status: RecommendationStatus) -> None:
        if found := self.recommendations.get(recommendation):
            found.status = status

    def state(self) -> dict[str, Any]:
        """The aggregate's state as plain data, to compare a live aggregate with a replayed one."""
        return {
            "version": self.version,
            "case": self.case,
            "incident": self.incident,
            "rapid_review": self.rapid_review,
            "level": self.level,
            "published": self.published,
            "recommendations": {
                r: (rec.owner, rec.due, rec.status, rec.rag)
                for r, rec in self.recommendations.items()
            },
        }
