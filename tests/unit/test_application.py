"""The application service: receipts, defaults, bad input, reads, logging, and replay.

The cache's behaviour has its own module, ``test_application_cache.py``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import structlog
from eventsourcing.persistence import Notification
from eventsourcing.popo import POPOApplicationRecorder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_scenario import (
    CASE,
    CHILD,
    HEALTH,
    LA,
    PARTNERSHIP,
    T0,
    FixedClock,
    LedgerOn,
    Rejected,
    written,
)
from replay_scenario import OPERATIONS, live_states, play

import schemas
from ledger._aggregate import LedgerMapper
from ledger.application import Ledger, Receipt
from ledger.errors import AggregateNotFound, InvalidCommand
from schemas import RecordedBy, Source, SourceKind


def demo(ledger: Ledger, clock: FixedClock) -> list[Receipt]:
    """The demo scenario, one command after another."""
    p = {"partnership": PARTNERSHIP}
    receipts = [
        ledger.establish_partnership(
            **p,
            recorded_by=LA,
            name="Northshire Safeguarding Children Partnership",
            nation="england",
            escalation_stages=[
                {"stage": 1, "title": "Practitioners", "response_working_days": 5},
                {"stage": 2, "title": "Managers", "response_working_days": 5},
            ],
        )
    ]
    for agency, kind in (("la", "local_authority"), ("police", "police"), ("health", "health")):
        receipts.append(
            ledger.register_agency(
                **p, recorded_by=LA, agency=agency, name=agency, kind=kind, role="statutory_partner"
            )
        )
    c = {**p, "case": CASE}
    receipts += [
        ledger.open_case(**c, recorded_by=LA, children=[{"child": CHILD, "age_band": "1_4"}]),
        ledger.join_case(**c, recorded_by=LA, agency="health"),
        ledger.record_action(
            **c, recorded_by=LA, action="referral_received", source={"kind": "referral_form"}
        ),
        ledger.request_information(**c, recorded_by=LA, request="rq-1", to_agency="health"),
    ]
    clock.advance(days=6)
    receipts.append(
        ledger.refuse_cooperation(
            **c,
            recorded_by=HEALTH,
            agency="health",
            kind="information_withheld",
            basis="consent_not_given",
            request="rq-1",
        )
    )
    d = {**p, "challenge": "d-1"}
    receipts += [
        ledger.raise_challenge(
            **d,
            recorded_by=LA,
            against_agency="health",
            matter="information_sharing",
            case=CASE,
            summary="Health withheld the health visitor's records.",
        ),
        ledger.escalate_challenge(**d, recorded_by=LA, to_stage=2),
        ledger.respond_to_challenge(
            **d, recorded_by=HEALTH, stage=2, response="Records will be shared."
        ),
        ledger.resolve_challenge(**d, recorded_by=LA, outcome="upheld"),
    ]
    return receipts


class TestTheDemoScenario:
    def test_every_command_returns_a_receipt_in_ledger_order(
        self, ledger: Ledger, clock: FixedClock
    ) -> None:
        receipts = demo(ledger, clock)

        assert [r.sequence for r in receipts] == list(range(1, len(receipts) + 1))
        assert receipts[4] == Receipt(
            aggregate_id="northshire.case.c-1",
            version=1,
            sequence=5,
            event_type="CaseOpened",
            recorded_at=T0,
        )
        assert [r.event_type for r in receipts[-4:]] == [
            "ChallengeRaised",
            "ChallengeEscalated",
            "ChallengeResponded",
            "ChallengeResolved",
        ]
        assert receipts[-1].version == 4
        assert receipts[-1].recorded_at == T0 + timedelta(days=6)
        assert written(ledger) == len(receipts)

    def test_the_case_chronology_replays_the_facts_as_recorded(
        self, ledger: Ledger, clock: FixedClock
    ) -> None:
        demo(ledger, clock)
        chronology = ledger.case_events(PARTNERSHIP, CASE)
        assert [version for version, _ in chronology] == [1, 2, 3, 4, 5]
        assert [schemas.tag_of(type(fact)) for _, fact in chronology] == [
            "CaseOpened",
            "AgencyJoinedCase",
            "ActionRecorded",
            "InformationRequested",
            "CooperationRefused",
        ]
        referral = chronology[2][1]
        assert referral.source == Source(kind=SourceKind.REFERRAL_FORM)
        assert referral.recorded_by == RecordedBy(agency="la", actor=LA["actor"])

    def test_the_store_holds_schema_json_under_the_event_tag(
        self, ledger: Ledger, clock: FixedClock
    ) -> None:
        demo(ledger, clock)
        notifications: list[Notification] = list(ledger.recorder.select_notifications(None, 100))
        assert isinstance(ledger.mapper, LedgerMapper)
        for notification in notifications:
            fact = schemas.decode_event(notification.state)
            assert schemas.tag_of(type(fact)) == notification.topic


class TestDefaults:
    def test_the_ledger_caches_without_fast_forward_or_deep_copy(self, ledger: Ledger) -> None:
        assert ledger.repository.cache is not None
        assert not ledger.repository.fastforward
        assert not ledger.repository.deepcopy_from_cache

    def test_source_defaults_to_the_case_record_and_occurred_at_to_now(
        self, ledger: Ledger, case: str
    ) -> None:
        ledger.record_action(partnership=PARTNERSHIP, case=case, recorded_by=LA, action="other")
        _, fact = ledger.case_events(PARTNERSHIP, case)[-1]
        assert fact.source == Source(kind=SourceKind.CASE_RECORD)
        assert fact.occurred_at == fact.recorded_at == T0

    def test_recorded_by_may_be_a_struct(self, ledger: Ledger, case: str) -> None:
        receipt = ledger.record_action(
            partnership=PARTNERSHIP,
            case=case,
            recorded_by=RecordedBy(agency="police", actor="act_pc01234"),
            action="home_visit",
        )
        assert receipt.version == 4


class TestBadInput:
    def test_a_command_in_an_unknown_partnership_is_not_found(
        self, ledger: Ledger, rejected: Rejected
    ) -> None:
        with rejected(AggregateNotFound, match="partnership 'northshire' does not exist"):
            ledger.open_case(
                partnership=PARTNERSHIP,
                case=CASE,
                recorded_by=LA,
                children=[{"child": CHILD, "age_band": "5_9"}],
            )

    @pytest.mark.parametrize(
        ("recorded_by", "field"),
        [
            ({"agency": "la"}, "recorded_by.actor"),
            ({"actor": "act_sw00042"}, "recorded_by.agency"),
            ({"agency": "LA Children's Services", "actor": "act_sw00042"}, "recorded_by.agency"),
            (42, "recorded_by"),
        ],
    )
    def test_a_malformed_recorder_is_rejected(
        self, ledger: Ledger, case: str, rejected: Rejected, recorded_by: Any, field: str
    ) -> None:
        with rejected(InvalidCommand, field=field):
            ledger.record_action(
                partnership=PARTNERSHIP, case=case, recorded_by=recorded_by, action="home_visit"
            )

    @pytest.mark.parametrize("case_id", ["Jane Smith", "", "c.1", 7])
    def test_a_case_id_that_is_not_a_safe_token_is_rejected(
        self, ledger: Ledger, partnership: str, rejected: Rejected, case_id: Any
    ) -> None:
        with rejected(InvalidCommand, field="case") as info:
            ledger.open_case(
                partnership=partnership,
                case=case_id,
                recorded_by=LA,
                children=[{"child": CHILD, "age_band": "5_9"}],
            )
        assert "Jane" not in str(info.value)

    def test_a_required_field_given_as_none_is_missing(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="name", match="required field is missing"):
            ledger.register_agency(
                partnership=partnership,
                recorded_by=LA,
                agency="school",
                name=None,  # type: ignore[arg-type]
                kind="school",
                role="relevant_agency",
            )

    def test_an_unknown_source_kind_is_rejected(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="source.kind"):
            ledger.record_action(
                partnership=PARTNERSHIP,
                case=case,
                recorded_by=LA,
                action="home_visit",
                source={"kind": "rumour"},
            )

    def test_a_value_that_cannot_be_encoded_is_rejected(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, match="cannot be encoded"):
            ledger.record_action(
                partnership=PARTNERSHIP,
                case=case,
                recorded_by=LA,
                action=object(),  # type: ignore[arg-type]
            )

    def test_errors_chain_the_original(self, ledger: Ledger, case: str) -> None:
        with pytest.raises(InvalidCommand) as info:
            ledger.record_action(partnership=PARTNERSHIP, case=case, recorded_by=LA, action="x")
        assert isinstance(info.value.__cause__, schemas.InvalidEvent)


class TestReads:
    def test_reading_an_unknown_aggregate_is_not_found(
        self, ledger: Ledger, partnership: str
    ) -> None:
        for read in (ledger.get_case, ledger.get_challenge, ledger.get_review, ledger.case_events):
            with pytest.raises(AggregateNotFound, match="'x-1' does not exist"):
                read(PARTNERSHIP, "x-1")  # type: ignore[operator]
        with pytest.raises(AggregateNotFound):
            ledger.get_partnership("southshire")

    def test_reading_with_an_unsafe_id_is_invalid(self, ledger: Ledger) -> None:
        with pytest.raises(InvalidCommand, match="case"):
            ledger.get_case(PARTNERSHIP, "Jane Smith")


class TestLogging:
    def test_each_recorded_event_is_logged_without_free_text_or_child_references(
        self, ledger: Ledger, case: str
    ) -> None:
        with structlog.testing.capture_logs() as logs:
            receipt = ledger.record_action(
                partnership=PARTNERSHIP,
                case=case,
                recorded_by=LA,
                action="child_seen",
                child=CHILD,
                note="Seen alone in her bedroom.",
            )
        assert logs == [
            {
                "event": "event_recorded",
                "log_level": "info",
                "partnership": PARTNERSHIP,
                "case": CASE,
                "agency": "la",
                "event_type": "ActionRecorded",
                "seq": receipt.sequence,
                "version": receipt.version,
            }
        ]


class TestReplay:
    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(operations=st.lists(OPERATIONS, min_size=10, max_size=40))
    def test_replaying_the_stored_events_gives_the_live_state(
        self, operations: list[tuple[str, dict[str, Any]]]
    ) -> None:
        clock = FixedClock()
        recorder = POPOApplicationRecorder()
        live = LedgerOn(recorder, clock)
        receipts = play(live, clock, operations)
        sequences = [receipt.sequence for receipt in receipts]
        assert sequences == sorted(set(sequences))
        assert written(live) == 4 + len(receipts)
        fresh = LedgerOn(recorder, clock)
        assert live_states(fresh) == live_states(live)


class TestErrorsCarryNoPersonalData:
    def test_a_refused_value_appears_nowhere_in_the_error_or_its_chain(
        self, ledger: Ledger, case: str
    ) -> None:
        with pytest.raises(InvalidCommand) as info:
            ledger.record_action(
                partnership=PARTNERSHIP,
                case=case,
                recorded_by=LA,
                action="saw Jane Smith",
            )
        chain: list[BaseException] = []
        error: BaseException | None = info.value
        while error is not None:
            chain.append(error)
            error = error.__cause__ or error.__context__
        assert all("Jane" not in str(e) for e in chain), [str(e) for e in chain]
        assert "action" in str(info.value)
