"""The challenge aggregate: raising, responding, escalating through stages, and ending."""

from __future__ import annotations

from typing import Any

import pytest
from ledger_scenario import CASE, HEALTH, LA, PARTNERSHIP, POLICE, SCHOOL, Rejected, command

from ledger.application import Ledger
from ledger.domain import ChallengeStatus
from ledger.errors import AggregateNotFound, InvalidCommand, RuleViolation
from schemas import ChallengeOutcome

CHALLENGE = "d-1"
SUMMARY = "Police did not attend the strategy discussion."


def raise_challenge(ledger: Ledger, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "challenge": CHALLENGE,
        "recorded_by": LA,
        "against_agency": "police",
        "matter": "attendance",
        "summary": SUMMARY,
    }
    fields.update(overrides)
    return command(ledger, "raise_challenge", **fields)


def on_challenge(ledger: Ledger, name: str, **kwargs: Any) -> Any:
    return command(ledger, name, challenge=CHALLENGE, **kwargs)


@pytest.fixture
def challenge(ledger: Ledger, partnership: str) -> str:
    """Challenge ``d-1``: la against police at stage 1."""
    raise_challenge(ledger)
    return CHALLENGE


class TestRaisingAChallenge:
    def test_a_challenge_starts_open_at_its_stage(self, ledger: Ledger, challenge: str) -> None:
        found = ledger.get_challenge(PARTNERSHIP, challenge)
        assert (found.by_agency, found.against_agency, found.stage) == ("la", "police", 1)
        assert found.status is ChallengeStatus.OPEN

    def test_a_challenge_about_an_existing_case_names_it(self, ledger: Ledger, case: str) -> None:
        raise_challenge(ledger, case=case, stage=2)
        found = ledger.get_challenge(PARTNERSHIP, CHALLENGE)
        assert (found.case, found.stage) == (CASE, 2)

    def test_a_challenge_about_an_unknown_case_is_not_found(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(AggregateNotFound, match="case case 'c-404' does not exist"):
            raise_challenge(ledger, case="c-404")

    def test_an_agency_cannot_challenge_itself(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="against_agency", match="different agency"):
            raise_challenge(ledger, against_agency="la")

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"against_agency": "school"}, "against_agency"),
            ({"by_agency": "school"}, "by_agency"),
            ({"recorded_by": SCHOOL}, "recorded_by.agency"),
        ],
    )
    def test_both_agencies_and_the_recorder_must_be_registered(
        self,
        ledger: Ledger,
        partnership: str,
        rejected: Rejected,
        overrides: dict[str, Any],
        field: str,
    ) -> None:
        with rejected(RuleViolation, field=field, match="'school' is not registered"):
            raise_challenge(ledger, **overrides)

    def test_a_stage_the_partnership_does_not_have_is_rejected(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="stage", match="stages 1 to 3"):
            raise_challenge(ledger, stage=4)

    def test_a_stage_beyond_any_procedure_is_malformed(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="stage"):
            raise_challenge(ledger, stage=9)

    def test_a_challenge_id_is_raised_once(
        self, ledger: Ledger, challenge: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="challenge", match="already exists"):
            raise_challenge(ledger, against_agency="health")

    def test_an_oversize_summary_is_rejected(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="summary"):
            raise_challenge(ledger, summary="x" * 2001)


class TestRespondingAndEscalating:
    def test_the_challenged_agency_responds_at_the_current_stage(
        self, ledger: Ledger, challenge: str
    ) -> None:
        receipt = on_challenge(
            ledger, "respond_to_challenge", recorded_by=POLICE, stage=1, response="Noted."
        )
        assert receipt.version == 2

    def test_a_response_from_the_raising_agency_is_rejected(
        self, ledger: Ledger, challenge: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="by_agency", match="agency challenged"):
            on_challenge(ledger, "respond_to_challenge", recorded_by=LA, stage=1, response="x")

    def test_a_response_at_another_stage_is_rejected(
        self, ledger: Ledger, challenge: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="stage", match="current stage 1"):
            on_challenge(ledger, "respond_to_challenge", recorded_by=POLICE, stage=2, response="x")

    def test_escalation_moves_the_challenge_up_a_stage(
        self, ledger: Ledger, challenge: str
    ) -> None:
        on_challenge(ledger, "escalate_challenge", recorded_by=LA, to_stage=3)
        assert ledger.get_challenge(PARTNERSHIP, challenge).stage == 3
        on_challenge(ledger, "respond_to_challenge", recorded_by=POLICE, stage=3, response="ok")

    @pytest.mark.parametrize(("to_stage", "problem"), [(1, "not after"), (4, "beyond the last")])
    def test_escalation_only_goes_up_within_the_procedure(
        self, ledger: Ledger, challenge: str, rejected: Rejected, to_stage: int, problem: str
    ) -> None:
        with rejected(RuleViolation, field="to_stage", match=problem):
            on_challenge(ledger, "escalate_challenge", recorded_by=LA, to_stage=to_stage)

    def test_an_agency_outside_the_challenge_cannot_escalate_it(
        self, ledger: Ledger, challenge: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="by_agency"):
            on_challenge(ledger, "escalate_challenge", recorded_by=HEALTH, to_stage=2)

    def test_only_the_raising_agency_withdraws(
        self, ledger: Ledger, challenge: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="by_agency", match="did not raise"):
            on_challenge(ledger, "withdraw_challenge", recorded_by=POLICE)
        on_challenge(ledger, "withdraw_challenge", recorded_by=LA, reason="Resolved informally.")
        assert ledger.get_challenge(PARTNERSHIP, challenge).status is ChallengeStatus.WITHDRAWN

    def test_an_unknown_challenge_is_not_found(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(AggregateNotFound, match="challenge 'd-1' does not exist"):
            on_challenge(ledger, "resolve_challenge", recorded_by=LA, outcome="upheld")


ENDINGS = [
    ("resolve_challenge", {"recorded_by": LA, "outcome": "upheld"}),
    ("withdraw_challenge", {"recorded_by": LA}),
]
LATER = [
    ("respond_to_challenge", {"recorded_by": POLICE, "stage": 1, "response": "Late reply."}),
    ("escalate_challenge", {"recorded_by": LA, "to_stage": 2}),
    ("resolve_challenge", {"recorded_by": LA, "outcome": "not_upheld"}),
    ("withdraw_challenge", {"recorded_by": LA}),
]


class TestAnEndedChallenge:
    def test_resolution_records_the_outcome(self, ledger: Ledger, challenge: str) -> None:
        on_challenge(ledger, "resolve_challenge", recorded_by=LA, outcome="agreed_way_forward")
        found = ledger.get_challenge(PARTNERSHIP, challenge)
        assert found.status is ChallengeStatus.RESOLVED
        assert found.outcome is ChallengeOutcome.AGREED_WAY_FORWARD

    @pytest.mark.parametrize(("ending", "ending_fields"), ENDINGS)
    @pytest.mark.parametrize(("name", "fields"), LATER)
    def test_a_resolved_or_withdrawn_challenge_takes_nothing_more(
        self,
        ledger: Ledger,
        challenge: str,
        rejected: Rejected,
        ending: str,
        ending_fields: dict[str, Any],
        name: str,
        fields: dict[str, Any],
    ) -> None:
        on_challenge(ledger, ending, **ending_fields)
        with rejected(RuleViolation, field="challenge", match="'d-1' is (resolved|withdrawn)"):
            on_challenge(ledger, name, **fields)
