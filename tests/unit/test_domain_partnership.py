"""The partnership aggregate: establishing it, registering agencies and their keys."""

from __future__ import annotations

import base64
from datetime import timedelta

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_scenario import (
    LA,
    PARTNERSHIP,
    POLICE,
    STAGES,
    T0,
    FixedClock,
    Rejected,
    establish,
    written,
)

from ledger._aggregate import aggregate_id
from ledger.application import Ledger
from ledger.domain import Partnership
from ledger.domain.partnership import AgencyKey
from ledger.errors import AggregateNotFound, InvalidCommand, RuleViolation
from ledger.proofs.errors import KeyEventUnauthorised
from ledger.signing import public_key_text, sign_command
from schemas import AgencyKind, AgencyRole, Nation, PartnershipEstablished, RecordedBy, Source
from schemas.commands import RegisterAgencyKey, RevokeAgencyKey

PRIVATE = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
KEY = public_key_text(PRIVATE)
OTHER_KEY = public_key_text(Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))


def signed_by_k1(ledger: Ledger, command: RegisterAgencyKey | RevokeAgencyKey) -> None:
    """Police's later key event, signed by its key ``k1`` (docs/proofs.md: once an agency
    has a live key, its key events need one's signature)."""
    command = msgspec.structs.replace(command, occurred_at=T0)
    signature = sign_command(command, POLICE, PRIVATE, "k1")
    ledger.execute(command, recorded_by=POLICE, signature=signature)


def revocation(key_id: str, reason: str = "compromised") -> RevokeAgencyKey:
    return RevokeAgencyKey(
        partnership=PARTNERSHIP,
        agency="police",
        key_id=key_id,
        reason=reason,  # type: ignore[arg-type]
    )


def establish_with(ledger: Ledger, **overrides: object) -> None:
    fields: dict[str, object] = {
        "partnership": PARTNERSHIP,
        "recorded_by": LA,
        "name": "Northshire",
        "nation": "wales",
        "escalation_stages": STAGES,
    }
    fields.update(overrides)
    ledger.establish_partnership(**fields)  # type: ignore[arg-type]


class TestEstablishingAPartnership:
    def test_a_partnership_knows_its_nation_and_escalation_stages(self, ledger: Ledger) -> None:
        establish_with(ledger, strategy_discussion_working_days=2)

        partnership = ledger.get_partnership(PARTNERSHIP)
        assert partnership.nation is Nation.WALES
        assert partnership.stages == {1: 5, 2: 5, 3: 10}
        assert partnership.max_stage == 3
        assert partnership.strategy_discussion_working_days == 2
        assert partnership.agencies == {}

    def test_establishing_it_a_second_time_is_rejected(
        self, ledger: Ledger, rejected: Rejected
    ) -> None:
        establish_with(ledger)
        with rejected(RuleViolation, field="partnership", match="already exists"):
            establish_with(ledger)

    def test_stages_out_of_order_are_rejected(self, ledger: Ledger, rejected: Rejected) -> None:
        with rejected(RuleViolation, field="escalation_stages", match="numbered 1, 3"):
            establish_with(ledger, escalation_stages=[STAGES[0], STAGES[2]])

    def test_more_than_five_stages_are_rejected_as_malformed(
        self, ledger: Ledger, rejected: Rejected
    ) -> None:
        stages = [STAGES[0]] * 6
        with rejected(InvalidCommand, field="escalation_stages"):
            establish_with(ledger, escalation_stages=stages)

    def test_a_nation_other_than_england_or_wales_is_rejected(
        self, ledger: Ledger, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="nation"):
            establish_with(ledger, nation="scotland")

    def test_a_partnership_id_that_is_not_a_safe_token_is_rejected(
        self, ledger: Ledger, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="partnership"):
            establish_with(ledger, partnership="North Shire")


class TestRegisteringAgencies:
    def test_a_registered_agency_is_known_with_its_kind_and_role(
        self, ledger: Ledger, partnership: str
    ) -> None:
        found = ledger.get_partnership(partnership)
        assert found.is_registered("police")
        assert found.agencies["police"] == (AgencyKind.POLICE, AgencyRole.STATUTORY_PARTNER)
        assert not found.is_registered("school")

    def test_an_agency_id_registered_twice_is_rejected(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="agency", match="'police' is already registered"):
            ledger.register_agency(
                partnership=partnership,
                recorded_by=LA,
                agency="police",
                name="Police again",
                kind="police",
                role="statutory_partner",
            )

    def test_registering_in_an_unknown_partnership_is_rejected_as_not_found(
        self, ledger: Ledger, rejected: Rejected
    ) -> None:
        with rejected(AggregateNotFound, match="partnership 'nowhere' does not exist"):
            ledger.register_agency(
                partnership="nowhere",
                recorded_by=LA,
                agency="police",
                name="Police",
                kind="police",
                role="statutory_partner",
            )

    @pytest.mark.parametrize(
        ("field", "value"),
        [("kind", "bank"), ("role", "friend"), ("name", "x" * 201), ("agency", "Police Force")],
    )
    def test_a_malformed_registration_is_rejected_naming_the_field(
        self, ledger: Ledger, partnership: str, rejected: Rejected, field: str, value: str
    ) -> None:
        fields = {"agency": "school", "name": "School", "kind": "school", "role": "relevant_agency"}
        fields[field] = value
        with rejected(InvalidCommand, field=field):
            ledger.register_agency(partnership=partnership, recorded_by=LA, **fields)


class TestRegisteringKeys:
    def test_an_agency_registers_its_own_key(self, ledger: Ledger, partnership: str) -> None:
        ledger.register_agency_key(
            partnership=partnership,
            recorded_by=POLICE,
            agency="police",
            key_id="k1",
            public_key=KEY,
        )
        assert ledger.get_partnership(partnership).keys == {
            "police": {"k1": AgencyKey(KEY, "agency", revoked=False)}
        }

    def test_a_key_for_an_unregistered_agency_is_rejected(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="agency", match="'school' is not registered"):
            ledger.register_agency_key(
                partnership=partnership,
                recorded_by=LA,
                agency="school",
                key_id="k1",
                public_key=KEY,
            )

    def test_a_key_recorded_by_another_agency_is_rejected(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="recorded_by.agency", match="registers its own keys"):
            ledger.register_agency_key(
                partnership=partnership,
                recorded_by=LA,
                agency="police",
                key_id="k1",
                public_key=KEY,
            )

    def test_a_key_id_registered_twice_is_rejected(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        ledger.register_agency_key(
            partnership=partnership,
            recorded_by=POLICE,
            agency="police",
            key_id="k1",
            public_key=KEY,
        )
        again = RegisterAgencyKey(
            partnership=partnership, agency="police", key_id="k1", public_key=OTHER_KEY
        )
        with rejected(RuleViolation, field="key_id"):
            signed_by_k1(ledger, again)

    def test_a_small_order_public_key_is_refused_naming_the_field_and_rule(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        identity = base64.b64encode((1).to_bytes(32, "little")).decode()
        with rejected(RuleViolation, field="public_key", match="small order") as info:
            ledger.register_agency_key(
                partnership=partnership,
                recorded_by=POLICE,
                agency="police",
                key_id="k1",
                public_key=identity,
            )
        assert getattr(info.value, "rule", None) == "valid_public_key"

    def test_a_non_canonical_public_key_is_refused(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        y = 2**255 - 19 + 2  # y = 2 spelt with the prime added: the pattern admits it
        spelt = base64.b64encode(y.to_bytes(32, "little")).decode()
        with rejected(RuleViolation, field="public_key", match="not a canonical encoding"):
            ledger.register_agency_key(
                partnership=partnership,
                recorded_by=POLICE,
                agency="police",
                key_id="k1",
                public_key=spelt,
            )

    def test_a_key_that_is_not_ed25519_base64_is_rejected(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="public_key"):
            ledger.register_agency_key(
                partnership=partnership,
                recorded_by=POLICE,
                agency="police",
                key_id="k1",
                public_key="not-a-key",
            )


class TestRevokingKeysAndRequiringSignatures:
    def _register(self, ledger: Ledger, key_id: str = "k1") -> None:
        """Police's ``k1`` (its first key, unsigned), or a later key signed by ``k1``."""
        if key_id == "k1":
            ledger.register_agency_key(
                partnership=PARTNERSHIP,
                recorded_by=POLICE,
                agency="police",
                key_id=key_id,
                public_key=KEY,
            )
            return
        command = RegisterAgencyKey(
            partnership=PARTNERSHIP, agency="police", key_id=key_id, public_key=OTHER_KEY
        )
        signed_by_k1(ledger, command)

    def test_a_revoked_key_stays_known_and_marked(self, ledger: Ledger, partnership: str) -> None:
        self._register(ledger, "k1")
        self._register(ledger, "k2")
        signed_by_k1(ledger, revocation("k2", "retired"))
        found = ledger.get_partnership(partnership)
        assert found.key("police", "k2") == AgencyKey(OTHER_KEY, "agency", revoked=True)
        assert found.key("police", "k1") == AgencyKey(KEY, "agency", revoked=False)
        assert found.key("police", "k3") is None
        assert found.service_key("police") is None

    def test_revoking_an_unknown_key_is_rejected(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="key_id", match="registered before it is revoked"):
            ledger.revoke_agency_key(
                partnership=partnership,
                recorded_by=POLICE,
                agency="police",
                key_id="k9",
                reason="compromised",
            )

    def test_revoking_a_key_twice_is_rejected(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        self._register(ledger)
        self._register(ledger, "k2")
        signed_by_k1(ledger, revocation("k1"))
        command = msgspec.structs.replace(revocation("k1"), occurred_at=T0)
        other = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
        signature = sign_command(command, POLICE, other, "k2")  # k2 is live: it may sign
        with rejected(RuleViolation, field="key_id", match="already revoked"):
            ledger.execute(command, recorded_by=POLICE, signature=signature)

    def test_another_agency_cannot_revoke_a_key(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        self._register(ledger)
        with rejected(KeyEventUnauthorised, match="not signed; rule key_events_signed_by_live"):
            ledger.revoke_agency_key(
                partnership=partnership,
                recorded_by=LA,
                agency="police",
                key_id="k1",
                reason="compromised",
            )

    def test_one_public_key_cannot_be_registered_for_two_agencies(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        self._register(ledger)
        with rejected(RuleViolation, field="public_key", match="registered once in a partnership"):
            ledger.register_agency_key(
                partnership=partnership,
                recorded_by=LA,
                agency="la",
                key_id="k1",
                public_key=KEY,
            )

    def test_signatures_required_applies_from_its_date_and_is_never_put_back(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        day = T0.date() + timedelta(days=10)
        ledger.require_signatures(partnership=partnership, recorded_by=LA, required_from=day)
        found = ledger.get_partnership(partnership)
        assert not found.signatures_required(day - timedelta(days=1))
        assert found.signatures_required(day)
        with rejected(RuleViolation, field="required_from", match="may only bring it forward"):
            ledger.require_signatures(
                partnership=partnership, recorded_by=LA, required_from=day + timedelta(days=1)
            )
        ledger.require_signatures(
            partnership=partnership, recorded_by=LA, required_from=day - timedelta(days=5)
        )
        assert ledger.get_partnership(partnership).signatures_from == day - timedelta(days=5)

    def test_the_key_state_replays_from_the_store_to_the_same_state(
        self, ledger: Ledger, partnership: str
    ) -> None:
        self._register(ledger)
        self._register(ledger, "k2")
        signed_by_k1(ledger, revocation("k1", "rotated"))
        ledger.require_signatures(partnership=partnership, recorded_by=LA, required_from=T0.date())
        live = ledger.get_partnership(partnership).state()
        replayed = ledger.repository.get(aggregate_id(partnership, "partnership", partnership))
        assert replayed.state() == live
        assert live["keys"]["police"]["k1"].revoked


class TestWhenThingsHappened:
    def test_an_event_up_to_five_minutes_ahead_of_the_ledger_clock_is_accepted(
        self, ledger: Ledger, clock: FixedClock
    ) -> None:
        establish_with(ledger, occurred_at=clock.now + timedelta(minutes=5))
        assert written(ledger) == 1

    def test_an_event_more_than_five_minutes_in_the_future_is_rejected(
        self, ledger: Ledger, clock: FixedClock, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="occurred_at", match="more than 5 minutes"):
            establish_with(ledger, occurred_at=clock.now + timedelta(minutes=5, seconds=1))

    def test_a_time_without_a_timezone_is_rejected(
        self, ledger: Ledger, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="occurred_at"):
            establish_with(ledger, occurred_at=T0.replace(tzinfo=None))

    def test_late_recording_is_accepted_and_visible(
        self, ledger: Ledger, clock: FixedClock
    ) -> None:
        establish(ledger)
        clock.advance(days=3)
        ledger.register_agency(
            partnership=PARTNERSHIP,
            recorded_by=LA,
            agency="school",
            name="School",
            kind="school",
            role="relevant_agency",
            occurred_at=T0,
        )
        fact = ledger.events.get(aggregate_id(PARTNERSHIP, "partnership", PARTNERSHIP), desc=True)
        last = next(iter(fact)).fact  # type: ignore[attr-defined]
        assert last.occurred_at == T0
        assert last.recorded_at == T0 + timedelta(days=3)


class TestTheAggregateOnItsOwn:
    def test_when_ignores_facts_of_other_aggregates_so_replay_never_fails(self) -> None:
        fact = PartnershipEstablished(
            occurred_at=T0,
            recorded_at=T0,
            recorded_by=RecordedBy(agency="la", actor="act_sw00042"),
            source=Source(kind="case_record"),  # type: ignore[arg-type]
            name="Northshire",
            nation=Nation.ENGLAND,
            escalation_stages=[],
        )
        partnership = Partnership.open(aggregate_id(PARTNERSHIP, "partnership", PARTNERSHIP), fact)
        assert isinstance(partnership, Partnership)
        before = partnership.state()
        partnership.when(fact)  # a fact it already applied: state is simply set again
        assert partnership.state() == before
        assert partnership.max_stage == 0
