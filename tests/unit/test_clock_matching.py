"""The clock rules that mutation testing found unheld: unset fields, several fitting
triggers, the responsible agency, personal data, ``where`` values, limits and cancels."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from clock_support import CHILD, T0, T1, a_rule, action, common, rules_file

from projections._partnerships import PartnershipFacts
from projections.calendar import calendar_for
from projections.clocks import (
    PARTNERSHIP_SETTINGS,
    ClockRule,
    ClockStart,
    ClockStop,
    RuleIndex,
    RuleSet,
    Trigger,
    decode_rules,
    due_for,
    limit_for,
    load_rules,
)
from projections.errors import InvalidRules
from schemas import (
    EVENT_TYPES,
    ActionKind,
    ActionOutcome,
    AgencyKeyRegistered,
    CaseClosed,
    CaseClosureReason,
    ChallengeMatter,
    ChallengeRaised,
    CooperationRefused,
    Event,
    IncidentKind,
    InformationRequested,
    Nation,
    PartnershipEstablished,
    RecommendationRejected,
    RefusalBasis,
    RefusalKind,
    SeriousIncidentNotified,
    personal_data_fields,
)

ENGLAND, WALES = Nation.ENGLAND, Nation.WALES
#: 23:30 UTC on Thursday 30 April 2026: Friday 1 May in London (summer time).
LATE_EVENING = dt.datetime(2026, 4, 30, 23, 30, tzinfo=dt.UTC)


def requested(*, to_agency: str = "police", **fields: Any) -> InformationRequested:
    return InformationRequested(
        **common(), request="rq-1", from_agency="la", to_agency=to_agency, **fields
    )


def refused(**fields: Any) -> CooperationRefused:
    return CooperationRefused(
        **common(agency="police"),
        agency="police",
        kind=RefusalKind.REQUEST_NOT_ANSWERED,
        basis=RefusalBasis.NO_STATED_BASIS,
        **fields,
    )


def challenge(stage: int = 1) -> ChallengeRaised:
    return ChallengeRaised(
        **common(),
        by_agency="la",
        against_agency="police",
        matter=ChallengeMatter.THRESHOLD_DECISION,
        stage=stage,
        summary="Threshold not met in our view.",
    )


def closed() -> CaseClosed:
    return CaseClosed(**common(at=T1), reason=CaseClosureReason.NO_FURTHER_ACTION)


def only(**overrides: Any) -> RuleSet:
    """The rule set of one local rule: :func:`a_rule` with ``overrides``."""
    return decode_rules(rules_file(a_rule(**overrides)))


def refusal(rule: dict[str, Any]) -> InvalidRules:
    with pytest.raises(InvalidRules) as info:
        decode_rules(rules_file(rule), source="local.toml")
    return info.value


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules()


class TestUnsetFields:
    def test_a_start_whose_at_field_is_unset_starts_no_clock(self) -> None:
        # A local escalation clock, run from a request's own due date when it has one.
        escalation = only(start=[{"event": "InformationRequested", "at": "due_by"}])
        assert escalation.starts(requested(), nation=ENGLAND) == []
        started = escalation.starts(requested(due_by=T1), nation=ENGLAND)
        assert [(s.key, s.at) for s in started] == [("rq-1", T1)]

    def test_a_start_whose_key_field_is_unset_starts_no_clock(self) -> None:
        follow_up = only(start=[{"event": "CooperationRefused"}], responsible="agency")
        assert follow_up.starts(refused(), nation=ENGLAND) == []
        assert [s.key for s in follow_up.starts(refused(request="rq-1"), nation=ENGLAND)] == [
            "rq-1"
        ]

    def test_a_stop_whose_key_field_is_unset_stops_no_clock(self) -> None:
        answered = only(stop=[{"event": "CooperationRefused"}])
        assert answered.stops(refused(), nation=ENGLAND) == []
        stops = answered.stops(refused(request="rq-1"), nation=ENGLAND)
        assert stops == [ClockStop(rule=answered.rule("information_request"), key="rq-1", at=T0)]


class TestSeveralFittingTriggers:
    def test_an_event_fitting_two_triggers_of_one_rule_counts_once_by_the_first(self) -> None:
        aware = dt.datetime(2026, 4, 28, 16, 0, tzinfo=dt.UTC)
        twice = decode_rules(
            rules_file(
                a_rule(
                    name="notified",
                    start=[
                        {"event": "SeriousIncidentNotified", "at": "became_aware_at"},
                        {"event": "SeriousIncidentNotified"},
                    ],
                    stop=[{"event": "RapidReviewCompleted", "at": "completed_at"}],
                    key=None,
                    responsible="recorder",
                ),
                a_rule(
                    name="later_rule",
                    start=[{"event": "SeriousIncidentNotified", "at": "notified_panel_at"}],
                    stop=[{"event": "RapidReviewCompleted", "at": "completed_at"}],
                    key=None,
                    responsible="recorder",
                ),
            )
        )
        event = SeriousIncidentNotified(
            **common(),
            child=CHILD,
            became_aware_at=aware,
            notified_panel_at=T1,
            incident=IncidentKind.DEATH,
        )
        for answer in (twice, RuleIndex(twice)):  # the index remembers: ask it twice
            for _ in range(2):
                started = answer.starts(event, nation=ENGLAND)
                assert [(s.rule.name, s.at) for s in started] == [
                    ("notified", aware),
                    ("later_rule", T1),
                ]

    def test_a_fitting_trigger_whose_at_is_unset_gives_way_to_the_next(self) -> None:
        either = only(
            start=[
                {"event": "InformationRequested", "at": "due_by"},
                {"event": "InformationRequested"},
            ]
        )
        assert [s.at for s in either.starts(requested(), nation=ENGLAND)] == [T0]
        assert [s.at for s in either.starts(requested(due_by=T1), nation=ENGLAND)] == [T1]


class TestResponsibleAgency:
    def test_the_agency_field_a_rule_names_answers_for_the_clock(self) -> None:
        started = only().starts(requested(to_agency="health"), nation=ENGLAND)
        assert [s.responsible for s in started] == ["health"]

    def test_the_recorder_answers_when_the_named_field_is_unset(self) -> None:
        # No event type has an optional agency field today, and the loader accepts only
        # agency fields, so the rule is built directly: the matcher never hands out an
        # unset agency, whatever rule it is given.
        rule = ClockRule(
            name="challenge_answered",
            title="Challenge answered",
            start=[Trigger(event="ChallengeRaised")],
            stop=[Trigger(event="ChallengeResponded")],
            limit=5,
            unit="working_days",
            nations=[ENGLAND],
            responsible="case",
        )
        rule_set = RuleSet(rules=[rule])
        unset = challenge()
        assert unset.case is msgspec.UNSET
        assert [s.responsible for s in rule_set.starts(unset, nation=ENGLAND)] == ["la"]

    @pytest.mark.parametrize("field", ["request", "from_agency_id", "due_by"])
    def test_a_field_that_is_not_an_agency_is_refused(self, field: str) -> None:
        error = refusal(a_rule(responsible=field))
        assert error.field == "rule[0].responsible"
        assert f"no agency field {field!r}" in str(error)

    def test_the_responsible_field_is_checked_on_every_start_event(self) -> None:
        error = refusal(
            a_rule(start=[{"event": "InformationRequested"}, {"event": "CooperationRefused"}])
        )
        assert error.field == "rule[0].responsible"
        assert "CooperationRefused has no agency field 'to_agency'" in str(error)


def _personal_text_fields() -> list[tuple[str, str]]:
    """Every (event type, top-level text field) that holds personal data."""
    found = []
    for tag, cls in EVENT_TYPES.items():
        for path in personal_data_fields(cls):
            if "." not in path and "[" not in path:
                found.append((tag, path))
    return found


class TestPersonalData:
    def test_every_event_type_has_its_personal_text_fields_listed(self) -> None:
        assert ("InformationRequested", "note") in _personal_text_fields()
        assert ("RecommendationIssued", "text") in _personal_text_fields()

    @pytest.mark.parametrize(("event", "field"), _personal_text_fields())
    def test_a_key_naming_personal_data_is_refused(self, event: str, field: str) -> None:
        error = refusal(a_rule(start=[{"event": event}], key=field, responsible="recorder"))
        assert error.field == "rule[0].key"
        assert f"{event}.{field} is personal data" in str(error)

    @pytest.mark.parametrize(("event", "field"), _personal_text_fields())
    def test_a_responsible_field_naming_personal_data_is_refused(
        self, event: str, field: str
    ) -> None:
        error = refusal(a_rule(start=[{"event": event}], key=None, responsible=field))
        assert error.field == "rule[0].responsible"
        assert f"{event}.{field} is personal data" in str(error)

    @pytest.mark.parametrize(("event", "field"), _personal_text_fields())
    def test_a_where_on_personal_data_is_refused(self, event: str, field: str) -> None:
        error = refusal(a_rule(cancel=[{"event": event, "where": {field: "x"}}]))
        assert error.field == f"rule[0].cancel[0].where.{field}"


class TestWhereValues:
    def test_a_where_on_a_literal_field_matches_its_value(self) -> None:
        keyed = only(
            start=[{"event": "AgencyKeyRegistered", "where": {"algorithm": "ed25519"}}],
            key=None,
            responsible="agency",
        )
        event = AgencyKeyRegistered(
            **common(), agency="police", key_id="k-1", algorithm="ed25519", public_key="x"
        )
        assert [s.responsible for s in keyed.starts(event, nation=ENGLAND)] == ["police"]

    @pytest.mark.parametrize("value", ["rsa", 25519, True])
    def test_a_where_value_a_literal_field_cannot_hold_is_refused(self, value: object) -> None:
        error = refusal(
            a_rule(start=[{"event": "AgencyKeyRegistered", "where": {"algorithm": value}}])
        )
        assert error.field == "rule[0].start[0].where.algorithm"
        assert "can never equal" in str(error)

    @pytest.mark.parametrize("stage", [1, 5], ids=["first", "last"])
    def test_a_where_on_an_integer_field_accepts_the_field_s_own_bounds(self, stage: int) -> None:
        bounded = only(cancel=[{"event": "ChallengeRaised", "where": {"stage": stage}}], key=None)
        assert bounded.rule("information_request").cancel[0].where == {"stage": stage}

    def test_a_where_on_an_integer_field_matches_that_number_only(self) -> None:
        second = only(
            start=[{"event": "ChallengeRaised", "where": {"stage": 2}}],
            stop=[{"event": "ChallengeResolved"}],
            key=None,
            responsible="against_agency",
        )
        assert [s.responsible for s in second.starts(challenge(2), nation=WALES)] == ["police"]
        assert second.starts(challenge(1), nation=WALES) == []
        assert second.starts(challenge(3), nation=WALES) == []

    @pytest.mark.parametrize(
        "value", ["2", True, 0, 6], ids=["text", "bool", "below bounds", "above bounds"]
    )
    def test_a_where_value_an_integer_field_cannot_hold_is_refused(self, value: object) -> None:
        error = refusal(a_rule(start=[{"event": "ChallengeRaised", "where": {"stage": value}}]))
        assert error.field == "rule[0].start[0].where.stage"
        assert "can never equal" in str(error)

    def test_a_where_on_an_identifier_field_matches_that_text_only(self) -> None:
        to_police = only(
            start=[{"event": "InformationRequested", "where": {"to_agency": "police"}}]
        )
        assert len(to_police.starts(requested(to_agency="police"), nation=ENGLAND)) == 1
        assert to_police.starts(requested(to_agency="health"), nation=ENGLAND) == []

    @pytest.mark.parametrize(
        "value", ["Police Dept", "", "p" * 65, 7], ids=["pattern", "empty", "too long", "number"]
    )
    def test_a_where_value_a_text_field_cannot_hold_is_refused(self, value: object) -> None:
        error = refusal(
            a_rule(start=[{"event": "InformationRequested", "where": {"to_agency": value}}])
        )
        assert error.field == "rule[0].start[0].where.to_agency"
        assert "can never equal" in str(error)

    @pytest.mark.parametrize("value", ["", "n" * 201], ids=["empty", "too long"])
    def test_a_where_value_longer_or_shorter_than_a_text_field_allows_is_refused(
        self, value: str
    ) -> None:
        error = refusal(a_rule(cancel=[{"event": "AgencyRegistered", "where": {"name": value}}]))
        assert error.field == "rule[0].cancel[0].where.name"
        assert "can never equal" in str(error)

    @pytest.mark.parametrize("name", ["n", "n" * 200], ids=["shortest", "longest"])
    def test_a_where_on_a_text_field_of_bounded_length_accepts_text_within_them(
        self, name: str
    ) -> None:
        named = only(cancel=[{"event": "AgencyRegistered", "where": {"name": name}}], key=None)
        assert named.rule("information_request").cancel[0].where == {"name": name}


class TestLimits:
    def test_the_partnership_settings_are_those_the_views_keep(self) -> None:
        established = PartnershipEstablished(
            **common(), name="Northshire", nation=ENGLAND, escalation_stages=[]
        )
        assert set(PartnershipFacts.of(established).settings) == set(PARTNERSHIP_SETTINGS)
        assert {"strategy_discussion_working_days"} == PARTNERSHIP_SETTINGS

    def test_a_partnership_limit_is_read_from_the_partnership_s_settings(self) -> None:
        local = only(limit="partnership:strategy_discussion_working_days")
        start = local.starts(requested(), nation=ENGLAND)[0]
        settings = {"strategy_discussion_working_days": 4}
        assert limit_for(start.rule, requested(), settings) == 4
        # Friday 1 May + 4 working days, skipping the Early May bank holiday: Friday 8 May.
        assert due_for(start, requested(), settings, calendar_for(ENGLAND)) == dt.date(2026, 5, 8)

    def test_an_event_limit_on_an_instant_is_its_london_date(self) -> None:
        local = only(limit="event:due_by", unit="calendar_days")
        event = requested(due_by=LATE_EVENING)
        start = local.starts(event, nation=ENGLAND)[0]
        assert limit_for(start.rule, event, {}) == dt.date(2026, 5, 1)
        assert due_for(start, event, {}, calendar_for(ENGLAND)) == dt.date(2026, 5, 1)

    def test_a_start_without_the_date_its_event_limit_names_starts_no_clock(self) -> None:
        # Otherwise the timeliness view would meet a start with no limit and stop.
        local = only(limit="event:due_by", unit="calendar_days")
        assert local.starts(requested(), nation=ENGLAND) == []
        assert local.stops(requested(), nation=ENGLAND) == []
        with pytest.raises(TypeError, match=r"^InformationRequested has no date 'due_by' for rule"):
            limit_for(local.rule("information_request"), requested(), {})

    def test_a_start_skipped_for_its_missing_date_leaves_the_next_rule_s_start(self) -> None:
        both = decode_rules(
            rules_file(
                a_rule(limit="event:due_by", unit="calendar_days"),
                a_rule(name="request_logged", limit=2),
            )
        )
        assert [s.rule.name for s in both.starts(requested(), nation=ENGLAND)] == ["request_logged"]

    @pytest.mark.parametrize(
        ("limit", "unit", "field", "problem"),
        [
            (
                "event:",
                "calendar_days",
                "limit",
                ': a limit is a number, "partnership:<setting>" or "event:<field>"',
            ),
            ("partnership:", "working_days", "limit", '"event:<field>"'),
            ("Event:due_by", "calendar_days", "limit", '"event:<field>"'),
            ("event:due_by ", "calendar_days", "limit", '"event:<field>"'),
            (
                "event:due_by",
                "calendar_months",
                "unit",
                ': an "event:" limit is a due date, so its unit must be "calendar_days"',
            ),
            ("event:due_by", "working_days", "unit", 'must be "calendar_days"'),
            ("event:note", "calendar_days", "limit", "no date field 'note'"),
            ("event:deadline", "calendar_days", "limit", "no date field 'deadline'"),
            (
                "partnership:nap_days",
                "working_days",
                "limit",
                "(known: strategy_discussion_working_days)",
            ),
            ("partnership:due_by", "working_days", "limit", "no partnership setting 'due_by'"),
            (-3, "working_days", "limit", ": a limit must be a positive number of days or months"),
        ],
    )
    def test_a_limit_of_no_known_form_is_refused(
        self, limit: object, unit: str, field: str, problem: str
    ) -> None:
        error = refusal(a_rule(limit=limit, unit=unit))
        assert error.field == f"rule[0].{field}"
        assert problem in str(error)

    def test_an_event_limit_is_looked_for_on_the_start_events_only(self) -> None:
        # InformationProvided, the stop, has no due date: it needs none.
        assert only(limit="event:due_by", unit="calendar_days").rule("information_request")


class TestCancels:
    def test_a_closed_case_cancels_every_clock_of_the_case(self, rules: RuleSet) -> None:
        cancelled = rules.cancels(closed(), nation=ENGLAND)
        assert [(c.rule.name, c.key, c.at) for c in cancelled] == [
            (name, "", T1)
            for name in (
                "referral_decision",
                "assessment",
                "strategy_discussion",
                "initial_conference",
                "first_review_conference",
                "later_review_conference",
            )
        ]
        assert rules.starts(closed(), nation=ENGLAND) == []
        assert rules.stops(closed(), nation=ENGLAND) == []

    @pytest.mark.parametrize(
        ("outcome", "cancelled"),
        [
            (ActionOutcome.EARLY_HELP, ["assessment"]),
            (ActionOutcome.NO_FURTHER_ACTION, ["assessment"]),
            (ActionOutcome.SECTION47, []),
            (None, []),
        ],
    )
    def test_a_referral_needing_no_assessment_cancels_the_assessment_clock(
        self, rules: RuleSet, outcome: ActionOutcome | None, cancelled: list[str]
    ) -> None:
        fields = {} if outcome is None else {"outcome": outcome}
        decision = action(ActionKind.REFERRAL_DECISION, **fields)
        assert [c.rule.name for c in rules.cancels(decision, nation=WALES)] == cancelled
        assert [s.rule.name for s in rules.stops(decision, nation=WALES)] == ["referral_decision"]

    def test_a_rejected_recommendation_cancels_its_own_clock(self, rules: RuleSet) -> None:
        rejected = RecommendationRejected(
            **common(agency="health", at=T1),
            recommendation="r-7",
            by_agency="health",
            basis="Already in place.",
        )
        assert rules.cancels(rejected, nation=ENGLAND) == [
            ClockStop(rule=rules.rule("recommendation"), key="r-7", at=T1)
        ]
        assert rules.stops(rejected, nation=ENGLAND) == []

    def test_an_ended_protection_plan_cancels_the_review_conference_clocks(
        self, rules: RuleSet
    ) -> None:
        ended = action(ActionKind.PROTECTION_PLAN_ENDED)
        assert [c.rule.name for c in rules.cancels(ended, nation=ENGLAND)] == [
            "first_review_conference",
            "later_review_conference",
        ]

    def test_a_cancel_applies_only_in_the_nations_of_its_rule(self) -> None:
        welsh = only(cancel=[{"event": "CaseClosed"}], key=None, nations=["wales"])
        assert len(welsh.cancels(closed(), nation=WALES)) == 1
        assert welsh.cancels(closed(), nation=ENGLAND) == []


def _sample_events() -> list[Event]:
    return [
        action(ActionKind.REFERRAL_RECEIVED),
        action(ActionKind.REFERRAL_DECISION, outcome=ActionOutcome.EARLY_HELP),
        action(ActionKind.REVIEW_CONFERENCE),
        action(ActionKind.HOME_VISIT),
        closed(),
        challenge(),
        SeriousIncidentNotified(
            **common(),
            child=CHILD,
            became_aware_at=T0,
            notified_panel_at=T1,
            incident=IncidentKind.DEATH,
        ),
    ]


class TestRuleIndex:
    @pytest.mark.parametrize("event", _sample_events(), ids=lambda e: type(e).__name__)
    @pytest.mark.parametrize("nation", [ENGLAND, WALES])
    def test_the_index_answers_as_the_rule_set_does(
        self, rules: RuleSet, event: Event, nation: Nation
    ) -> None:
        index = RuleIndex(rules)
        expected = (
            rules.starts(event, nation=nation),
            rules.stops(event, nation=nation),
            rules.cancels(event, nation=nation),
        )
        for _ in range(2):  # the second answer comes from the index's memory
            assert index.marks(event, nation=nation) == expected
            assert index.starts(event, nation=nation) == expected[0]
            assert index.stops(event, nation=nation) == expected[1]
            assert index.cancels(event, nation=nation) == expected[2]

    def test_the_index_knows_which_event_types_a_rule_names(self, rules: RuleSet) -> None:
        index = RuleIndex(rules)
        assert index.handles("CaseClosed")
        assert index.handles("RecommendationRejected")
        assert not index.handles("ChallengeRaised")
        assert index.marks(challenge(), nation=ENGLAND) == ([], [], [])

    def test_a_start_is_answered_for_by_its_recorder_by_default(self, rules: RuleSet) -> None:
        started = rules.starts(action(ActionKind.REFERRAL_RECEIVED), nation=ENGLAND)
        assert {s.responsible for s in started} == {"la"}
        assert all(isinstance(s, ClockStart) for s in started)


class TestErrorsNameWhereTheyAre:
    def test_a_rules_file_read_as_bytes_names_the_rule_in_error(self) -> None:
        with pytest.raises(InvalidRules) as info:
            decode_rules(rules_file(a_rule(nations=[])).encode(), source="local.toml")
        assert info.value.field == "rule[0].nations"
        assert "local.toml: rule[0].nations (rule 'information_request'): " in str(info.value)

    def test_a_rule_whose_name_is_not_text_is_not_named(self) -> None:
        with pytest.raises(InvalidRules) as info:
            decode_rules(rules_file(a_rule(name=5)))
        assert info.value.field == "rule[0].name"
        assert "(rule" not in str(info.value)

    @pytest.mark.parametrize(
        ("text", "field", "problem"),
        [
            ("rule = 5", "rule", "Expected `array`, got `int`"),
            ("[other]\nx = 1", "other", "unknown field `other`"),
        ],
    )
    def test_an_error_outside_any_rule_names_the_top_level_key(
        self, text: str, field: str, problem: str
    ) -> None:
        with pytest.raises(InvalidRules) as info:
            decode_rules(text)
        assert info.value.field == field
        assert str(info.value).startswith(f"invalid rules in rules: {field}: ")
        assert problem in str(info.value)
