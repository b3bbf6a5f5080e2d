"""The review aggregate: the incident, the review's steps, and its recommendations."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from ledger_scenario import CHILD, HEALTH, LA, PARTNERSHIP, POLICE, SCHOOL, T0, Rejected, command

from ledger.application import Ledger
from ledger.domain import RecommendationStatus
from ledger.errors import AggregateNotFound, InvalidCommand, RuleViolation
from schemas import RagStatus

REVIEW = "sr-1"
REC = "rec-1"


def notify(ledger: Ledger, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "review": REVIEW,
        "recorded_by": LA,
        "child": CHILD,
        "incident": "serious_harm",
        "became_aware_at": T0 - timedelta(days=3),
        "notified_panel_at": T0 - timedelta(days=1),
    }
    fields.update(overrides)
    return command(ledger, "notify_serious_incident", **fields)


def on_review(ledger: Ledger, name: str, **kwargs: Any) -> Any:
    return command(ledger, name, review=REVIEW, **kwargs)


def issue(ledger: Ledger, recommendation: str = REC, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "recorded_by": LA,
        "recommendation": recommendation,
        "owner": "health",
        "due": date(2026, 9, 1),
        "theme": "information_sharing",
        "text": "Health visitors share concerns with the MASH within one working day.",
    }
    fields.update(overrides)
    return on_review(ledger, "issue_recommendation", **fields)


@pytest.fixture
def review(ledger: Ledger, partnership: str) -> str:
    notify(ledger)
    return REVIEW


@pytest.fixture
def recommendation(ledger: Ledger, review: str) -> str:
    issue(ledger)
    return REC


class TestTheIncidentAndTheReview:
    def test_a_review_opens_with_the_incident(self, ledger: Ledger, review: str) -> None:
        on_review(
            ledger,
            "complete_rapid_review",
            recorded_by=LA,
            completed_at=T0,
            decision="local_review",
        )
        on_review(ledger, "commission_review", recorded_by=LA, level="local", commissioned_at=T0)
        on_review(ledger, "publish_review", recorded_by=LA, published_at=T0, title="Child K")
        assert ledger.get_review(PARTNERSHIP, review).published

    def test_the_panel_is_not_notified_before_anyone_was_aware(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="notified_panel_at"):
            notify(ledger, notified_panel_at=T0 - timedelta(days=4))

    def test_an_unregistered_agency_cannot_notify(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="recorded_by.agency"):
            notify(ledger, recorded_by=SCHOOL)

    def test_an_incident_naming_an_unknown_case_is_not_found(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(AggregateNotFound, match="case 'c-404' does not exist"):
            notify(ledger, case="c-404")

    def test_a_name_where_the_child_reference_belongs_is_rejected(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="child"):
            notify(ledger, child="Jane Smith")

    def test_the_same_review_is_not_opened_twice(
        self, ledger: Ledger, review: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="review", match="already exists"):
            notify(ledger)

    @pytest.mark.parametrize(
        ("name", "fields"),
        [
            ("complete_rapid_review", {"completed_at": T0, "decision": "no_review"}),
            ("commission_review", {"level": "national", "commissioned_at": T0}),
        ],
    )
    def test_each_step_happens_once(
        self, ledger: Ledger, review: str, rejected: Rejected, name: str, fields: dict[str, Any]
    ) -> None:
        on_review(ledger, name, recorded_by=LA, **fields)
        with rejected(RuleViolation, field="review"):
            on_review(ledger, name, recorded_by=LA, **fields)

    @pytest.mark.parametrize(
        ("name", "fields"),
        [
            ("complete_rapid_review", {"completed_at": T0, "decision": "no_review"}),
            ("commission_review", {"level": "national", "commissioned_at": T0}),
            ("publish_review", {"published_at": T0}),
        ],
    )
    def test_after_publication_only_recommendation_events_are_recorded(
        self, ledger: Ledger, review: str, rejected: Rejected, name: str, fields: dict[str, Any]
    ) -> None:
        on_review(ledger, "publish_review", recorded_by=LA, published_at=T0)
        issue(ledger)
        on_review(ledger, "accept_recommendation", recorded_by=HEALTH, recommendation=REC)
        with rejected(RuleViolation, field="review", match="published"):
            on_review(ledger, name, recorded_by=LA, **fields)

    def test_an_unknown_review_is_not_found(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(AggregateNotFound, match="review 'sr-1' does not exist"):
            on_review(ledger, "publish_review", recorded_by=LA, published_at=T0)


class TestIssuingRecommendations:
    def test_a_recommendation_is_issued_to_its_owner(
        self, ledger: Ledger, recommendation: str
    ) -> None:
        found = ledger.get_review(PARTNERSHIP, REVIEW).recommendations[recommendation]
        assert (found.owner, found.status) == ("health", RecommendationStatus.ISSUED)

    def test_a_recommendation_id_is_issued_once(
        self, ledger: Ledger, recommendation: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="recommendation", match="already issued"):
            issue(ledger, owner="police")

    def test_the_owner_must_be_registered(
        self, ledger: Ledger, review: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="owner", match="'school' is not registered"):
            issue(ledger, owner="school")

    def test_a_due_date_before_the_issue_date_is_rejected(
        self, ledger: Ledger, review: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="due", match="before the issue date 2026-03-02"):
            issue(ledger, due=date(2026, 3, 1))

    def test_a_due_date_on_the_issue_date_is_accepted(self, ledger: Ledger, review: str) -> None:
        issue(ledger, due=T0.date())

    def test_a_due_date_that_is_not_a_date_is_malformed(
        self, ledger: Ledger, review: str, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="due"):
            issue(ledger, due="next spring")


class TestTheOwnerActs:
    def test_the_owner_accepts_reports_progress_and_implements(
        self, ledger: Ledger, recommendation: str
    ) -> None:
        on_review(ledger, "accept_recommendation", recorded_by=HEALTH, recommendation=REC)
        on_review(
            ledger,
            "report_recommendation_progress",
            recorded_by=HEALTH,
            recommendation=REC,
            status="amber",
        )
        on_review(ledger, "implement_recommendation", recorded_by=HEALTH, recommendation=REC)
        found = ledger.get_review(PARTNERSHIP, REVIEW).recommendations[REC]
        assert (found.status, found.rag) == (RecommendationStatus.IMPLEMENTED, RagStatus.AMBER)

    @pytest.mark.parametrize(
        ("name", "fields"),
        [
            ("accept_recommendation", {}),
            ("reject_recommendation", {"basis": "Not our service."}),
            ("report_recommendation_progress", {"status": "green"}),
            ("implement_recommendation", {}),
        ],
    )
    def test_only_the_owner_acts_on_a_recommendation(
        self,
        ledger: Ledger,
        recommendation: str,
        rejected: Rejected,
        name: str,
        fields: dict[str, Any],
    ) -> None:
        with rejected(RuleViolation, field="by_agency", match="'police' is not the owner"):
            on_review(ledger, name, recorded_by=POLICE, recommendation=REC, **fields)

    @pytest.mark.parametrize(
        ("first", "second"),
        [
            ("accept_recommendation", "accept_recommendation"),
            ("accept_recommendation", "reject_recommendation"),
            ("reject_recommendation", "accept_recommendation"),
            ("reject_recommendation", "reject_recommendation"),
        ],
    )
    def test_a_recommendation_is_accepted_or_rejected_once_and_not_both(
        self, ledger: Ledger, recommendation: str, rejected: Rejected, first: str, second: str
    ) -> None:
        basis = {"basis": "Commissioned elsewhere."}
        on_review(
            ledger,
            first,
            recorded_by=HEALTH,
            recommendation=REC,
            **(basis if "reject" in first else {}),
        )
        with rejected(RuleViolation, field="recommendation", match="already"):
            on_review(
                ledger,
                second,
                recorded_by=HEALTH,
                recommendation=REC,
                **(basis if "reject" in second else {}),
            )

    def test_a_recommendation_not_accepted_is_not_implemented(
        self, ledger: Ledger, recommendation: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="recommendation", match="already issued"):
            on_review(ledger, "implement_recommendation", recorded_by=HEALTH, recommendation=REC)

    def test_a_recommendation_is_implemented_once(
        self, ledger: Ledger, recommendation: str, rejected: Rejected
    ) -> None:
        on_review(ledger, "accept_recommendation", recorded_by=HEALTH, recommendation=REC)
        on_review(ledger, "implement_recommendation", recorded_by=HEALTH, recommendation=REC)
        with rejected(RuleViolation, field="recommendation", match="already implemented"):
            on_review(ledger, "implement_recommendation", recorded_by=HEALTH, recommendation=REC)

    def test_no_progress_is_reported_on_a_rejected_recommendation(
        self, ledger: Ledger, recommendation: str, rejected: Rejected
    ) -> None:
        on_review(
            ledger, "reject_recommendation", recorded_by=HEALTH, recommendation=REC, basis="No."
        )
        with rejected(RuleViolation, field="recommendation", match="already rejected"):
            on_review(
                ledger,
                "report_recommendation_progress",
                recorded_by=HEALTH,
                recommendation=REC,
                status="red",
            )

    def test_an_unknown_recommendation_is_rejected(
        self, ledger: Ledger, review: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="recommendation", match="was not issued"):
            on_review(ledger, "accept_recommendation", recorded_by=HEALTH, recommendation="rec-9")

    def test_an_unknown_rag_status_is_malformed(
        self, ledger: Ledger, recommendation: str, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="status"):
            on_review(
                ledger,
                "report_recommendation_progress",
                recorded_by=HEALTH,
                recommendation=REC,
                status="purple",
            )
