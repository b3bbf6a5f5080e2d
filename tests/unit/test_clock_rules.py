"""Unit tests of the clock rules: the packaged table, partnership files, validation, matching."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from clock_support import CHILD, T0, T1, a_rule, action, common, rules_file

from projections.calendar import calendar_for
from projections.clocks import (
    ClockStart,
    ClockStop,
    RuleSet,
    decode_rules,
    due_for,
    limit_for,
    load_rules,
)
from projections.errors import InvalidRules
from schemas import (
    ActionKind,
    ActionOutcome,
    ConcernKind,
    ConcernRaised,
    IncidentKind,
    Nation,
    RapidReviewCompleted,
    RapidReviewDecision,
    RecommendationImplemented,
    RecommendationIssued,
    ReviewCommissioned,
    ReviewLevel,
    ReviewPublished,
    SeriousIncidentNotified,
    Theme,
)

ENGLAND, WALES = Nation.ENGLAND, Nation.WALES


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules()


class TestPackagedRules:
    def test_the_packaged_rules_load_with_every_statutory_timescale(self, rules: RuleSet) -> None:
        table = {rule.name: (rule.limit, rule.unit) for rule in rules.rules}
        assert table == {
            "referral_decision": (1, "working_days"),
            "assessment": (45, "working_days"),
            "strategy_discussion": (
                "partnership:strategy_discussion_working_days",
                "working_days",
            ),
            "initial_conference": (15, "working_days"),
            "first_review_conference": (3, "calendar_months"),
            "later_review_conference": (6, "calendar_months"),
            "serious_incident_notification": (5, "working_days"),
            "rapid_review": (15, "working_days"),
            "local_practice_review": (6, "calendar_months"),
            "recommendation": ("event:due", "calendar_days"),
        }

    def test_the_national_panel_rules_apply_in_england_only(self, rules: RuleSet) -> None:
        nations = {rule.name: set(rule.nations) for rule in rules.rules}
        assert nations.pop("serious_incident_notification") == {ENGLAND}
        assert nations.pop("rapid_review") == {ENGLAND}
        assert all(found == {ENGLAND, WALES} for found in nations.values())

    def test_every_packaged_rule_cites_its_source(self, rules: RuleSet) -> None:
        assert all(rule.note for rule in rules.rules)

    def test_a_rule_is_found_by_name_and_an_unknown_name_is_a_lookup_error(
        self, rules: RuleSet
    ) -> None:
        assert rules.rule("assessment").limit == 45
        with pytest.raises(KeyError, match="no_such_rule"):
            rules.rule("no_such_rule")


class TestPartnershipRules:
    def test_a_partnership_file_adds_a_rule_and_replaces_one_by_name(self, tmp_path: Path) -> None:
        local = tmp_path / "local.toml"
        shorter = a_rule(
            name="assessment",
            title="Assessment (local: 35 days)",
            start=[{"event": "ActionRecorded", "where": {"action": "referral_received"}}],
            stop=[{"event": "ActionRecorded", "where": {"action": "assessment_completed"}}],
            key=None,
            responsible="recorder",
            limit=35,
        )
        local.write_text(rules_file(a_rule(), shorter))

        names = [rule.name for rule in load_rules().rules]
        merged = load_rules(local)

        assert [rule.name for rule in merged.rules] == [*names, "information_request"]
        assert merged.rule("assessment").limit == 35
        assert merged.rule("information_request").key == "request"

    def test_a_missing_partnership_file_is_invalid_rules_naming_the_path(
        self, tmp_path: Path
    ) -> None:
        missing = tmp_path / "nowhere.toml"
        with pytest.raises(InvalidRules, match="cannot read the rules file") as info:
            load_rules(missing)
        assert str(missing) in str(info.value)

    def test_an_error_in_a_partnership_file_names_that_file(self, tmp_path: Path) -> None:
        local = tmp_path / "local.toml"
        local.write_text(rules_file(a_rule(limit=0)))
        with pytest.raises(InvalidRules) as info:
            load_rules(local)
        assert info.value.field == "rule[0].limit"
        assert str(local) in str(info.value)


class TestValidation:
    @pytest.mark.parametrize(
        ("rule", "field", "problem"),
        [
            pytest.param(
                a_rule(start=[{"event": "InfoAsked"}]),
                "rule[0].start[0].event",
                "no event type 'InfoAsked'",
                id="unknown event type",
            ),
            pytest.param(
                a_rule(start=[{"event": "InformationRequested", "where": {"colour": "red"}}]),
                "rule[0].start[0].where.colour",
                "has no field 'colour'",
                id="where on a field the event lacks",
            ),
            pytest.param(
                a_rule(stop=[{"event": "ActionRecorded", "where": {"action": "referal"}}]),
                "rule[0].stop[0].where.action",
                "can never equal 'referal'",
                id="where on an enum value that does not exist",
            ),
            pytest.param(
                a_rule(stop=[{"event": "ActionRecorded", "where": {"seen": 1}}]),
                "rule[0].stop[0].where.seen",
                "can never equal 1",
                id="where with a number for a bool",
            ),
            pytest.param(
                a_rule(stop=[{"event": "InformationProvided", "where": {"note": "x"}}]),
                "rule[0].stop[0].where.note",
                "can never equal",
                id="where on free text",
            ),
            pytest.param(
                a_rule(stop=[{"event": "InformationProvided", "at": "provided_at"}]),
                "rule[0].stop[0].at",
                "no instant field 'provided_at'",
                id="at on a field the event lacks",
            ),
            pytest.param(
                a_rule(key="concern"),
                "rule[0].key",
                "no identifier field 'concern'",
                id="key the events lack",
            ),
            pytest.param(
                a_rule(responsible="owner"),
                "rule[0].responsible",
                "no agency field 'owner'",
                id="responsible field the start event lacks",
            ),
            pytest.param(
                a_rule(limit="ten"),
                "rule[0].limit",
                '"partnership:<setting>"',
                id="limit string of no known form",
            ),
            pytest.param(
                a_rule(limit="partnership:nap_time"),
                "rule[0].limit",
                "no partnership setting 'nap_time'",
                id="unknown partnership setting",
            ),
            pytest.param(
                a_rule(limit="event:due_by"),
                "rule[0].unit",
                'must be "calendar_days"',
                id="event limit counted in working days",
            ),
            pytest.param(
                a_rule(limit="event:request", unit="calendar_days"),
                "rule[0].limit",
                "no date field 'request'",
                id="event limit on a field that is not a date",
            ),
            pytest.param(a_rule(limit=0), "rule[0].limit", "positive number", id="zero limit"),
            pytest.param(
                a_rule(limit=True), "rule[0].limit", "Expected `int | str`", id="bool limit"
            ),
            pytest.param(a_rule(nations=[]), "rule[0].nations", "length >= 1", id="no nations"),
            pytest.param(
                a_rule(nations=["scotland"]),
                "rule[0].nations[0]",
                "Invalid enum value",
                id="unknown nation",
            ),
            pytest.param(
                a_rule(name="Information"),
                "rule[0].name",
                "matching regex",
                id="name not in lower snake case",
            ),
            pytest.param(
                a_rule(unit="weeks"), "rule[0].unit", "Invalid enum value", id="unknown unit"
            ),
            pytest.param(
                a_rule(start=[{"event": "InformationRequested", "when": "x"}]),
                "rule[0].start[0].when",
                "unknown field `when`",
                id="unknown trigger field",
            ),
            pytest.param(a_rule(stop=[]), "rule[0].stop", "length >= 1", id="no stop trigger"),
        ],
    )
    def test_each_problem_is_invalid_rules_naming_its_field_and_the_rule(
        self, rule: dict[str, Any], field: str, problem: str
    ) -> None:
        with pytest.raises(InvalidRules) as info:
            decode_rules(rules_file(rule), source="local.toml")
        assert info.value.field == field
        message = str(info.value)
        assert field in message
        assert problem in message
        assert f"rule {rule['name']!r}" in message
        assert "local.toml" in message

    def test_a_second_rule_with_the_same_name_is_refused(self) -> None:
        with pytest.raises(InvalidRules, match="same name") as info:
            decode_rules(rules_file(a_rule(), a_rule()))
        assert info.value.field == "rule[1].name"

    def test_a_missing_required_field_is_named(self) -> None:
        rule = a_rule()
        del rule["title"]
        with pytest.raises(InvalidRules, match="missing required field") as info:
            decode_rules(rules_file(rule))
        assert info.value.field == "rule[0].title"

    def test_text_that_is_not_toml_is_invalid_rules_without_msgspec_s_error_chained(
        self,
    ) -> None:
        with pytest.raises(InvalidRules, match="not valid TOML") as info:
            decode_rules("[[rule]\nname =", source="local.toml")
        assert info.value.field is None
        assert info.value.__cause__ is None
        assert info.value.__context__ is None

    def test_a_validation_error_does_not_chain_msgspec_s_error(self) -> None:
        with pytest.raises(InvalidRules) as info:
            decode_rules(rules_file(a_rule(nations=[])))
        assert info.value.__cause__ is None
        assert info.value.__context__ is None


class TestMatching:
    def test_a_referral_starts_the_decision_and_assessment_clocks_for_the_recorder(
        self, rules: RuleSet
    ) -> None:
        starts = rules.starts(action(ActionKind.REFERRAL_RECEIVED), nation=ENGLAND)
        assert starts == [
            ClockStart(rule=rules.rule("referral_decision"), key="", at=T0, responsible="la"),
            ClockStart(rule=rules.rule("assessment"), key="", at=T0, responsible="la"),
        ]
        assert rules.stops(action(ActionKind.REFERRAL_RECEIVED), nation=ENGLAND) == []

    def test_a_referral_decision_stops_the_decision_clock(self, rules: RuleSet) -> None:
        stops = rules.stops(action(ActionKind.REFERRAL_DECISION, at=T1), nation=WALES)
        assert stops == [ClockStop(rule=rules.rule("referral_decision"), key="", at=T1)]

    def test_a_concern_of_significant_harm_starts_the_strategy_discussion_clock(
        self, rules: RuleSet
    ) -> None:
        def concern(kind: ConcernKind) -> ConcernRaised:
            return ConcernRaised(**common(agency="police"), concern="con-1", kind=kind)

        started = rules.starts(concern(ConcernKind.SIGNIFICANT_HARM), nation=ENGLAND)
        assert [(s.rule.name, s.responsible) for s in started] == [
            ("strategy_discussion", "police")
        ]
        assert rules.starts(concern(ConcernKind.NEGLECT), nation=ENGLAND) == []

    @pytest.mark.parametrize(
        ("outcome", "starts_conference"),
        [(ActionOutcome.SECTION47, True), (ActionOutcome.NO_FURTHER_ACTION, False)],
    )
    def test_a_where_on_an_enum_field_compares_its_value(
        self, rules: RuleSet, outcome: ActionOutcome, starts_conference: bool
    ) -> None:
        event = action(ActionKind.STRATEGY_DISCUSSION, outcome=outcome)
        names = [start.rule.name for start in rules.starts(event, nation=ENGLAND)]
        assert names == (["initial_conference"] if starts_conference else [])

    def test_a_where_on_an_unset_field_never_matches(self, rules: RuleSet) -> None:
        assert rules.starts(action(ActionKind.STRATEGY_DISCUSSION), nation=ENGLAND) == []

    def test_a_where_on_a_bool_field_needs_a_bool(self) -> None:
        seen = decode_rules(
            rules_file(
                a_rule(
                    start=[{"event": "ActionRecorded", "where": {"seen": True}}],
                    stop=[{"event": "ActionRecorded"}],
                    key=None,
                    responsible="recorder",
                )
            )
        )
        assert len(seen.starts(action(ActionKind.CHILD_SEEN, seen=True), nation=WALES)) == 1
        assert seen.starts(action(ActionKind.CHILD_SEEN, seen=False), nation=WALES) == []
        assert seen.starts(action(ActionKind.CHILD_SEEN), nation=WALES) == []

    def test_a_review_conference_stops_the_running_clock_and_starts_the_next(
        self, rules: RuleSet
    ) -> None:
        event = action(ActionKind.REVIEW_CONFERENCE)
        stopped = [stop.rule.name for stop in rules.stops(event, nation=ENGLAND)]
        started = [start.rule.name for start in rules.starts(event, nation=ENGLAND)]
        assert stopped == ["first_review_conference", "later_review_conference"]
        assert started == ["later_review_conference"]

    def test_the_at_field_times_the_start_and_stop(self, rules: RuleSet) -> None:
        aware = dt.datetime(2026, 4, 30, 16, 0, tzinfo=dt.UTC)
        notified = dt.datetime(2026, 5, 5, 11, 0, tzinfo=dt.UTC)
        event = SeriousIncidentNotified(
            **common(),
            child=CHILD,
            became_aware_at=aware,
            notified_panel_at=notified,
            incident=IncidentKind.SERIOUS_HARM,
        )
        starts = {s.rule.name: s.at for s in rules.starts(event, nation=ENGLAND)}
        stops = {s.rule.name: s.at for s in rules.stops(event, nation=ENGLAND)}
        # A rapid review runs from when the local authority became aware, as the notification does.
        assert starts == {"serious_incident_notification": aware, "rapid_review": aware}
        assert stops == {"serious_incident_notification": notified}

        done = dt.datetime(2026, 5, 20, 10, 0, tzinfo=dt.UTC)
        completed = RapidReviewCompleted(
            **common(), completed_at=done, decision=RapidReviewDecision.LOCAL_REVIEW
        )
        assert [(s.rule.name, s.at) for s in rules.stops(completed, nation=ENGLAND)] == [
            ("rapid_review", done)
        ]

    def test_rules_for_england_only_do_not_apply_in_wales(self, rules: RuleSet) -> None:
        event = SeriousIncidentNotified(
            **common(),
            child=CHILD,
            became_aware_at=T0,
            notified_panel_at=T1,
            incident=IncidentKind.DEATH,
        )
        assert rules.starts(event, nation=WALES) == []
        assert rules.stops(event, nation=WALES) == []

    def test_a_local_review_is_timed_from_its_commissioning(self, rules: RuleSet) -> None:
        commissioned = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)

        def review(level: ReviewLevel) -> ReviewCommissioned:
            return ReviewCommissioned(**common(), level=level, commissioned_at=commissioned)

        started = rules.starts(review(ReviewLevel.LOCAL), nation=WALES)
        assert [(s.rule.name, s.at) for s in started] == [("local_practice_review", commissioned)]
        assert rules.starts(review(ReviewLevel.NATIONAL), nation=WALES) == []
        published = ReviewPublished(**common(), published_at=T1)
        assert [s.rule.name for s in rules.stops(published, nation=WALES)] == [
            "local_practice_review"
        ]

    def test_a_recommendation_clock_is_keyed_and_answered_for_by_its_owner(
        self, rules: RuleSet
    ) -> None:
        issued = RecommendationIssued(
            **common(agency="la"),
            recommendation="r-1",
            owner="health",
            due=dt.date(2026, 9, 30),
            theme=Theme.INFORMATION_SHARING,
            text="Share discharge summaries within a day.",
        )
        implemented = RecommendationImplemented(
            **common(agency="health", at=T1), recommendation="r-1", by_agency="health"
        )
        rule = rules.rule("recommendation")
        assert rules.starts(issued, nation=ENGLAND) == [
            ClockStart(rule=rule, key="r-1", at=T0, responsible="health")
        ]
        assert rules.stops(implemented, nation=ENGLAND) == [ClockStop(rule=rule, key="r-1", at=T1)]


class TestLimits:
    def test_a_numeric_limit_is_itself(self, rules: RuleSet) -> None:
        assert limit_for(rules.rule("assessment"), action(ActionKind.REFERRAL_RECEIVED), {}) == 45

    def test_a_partnership_limit_is_the_partnership_s_setting(self, rules: RuleSet) -> None:
        rule = rules.rule("strategy_discussion")
        concern = ConcernRaised(**common(), concern="con-1", kind=ConcernKind.SIGNIFICANT_HARM)
        assert limit_for(rule, concern, {"strategy_discussion_working_days": 2}) == 2
        with pytest.raises(KeyError):
            limit_for(rule, concern, {})

    def test_an_event_limit_is_the_start_event_s_own_date(self, rules: RuleSet) -> None:
        issued = RecommendationIssued(
            **common(),
            recommendation="r-1",
            owner="health",
            due=dt.date(2026, 9, 30),
            theme=Theme.TIMELINESS,
            text="Answer within the timescale.",
        )
        start = rules.starts(issued, nation=ENGLAND)[0]
        calendar = calendar_for(ENGLAND)
        assert limit_for(start.rule, issued, {}) == dt.date(2026, 9, 30)
        assert due_for(start, issued, {}, calendar) == dt.date(2026, 9, 30)

    def test_the_due_date_of_a_working_day_clock_counts_from_the_london_date(
        self, rules: RuleSet
    ) -> None:
        # 23:30 UTC on Thursday 30 April 2026 is Friday 1 May in London; one working
        # day on skips the Early May bank holiday.
        referral = action(
            ActionKind.REFERRAL_RECEIVED, at=dt.datetime(2026, 4, 30, 23, 30, tzinfo=dt.UTC)
        )
        start = rules.starts(referral, nation=WALES)[0]
        assert start.rule.name == "referral_decision"
        assert due_for(start, referral, {}, calendar_for(WALES)) == dt.date(2026, 5, 5)


class TestNamesEndAtTheTrueEnd:
    """Python's ``$`` matches before a final newline; a rule's names must not."""

    def test_a_rule_name_with_a_trailing_newline_is_refused(self) -> None:
        with pytest.raises(InvalidRules) as info:
            decode_rules(rules_file(a_rule(name="information_request\n")))
        assert info.value.field == "rule[0].name"

    def test_a_limit_with_a_trailing_newline_is_refused(self) -> None:
        with pytest.raises(InvalidRules, match="limit"):
            decode_rules(rules_file(a_rule(limit="partnership:strategy_discussion_working_days\n")))
