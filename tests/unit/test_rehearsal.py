"""A rehearsal checks commands by every rule of the ledger and writes nothing to it."""

from __future__ import annotations

import pytest
from ledger_scenario import LA, PARTNERSHIP, FixedClock
from views_support import demo_ledger

from ledger import AggregateNotFound, RuleViolation
from ledger.rehearsal import rehearsal, stored_facts
from schemas.commands import EscalateChallenge, RaiseChallenge, RespondToChallenge


def raise_it(challenge: str = "ch-1", against: str = "police") -> RaiseChallenge:
    return RaiseChallenge(
        partnership=PARTNERSHIP,
        challenge=challenge,
        against_agency=against,
        matter="attendance",  # type: ignore[arg-type]
        summary="Not at the conference",
    )


class TestRehearsal:
    def test_later_commands_see_earlier_ones_and_the_ledger_is_unchanged(self) -> None:
        ledger = demo_ledger(FixedClock())
        before = ledger.recorder.max_notification_id()
        scratch = rehearsal(ledger, PARTNERSHIP)
        scratch.execute(raise_it(), recorded_by=LA)
        scratch.execute(
            EscalateChallenge(partnership=PARTNERSHIP, challenge="ch-1", to_stage=2),
            recorded_by=LA,
        )
        assert scratch.get_challenge(PARTNERSHIP, "ch-1").stage == 2
        assert ledger.recorder.max_notification_id() == before
        assert stored_facts(ledger, PARTNERSHIP, "challenge", "ch-1") == []

    def test_a_refusal_names_the_rule_and_keeps_the_state_for_the_next_command(self) -> None:
        ledger = demo_ledger(FixedClock())
        ledger.execute(raise_it(), recorded_by=LA)
        scratch = rehearsal(ledger, PARTNERSHIP, challenges=["ch-1", "ch-absent"])
        respond = RespondToChallenge(
            partnership=PARTNERSHIP, challenge="ch-1", stage=1, response="Seen"
        )
        with pytest.raises(RuleViolation, match="is not the agency challenged"):
            scratch.execute(respond, recorded_by=LA)  # the seeded copy is still there after
        scratch.execute(respond, recorded_by={"agency": "police", "actor": "act_pc01234"})
        with pytest.raises(RuleViolation, match="not registered"):
            scratch.execute(raise_it("ch-2", against="fire"), recorded_by=LA)
        assert [
            type(f).__name__ for f in stored_facts(ledger, PARTNERSHIP, "challenge", "ch-1")
        ] == ["ChallengeRaised"]

    def test_a_partnership_that_does_not_exist_cannot_be_rehearsed(self) -> None:
        with pytest.raises(AggregateNotFound):
            rehearsal(demo_ledger(FixedClock()), "southshire")
