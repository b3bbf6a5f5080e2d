"""The case aggregate: who may open and record on a case, its parties, children and requests."""

from __future__ import annotations

from typing import Any

import pytest
from ledger_scenario import (
    CASE,
    CHILD,
    HEALTH,
    LA,
    LINKED,
    PARTNERSHIP,
    POLICE,
    SCHOOL,
    SIBLING,
    Rejected,
    command,
)

from ledger.application import Ledger
from ledger.errors import AggregateNotFound, InvalidCommand, RuleViolation

CHILDREN = [{"child": CHILD, "age_band": "5_9"}]


def on_case(ledger: Ledger, name: str, **kwargs: Any) -> Any:
    """Run the case command ``name`` on the demo case."""
    return command(ledger, name, case=CASE, **kwargs)


class TestOpeningACase:
    def test_the_opening_agency_becomes_the_lead_party(
        self, ledger: Ledger, partnership: str
    ) -> None:
        receipt = ledger.open_case(
            partnership=partnership, case="c-2", recorded_by=POLICE, children=CHILDREN
        )
        case = ledger.get_case(partnership, "c-2")
        assert receipt.version == 1
        assert case.lead_agency == "police"
        assert case.parties == {"police"}
        assert case.knows_child(CHILD)

    def test_an_unregistered_agency_cannot_open_a_case(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(
            RuleViolation, field="recorded_by.agency", match="'school' is not registered"
        ):
            ledger.open_case(
                partnership=partnership, case="c-2", recorded_by=SCHOOL, children=CHILDREN
            )

    def test_the_lead_agency_must_be_the_opening_agency(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="lead_agency", match="lead party"):
            ledger.open_case(
                partnership=partnership,
                case="c-2",
                recorded_by=LA,
                lead_agency="police",
                children=CHILDREN,
            )

    def test_an_unregistered_lead_agency_is_rejected(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="lead_agency", match="'school' is not registered"):
            ledger.open_case(
                partnership=partnership,
                case="c-2",
                recorded_by=LA,
                lead_agency="school",
                children=CHILDREN,
            )

    def test_opening_a_case_that_exists_is_rejected(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="case", match="'c-1' already exists"):
            on_case(ledger, "open_case", recorded_by=LA, children=CHILDREN)

    def test_a_case_in_an_unknown_partnership_is_not_found(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(AggregateNotFound, match="partnership 'southshire' does not exist"):
            ledger.open_case(
                partnership="southshire", case="c-2", recorded_by=LA, children=CHILDREN
            )

    def test_a_name_where_a_child_reference_belongs_is_rejected(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="children[0].child", match="never a name") as info:
            ledger.open_case(
                partnership=partnership,
                case="c-2",
                recorded_by=LA,
                children=[{"child": "Jane Smith", "age_band": "5_9"}],
            )
        assert "Jane" not in str(info.value)

    def test_the_same_child_listed_twice_is_rejected(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="children"):
            ledger.open_case(
                partnership=partnership, case="c-2", recorded_by=LA, children=CHILDREN * 2
            )

    @pytest.mark.parametrize(
        ("children", "field"),
        [([], "children"), ([{"child": CHILD, "age_band": "teen"}], "children[0].age_band")],
    )
    def test_malformed_children_are_rejected(
        self,
        ledger: Ledger,
        partnership: str,
        rejected: Rejected,
        children: list[dict[str, str]],
        field: str,
    ) -> None:
        with rejected(InvalidCommand, field=field):
            ledger.open_case(partnership=partnership, case="c-2", recorded_by=LA, children=children)


class TestWhoRecordsOnACase:
    def test_an_agency_that_is_not_a_party_cannot_record(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        ledger.open_case(partnership=partnership, case=CASE, recorded_by=LA, children=CHILDREN)
        with rejected(RuleViolation, field="recorded_by.agency") as info:
            on_case(ledger, "record_action", recorded_by=POLICE, action="home_visit")
        assert str(info.value) == (
            "recorded_by.agency 'police' is not a party to case 'c-1' "
            "(only an agency party to a case records on it)"
        )
        assert info.value.rule == "party_records"  # type: ignore[attr-defined]

    def test_a_registered_agency_joins_and_then_records(
        self, ledger: Ledger, partnership: str
    ) -> None:
        ledger.open_case(partnership=partnership, case=CASE, recorded_by=LA, children=CHILDREN)
        on_case(ledger, "join_case", recorded_by=LA, agency="police", role="investigating")
        receipt = on_case(ledger, "record_action", recorded_by=POLICE, action="strategy_discussion")
        assert (receipt.event_type, receipt.version) == ("ActionRecorded", 3)

    def test_an_unregistered_agency_cannot_join(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="agency", match="'school' is not registered"):
            on_case(ledger, "join_case", recorded_by=LA, agency="school")

    def test_a_party_cannot_join_again(self, ledger: Ledger, case: str, rejected: Rejected) -> None:
        with rejected(RuleViolation, field="agency", match="already a party"):
            on_case(ledger, "join_case", recorded_by=LA, agency="police")

    def test_an_agency_that_left_no_longer_records(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        on_case(ledger, "leave_case", recorded_by=POLICE, agency="police", reason="NFA for police")
        assert not ledger.get_case(PARTNERSHIP, CASE).is_party("police")
        with rejected(RuleViolation, field="recorded_by.agency"):
            on_case(ledger, "record_action", recorded_by=POLICE, action="home_visit")

    def test_an_agency_that_is_not_a_party_cannot_leave(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        on_case(ledger, "leave_case", recorded_by=LA, agency="health")
        with rejected(RuleViolation, field="agency", match="not a party"):
            on_case(ledger, "leave_case", recorded_by=LA, agency="health")

    def test_the_lead_agency_cannot_leave(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="agency", match="lead agency cannot leave"):
            on_case(ledger, "leave_case", recorded_by=LA, agency="la")

    def test_an_unknown_case_is_not_found(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(AggregateNotFound, match="case 'c-404' does not exist"):
            command(ledger, "record_action", case="c-404", recorded_by=LA, action="home_visit")


class TestChildIdentifiers:
    def test_tokens_are_linked_and_unlinked(self, ledger: Ledger, case: str) -> None:
        on_case(
            ledger,
            "link_child_identifier",
            recorded_by=HEALTH,
            child=CHILD,
            linked=LINKED,
            identifier_kind="nhs_number",
        )
        assert ledger.get_case(PARTNERSHIP, CASE).knows_child(LINKED)
        on_case(ledger, "record_action", recorded_by=HEALTH, action="child_seen", child=LINKED)
        on_case(
            ledger,
            "unlink_child_identifier",
            recorded_by=HEALTH,
            child=LINKED,
            linked=CHILD,
            identifier_kind="nhs_number",
            reason="different child",
        )
        assert not ledger.get_case(PARTNERSHIP, CASE).knows_child(LINKED)

    @pytest.mark.parametrize(
        ("child", "linked"), [(CHILD, LINKED), (LINKED, CHILD)], ids=["as linked", "reversed"]
    )
    def test_tokens_are_unlinked_whichever_way_round_they_are_named(
        self, ledger: Ledger, case: str, child: str, linked: str
    ) -> None:
        link = {"recorded_by": HEALTH, "identifier_kind": "nhs_number"}
        on_case(ledger, "link_child_identifier", child=CHILD, linked=LINKED, **link)
        on_case(ledger, "unlink_child_identifier", child=child, linked=linked, **link)
        found = ledger.get_case(PARTNERSHIP, CASE)
        assert found.state()["links"] == []
        assert not found.knows_child(LINKED)
        # Unlinked, the pair may be linked again, and either way round.
        on_case(ledger, "link_child_identifier", child=CHILD, linked=LINKED, **link)
        assert ledger.get_case(PARTNERSHIP, CASE).state()["links"] == [(CHILD, LINKED)]

    def test_a_token_is_linked_only_to_a_child_of_the_case(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="child", match="not a child of case 'c-1'") as info:
            on_case(
                ledger,
                "link_child_identifier",
                recorded_by=LA,
                child=LINKED,
                linked=CHILD,
                identifier_kind="upn",
            )
        assert LINKED not in str(info.value)

    @pytest.mark.parametrize("linked", [CHILD, SIBLING])
    def test_a_token_is_not_linked_to_itself_or_twice(
        self, ledger: Ledger, case: str, rejected: Rejected, linked: str
    ) -> None:
        link = {"child": CHILD, "identifier_kind": "upn", "recorded_by": LA}
        if linked == SIBLING:
            on_case(ledger, "link_child_identifier", linked=SIBLING, **link)
        with rejected(RuleViolation, field="linked"):
            on_case(ledger, "link_child_identifier", linked=linked, **link)

    def test_only_linked_tokens_are_unlinked(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="linked", match="not linked"):
            on_case(
                ledger,
                "unlink_child_identifier",
                recorded_by=LA,
                child=CHILD,
                linked=SIBLING,
                identifier_kind="upn",
            )

    def test_an_unknown_identifier_is_recorded_only_for_a_child_of_the_case(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        on_case(ledger, "record_unknown_identifier", recorded_by=LA, child=CHILD, reason="unborn")
        with rejected(RuleViolation, field="child"):
            on_case(
                ledger, "record_unknown_identifier", recorded_by=LA, child=LINKED, reason="unborn"
            )


class TestActions:
    def test_an_action_about_a_child_of_the_case_is_recorded(
        self, ledger: Ledger, case: str
    ) -> None:
        receipt = on_case(
            ledger,
            "record_action",
            recorded_by=LA,
            action="child_seen",
            child=CHILD,
            seen=True,
            seen_alone=False,
            note="Seen at school with the DSL present.",
        )
        assert receipt.version == 4

    def test_an_action_about_another_child_is_rejected(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="child"):
            on_case(ledger, "record_action", recorded_by=LA, action="child_seen", child=LINKED)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("action", "tea_with_family"),
            ("seen", "yes"),
            ("note", "x" * 2001),
            ("child", "Jane Smith"),
            ("outcome", 3),
        ],
    )
    def test_a_malformed_action_is_rejected_naming_the_field(
        self, ledger: Ledger, case: str, rejected: Rejected, field: str, value: object
    ) -> None:
        fields: dict[str, object] = {"action": "home_visit", field: value}
        with rejected(InvalidCommand, field=field):
            on_case(ledger, "record_action", recorded_by=LA, **fields)

    def test_a_name_where_an_actor_reference_belongs_is_rejected(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="recorded_by.actor") as info:
            on_case(
                ledger,
                "record_action",
                recorded_by={"agency": "la", "actor": "Jane Smith"},
                action="home_visit",
            )
        assert "Jane" not in str(info.value)


class TestInformationRequests:
    def test_the_addressee_answers_an_open_request(self, ledger: Ledger, case: str) -> None:
        on_case(ledger, "request_information", recorded_by=LA, request="r1", to_agency="health")
        assert ledger.get_case(PARTNERSHIP, CASE).open_requests == {"r1"}
        on_case(ledger, "provide_information", recorded_by=HEALTH, request="r1")
        assert ledger.get_case(PARTNERSHIP, CASE).open_requests == set()

    def test_information_is_requested_only_from_a_party(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="to_agency", match="'school' is not a party"):
            on_case(ledger, "request_information", recorded_by=LA, request="r1", to_agency="school")

    def test_an_agency_does_not_request_from_itself(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="to_agency"):
            on_case(ledger, "request_information", recorded_by=LA, request="r1", to_agency="la")

    def test_a_request_id_is_used_once(self, ledger: Ledger, case: str, rejected: Rejected) -> None:
        on_case(ledger, "request_information", recorded_by=LA, request="r1", to_agency="health")
        with rejected(RuleViolation, field="request", match="already made"):
            on_case(ledger, "request_information", recorded_by=LA, request="r1", to_agency="police")

    def test_an_answer_to_a_request_never_made_is_rejected(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="request", match="never made"):
            on_case(ledger, "provide_information", recorded_by=HEALTH, request="r9")

    def test_a_request_is_answered_once(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        on_case(ledger, "request_information", recorded_by=LA, request="r1", to_agency="health")
        on_case(ledger, "provide_information", recorded_by=HEALTH, request="r1")
        with rejected(RuleViolation, field="request", match="already answered"):
            on_case(ledger, "provide_information", recorded_by=HEALTH, request="r1")

    def test_only_the_addressee_answers(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        on_case(ledger, "request_information", recorded_by=LA, request="r1", to_agency="health")
        with rejected(RuleViolation, field="by_agency", match="'police' is not the agency"):
            on_case(ledger, "provide_information", recorded_by=POLICE, request="r1")


class TestRefusals:
    def test_a_refusal_names_a_party_with_its_basis(self, ledger: Ledger, case: str) -> None:
        on_case(ledger, "request_information", recorded_by=LA, request="r1", to_agency="health")
        receipt = on_case(
            ledger,
            "refuse_cooperation",
            recorded_by=HEALTH,
            agency="health",
            kind="information_withheld",
            basis="more_detrimental_to_child",
            request="r1",
        )
        assert receipt.event_type == "CooperationRefused"

    def test_a_refusal_naming_an_agency_that_is_not_a_party_is_rejected(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="agency", match="'school' is not a party"):
            on_case(
                ledger,
                "refuse_cooperation",
                recorded_by=LA,
                agency="school",
                kind="meeting_not_attended",
                basis="no_stated_basis",
            )

    def test_a_refusal_of_a_request_addressed_elsewhere_is_rejected(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        on_case(ledger, "request_information", recorded_by=LA, request="r1", to_agency="health")
        with rejected(RuleViolation, field="request"):
            on_case(
                ledger,
                "refuse_cooperation",
                recorded_by=LA,
                agency="police",
                kind="request_not_answered",
                basis="no_stated_basis",
                request="r1",
            )

    def test_a_refusal_without_a_basis_is_malformed(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="basis"):
            on_case(
                ledger,
                "refuse_cooperation",
                recorded_by=LA,
                agency="police",
                kind="report_not_provided",
                basis=None,
            )


class TestConcernsAndClosure:
    def test_a_concern_id_is_raised_once(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        on_case(ledger, "raise_concern", recorded_by=POLICE, concern="k1", kind="neglect")
        with rejected(RuleViolation, field="concern"):
            on_case(ledger, "raise_concern", recorded_by=POLICE, concern="k1", kind="neglect")

    def test_a_late_recording_is_explained(self, ledger: Ledger, case: str) -> None:
        receipt = on_case(
            ledger,
            "explain_late_recording",
            recorded_by=LA,
            event_sequence=5,
            reason="System outage over the weekend.",
        )
        assert receipt.event_type == "LateRecordingExplained"

    @pytest.mark.parametrize(
        ("name", "fields"),
        [
            ("record_action", {"action": "home_visit"}),
            ("join_case", {"agency": "police"}),
            ("close_case", {"reason": "other"}),
            ("raise_concern", {"concern": "k2", "kind": "neglect"}),
        ],
    )
    def test_a_closed_case_takes_no_more_events(
        self, ledger: Ledger, case: str, rejected: Rejected, name: str, fields: dict[str, str]
    ) -> None:
        on_case(ledger, "close_case", recorded_by=LA, reason="no_further_action")
        assert ledger.get_case(PARTNERSHIP, CASE).closed
        with rejected(RuleViolation, field="case", match="'c-1' is closed"):
            on_case(ledger, name, recorded_by=LA, **fields)
