"""Every rule of the case and challenge aggregates, by its stable code and the field it names.

The code (``RuleViolation.rule``) is what programs read (the CLI's exit message, the HTTP
problem type), so each rejection is held to its own code, not only to its field.
"""

from __future__ import annotations

import datetime as dt
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
    T0,
    Rejected,
    command,
)

from ledger.application import Ledger
from ledger.errors import InvalidCommand, RuleViolation
from schemas import (
    CaseOpened,
    ChallengeMatter,
    ChallengeOutcome,
    ChallengeRaised,
    ChallengeResolved,
    ChildSubject,
    RecordedBy,
    Source,
    SourceKind,
)

CHALLENGE = "d-1"
CHILDREN = [{"child": CHILD, "age_band": "5_9"}]
LINK = {"child": CHILD, "identifier_kind": "upn", "recorded_by": LA}
#: A step: the command's name and its arguments (the partnership is added).
Step = tuple[str, dict[str, Any]]


def on_case(**kwargs: Any) -> dict[str, Any]:
    return {"case": CASE, **kwargs}


def on_challenge(**kwargs: Any) -> dict[str, Any]:
    return {"challenge": CHALLENGE, **kwargs}


RAISE: Step = (
    "raise_challenge",
    on_challenge(recorded_by=LA, against_agency="police", matter="attendance", summary="Absent."),
)
REQUEST: Step = (
    "request_information",
    on_case(recorded_by=LA, request="rq-1", to_agency="police"),
)

CASE_RULES = [
    # (id, steps before, the step refused, field, rule code)
    (
        "opener registered",
        [],
        ("open_case", {"case": "c-2", "recorded_by": SCHOOL, "children": CHILDREN}),
        "recorded_by.agency",
        "registered_before_case",
    ),
    (
        "lead registered",
        [],
        (
            "open_case",
            {"case": "c-2", "recorded_by": LA, "lead_agency": "school", "children": CHILDREN},
        ),
        "lead_agency",
        "registered_before_case",
    ),
    (
        "lead opens",
        [],
        (
            "open_case",
            {"case": "c-2", "recorded_by": LA, "lead_agency": "police", "children": CHILDREN},
        ),
        "lead_agency",
        "lead_opens",
    ),
    (
        "children distinct",
        [],
        ("open_case", {"case": "c-2", "recorded_by": LA, "children": CHILDREN * 2}),
        "children",
        "distinct_children",
    ),
    (
        "a party records",
        [("open_case", {"case": "c-2", "recorded_by": LA, "children": CHILDREN})],
        ("record_action", {"case": "c-2", "recorded_by": POLICE, "action": "home_visit"}),
        "recorded_by.agency",
        "party_records",
    ),
    (
        "not closed",
        [("close_case", on_case(recorded_by=LA, reason="other"))],
        ("record_action", on_case(recorded_by=LA, action="home_visit")),
        "case",
        "case_not_closed",
    ),
    (
        "joiner registered",
        [],
        ("join_case", on_case(recorded_by=LA, agency="school")),
        "agency",
        "registered_before_case",
    ),
    (
        "join once",
        [],
        ("join_case", on_case(recorded_by=LA, agency="police")),
        "agency",
        "join_once",
    ),
    (
        "leave if party",
        [("leave_case", on_case(recorded_by=LA, agency="police"))],
        ("leave_case", on_case(recorded_by=LA, agency="police")),
        "agency",
        "leave_if_party",
    ),
    (
        "lead stays",
        [],
        ("leave_case", on_case(recorded_by=LA, agency="la")),
        "agency",
        "lead_stays",
    ),
    (
        "child of case",
        [],
        ("record_action", on_case(recorded_by=LA, action="child_seen", child=LINKED)),
        "child",
        "child_of_case",
    ),
    (
        "link distinct",
        [],
        ("link_child_identifier", on_case(linked=CHILD, **LINK)),
        "linked",
        "link_distinct",
    ),
    (
        "link once",
        [("link_child_identifier", on_case(linked=LINKED, **LINK))],
        ("link_child_identifier", on_case(linked=LINKED, **LINK)),
        "linked",
        "link_once",
    ),
    (
        "unlink linked",
        [],
        ("unlink_child_identifier", on_case(linked=LINKED, **LINK)),
        "linked",
        "unlink_linked",
    ),
    ("request unique", [REQUEST], REQUEST, "request", "unique_request"),
    (
        "request to a party",
        [],
        ("request_information", on_case(recorded_by=LA, request="rq-1", to_agency="school")),
        "to_agency",
        "request_between_parties",
    ),
    (
        "request to another party",
        [],
        ("request_information", on_case(recorded_by=LA, request="rq-1", to_agency="la")),
        "to_agency",
        "request_between_parties",
    ),
    (
        "answer an open request",
        [],
        ("provide_information", on_case(recorded_by=POLICE, request="rq-1")),
        "request",
        "answer_open_request",
    ),
    (
        "answer once",
        [REQUEST, ("provide_information", on_case(recorded_by=POLICE, request="rq-1"))],
        ("provide_information", on_case(recorded_by=POLICE, request="rq-1")),
        "request",
        "answer_open_request",
    ),
    (
        "request from a party",
        [],
        (
            "request_information",
            on_case(recorded_by=LA, request="rq-1", from_agency="school", to_agency="police"),
        ),
        "from_agency",
        "request_between_parties",
    ),
    (
        "the addressee answers",
        [REQUEST],
        ("provide_information", on_case(recorded_by=HEALTH, request="rq-1")),
        "by_agency",
        "addressee_answers",
    ),
    (
        "refuser is a party",
        [],
        (
            "refuse_cooperation",
            on_case(
                recorded_by=LA,
                agency="school",
                kind="information_withheld",
                basis="no_stated_basis",
            ),
        ),
        "agency",
        "refuser_is_party",
    ),
    (
        "refused request addressed to the refuser",
        [REQUEST],
        (
            "refuse_cooperation",
            on_case(
                recorded_by=HEALTH,
                agency="health",
                kind="request_not_answered",
                basis="no_stated_basis",
                request="rq-1",
            ),
        ),
        "request",
        "refused_request",
    ),
    (
        "concern unique",
        [("raise_concern", on_case(recorded_by=LA, concern="con-1", kind="neglect"))],
        ("raise_concern", on_case(recorded_by=LA, concern="con-1", kind="neglect")),
        "concern",
        "unique_concern",
    ),
    (
        "not in the future",
        [],
        (
            "record_action",
            on_case(recorded_by=LA, action="home_visit", occurred_at=T0 + dt.timedelta(hours=1)),
        ),
        "occurred_at",
        "occurred_not_in_future",
    ),
]

CHALLENGE_RULES = [
    (
        "raiser's recorder registered",
        [],
        ("raise_challenge", {**RAISE[1], "recorded_by": SCHOOL}),
        "recorded_by.agency",
        "registered_before_challenge",
    ),
    (
        "raiser registered",
        [],
        ("raise_challenge", {**RAISE[1], "by_agency": "school"}),
        "by_agency",
        "registered_before_challenge",
    ),
    (
        "challenged registered",
        [],
        ("raise_challenge", {**RAISE[1], "against_agency": "school"}),
        "against_agency",
        "registered_before_challenge",
    ),
    (
        "another agency",
        [],
        ("raise_challenge", {**RAISE[1], "against_agency": "la"}),
        "against_agency",
        "challenge_another_agency",
    ),
    (
        "a configured stage",
        [],
        ("raise_challenge", {**RAISE[1], "stage": 4}),
        "stage",
        "stage_configured",
    ),
    (
        "a later recorder registered",
        [RAISE],
        ("withdraw_challenge", on_challenge(recorded_by=SCHOOL, by_agency="la")),
        "recorded_by.agency",
        "registered_before_challenge",
    ),
    (
        "still open",
        [RAISE, ("resolve_challenge", on_challenge(recorded_by=LA, outcome="upheld"))],
        ("respond_to_challenge", on_challenge(recorded_by=POLICE, stage=1, response="Noted.")),
        "challenge",
        "challenge_open",
    ),
    (
        "the challenged responds",
        [RAISE],
        ("respond_to_challenge", on_challenge(recorded_by=HEALTH, stage=1, response="Noted.")),
        "by_agency",
        "challenged_responds",
    ),
    (
        "a response at the current stage",
        [RAISE],
        ("respond_to_challenge", on_challenge(recorded_by=POLICE, stage=2, response="Noted.")),
        "stage",
        "respond_current_stage",
    ),
    (
        "escalate to a later stage",
        [RAISE],
        ("escalate_challenge", on_challenge(recorded_by=LA, to_stage=1)),
        "to_stage",
        "escalate_up",
    ),
    (
        "escalate no further than the last stage",
        [RAISE],
        ("escalate_challenge", on_challenge(recorded_by=LA, to_stage=4)),
        "to_stage",
        "escalate_up",
    ),
    (
        "escalated by a party",
        [RAISE],
        ("escalate_challenge", on_challenge(recorded_by=HEALTH, to_stage=2)),
        "by_agency",
        "escalated_by_party",
    ),
    (
        "the raiser withdraws",
        [RAISE],
        ("withdraw_challenge", on_challenge(recorded_by=POLICE)),
        "by_agency",
        "raiser_withdraws",
    ),
]


#: What each rejection says is wrong with the value: between the field and the rule.
PROBLEMS = {
    "opener registered": "'school' is not registered in partnership 'northshire'",
    "lead registered": "'school' is not registered in partnership 'northshire'",
    "lead opens": "'police' is not the opening agency 'la'",
    "children distinct": "lists the same child token more than once",
    "a party records": "'police' is not a party to case 'c-2'",
    "not closed": "'c-1' is closed",
    "joiner registered": "'school' is not registered in partnership 'northshire'",
    "join once": "'police' is already a party to case 'c-1'",
    "leave if party": "'police' is not a party to case 'c-1'",
    "lead stays": "'la' leads case 'c-1'",
    "child of case": "is not a child of case 'c-1'",
    "link distinct": "is the same token as child",
    "link once": "is already linked to child",
    "unlink linked": "is not linked to child",
    "request unique": "'rq-1' was already made on case 'c-1'",
    "request to a party": "'school' is not a party to case 'c-1'",
    "request to another party": "'la' is also the requesting agency",
    "answer an open request": "'rq-1' was never made on case 'c-1'",
    "answer once": "'rq-1' was already answered on case 'c-1'",
    "request from a party": "'school' is not a party to case 'c-1'",
    "the addressee answers": "'health' is not the agency request 'rq-1' was addressed to",
    "refuser is a party": "'school' is not a party to case 'c-1'",
    "refused request addressed to the refuser": "'rq-1' is not an open request to agency 'health'",
    "concern unique": "'con-1' is already raised on case 'c-1'",
    "not in the future": (
        "2026-03-02T10:00:00+00:00 is later than recorded_at 2026-03-02T09:00:00+00:00 "
        "by more than 5 minutes"
    ),
    "raiser's recorder registered": "'school' is not registered in partnership 'northshire'",
    "raiser registered": "'school' is not registered in partnership 'northshire'",
    "challenged registered": "'school' is not registered in partnership 'northshire'",
    "another agency": "'la' is also the agency raising the challenge",
    "a configured stage": "4 is not a stage of partnership 'northshire' (stages 1 to 3)",
    "a later recorder registered": "'school' is not registered in partnership 'northshire'",
    "still open": "'d-1' is resolved",
    "the challenged responds": "'health' is not the agency challenged 'police'",
    "a response at the current stage": "2 is not the current stage 1",
    "escalate to a later stage": "1 is not after the current stage 1",
    "escalate no further than the last stage": (
        "4 is beyond the last stage 3 of partnership 'northshire'"
    ),
    "escalated by a party": "'health' is neither the raising nor the challenged agency",
    "the raiser withdraws": "'police' did not raise challenge 'd-1'",
}


@pytest.mark.parametrize(
    ("before", "refused", "field", "rule", "problem"),
    [pytest.param(*row[1:], PROBLEMS[row[0]], id=row[0]) for row in CASE_RULES + CHALLENGE_RULES],
)
def test_each_rule_is_refused_with_its_own_code_and_field(
    ledger: Ledger,
    case: str,
    rejected: Rejected,
    before: list[Step],
    refused: Step,
    field: str,
    rule: str,
    problem: str,
) -> None:
    for name, kwargs in before:
        command(ledger, name, **kwargs)
    with rejected(RuleViolation, field=field) as info:
        command(ledger, refused[0], **refused[1])
    assert isinstance(info.value, RuleViolation)
    assert info.value.rule == rule
    assert str(info.value).startswith(f"{field} {problem} (")  # field, problem, then the rule
    assert str(info.value).endswith(")")


def _recorded() -> dict[str, Any]:
    return {
        "occurred_at": T0,
        "recorded_at": T0,
        "recorded_by": RecordedBy(agency="la", actor="act_sw00042"),
        "source": Source(kind=SourceKind.CASE_RECORD),
    }


class TestWhatAnAggregateDoesNotTake:
    def test_a_case_is_not_opened_twice_by_its_own_check(self, ledger: Ledger, case: str) -> None:
        opening = CaseOpened(
            **_recorded(), lead_agency="la", children=[ChildSubject(child=CHILD, age_band="5_9")]
        )
        found, party = ledger.get_case(PARTNERSHIP, CASE), ledger.get_partnership(PARTNERSHIP)
        with pytest.raises(RuleViolation, match=r"^case 'c-1' is already open") as info:
            found.check(opening, party)
        assert (info.value.field, info.value.rule) == ("case", "case_opened_once")

    def test_a_case_takes_no_event_of_another_aggregate(self, ledger: Ledger, case: str) -> None:
        foreign = ChallengeResolved(**_recorded(), outcome=ChallengeOutcome.UPHELD)
        found, party = ledger.get_case(PARTNERSHIP, CASE), ledger.get_partnership(PARTNERSHIP)
        with pytest.raises(InvalidCommand) as info:
            found.check(foreign, party)
        assert info.value.field == "type"
        assert str(info.value) == "type 'ChallengeResolved' is not an event of a case"

    def test_a_challenge_is_not_raised_twice_by_its_own_check(
        self, ledger: Ledger, partnership: str
    ) -> None:
        command(ledger, RAISE[0], **RAISE[1])
        raising = ChallengeRaised(
            **_recorded(),
            by_agency="la",
            against_agency="police",
            matter=ChallengeMatter.ATTENDANCE,
            summary="Absent.",
        )
        found = ledger.get_challenge(PARTNERSHIP, CHALLENGE)
        with pytest.raises(RuleViolation, match=r"^challenge 'd-1' is already raised") as info:
            found.check(raising, ledger.get_partnership(PARTNERSHIP))
        assert (info.value.field, info.value.rule) == ("challenge", "challenge_raised_once")

    def test_a_challenge_takes_no_event_of_another_aggregate(
        self, ledger: Ledger, partnership: str
    ) -> None:
        command(ledger, RAISE[0], **RAISE[1])
        foreign = CaseOpened(
            **_recorded(), lead_agency="la", children=[ChildSubject(child=CHILD, age_band="5_9")]
        )
        found = ledger.get_challenge(PARTNERSHIP, CHALLENGE)
        with pytest.raises(InvalidCommand) as info:
            found.check(foreign, ledger.get_partnership(PARTNERSHIP))
        assert info.value.field == "type"
        assert str(info.value) == "type 'CaseOpened' is not an event of a challenge"


class TestStateAsPlainData:
    def test_a_case_s_state_names_everything_it_knows(self, ledger: Ledger, case: str) -> None:
        command(ledger, "link_child_identifier", **on_case(linked=LINKED, **LINK))
        command(ledger, REQUEST[0], **REQUEST[1])
        command(ledger, "raise_concern", **on_case(recorded_by=LA, concern="con-1", kind="neglect"))
        command(ledger, "leave_case", **on_case(recorded_by=LA, agency="health"))
        assert ledger.get_case(PARTNERSHIP, CASE).state() == {
            "version": 7,
            "lead_agency": "la",
            "parties": ["la", "police"],
            "children": {CHILD: "5_9", "ch_fedcba9876543210": "1_4"},
            "links": [(CHILD, LINKED)],
            "requests": {"rq-1": "police"},
            "open_requests": ["rq-1"],
            "concerns": ["con-1"],
            "closed": False,
        }

    def test_a_challenge_about_no_case_names_none(self, ledger: Ledger, partnership: str) -> None:
        command(ledger, RAISE[0], **RAISE[1])
        state = ledger.get_challenge(PARTNERSHIP, CHALLENGE).state()
        assert (state["case"], state["stage"], state["status"]) == (None, 1, "open")

    def test_a_challenge_s_state_names_everything_it_knows(self, ledger: Ledger, case: str) -> None:
        command(ledger, RAISE[0], **{**RAISE[1], "case": CASE, "stage": 2})
        command(ledger, "resolve_challenge", **on_challenge(recorded_by=LA, outcome="upheld"))
        assert ledger.get_challenge(PARTNERSHIP, CHALLENGE).state() == {
            "version": 2,
            "by_agency": "la",
            "against_agency": "police",
            "matter": ChallengeMatter.ATTENDANCE,
            "case": CASE,
            "stage": 2,
            "status": "resolved",
            "outcome": ChallengeOutcome.UPHELD,
        }
