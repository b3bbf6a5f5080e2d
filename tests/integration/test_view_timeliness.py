"""The timeliness view, on SQLite and PostgreSQL: clocks against statutory timescales."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from ledger_scenario import CASE, CHILD, LA, PARTNERSHIP, POLICE, FixedClock
from views_support import catch_up, demo_ledger

from ledger.application import Ledger
from projections._store import ViewStore
from projections.clocks import load_rules
from projections.errors import InvalidViewQuery
from projections.timeliness import TimelinessView


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at("2026-03-30", 8))


@pytest.fixture
def ledger(clock: FixedClock) -> Ledger:
    return demo_ledger(clock, CASE, joined=["police"])


def act(
    ledger: Ledger,
    clock: FixedClock,
    day: str,
    action: str,
    *,
    by: dict[str, str] = LA,
    case: str = CASE,
    **extra: str,
) -> None:
    clock.now = at(day, 17)
    ledger.record_action(
        partnership=PARTNERSHIP,
        case=case,
        recorded_by=by,
        action=action,
        occurred_at=at(day),
        **extra,
    )


class TestStatutoryClocks:
    def test_a_referral_decision_across_easter_is_late_by_working_days(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        # Thursday 2 April 2026; 1 working day is Tuesday 7 April (Good Friday, Easter Monday).
        act(ledger, clock, "2026-04-02", "referral_received")
        act(ledger, clock, "2026-04-09", "referral_decision", outcome="section47")
        view = TimelinessView(view_store)
        catch_up(ledger, view_store, view)
        [clock_row] = view.clocks(PARTNERSHIP, as_of=date(2026, 5, 1), rule="referral_decision")
        assert clock_row.due == date(2026, 4, 7)
        assert (clock_row.status, clock_row.days_late) == ("late", 2)
        assert clock_row.agency == "la"

    def test_an_open_clock_is_overdue_only_as_of_a_date_after_its_due_day(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        act(ledger, clock, "2026-04-02", "referral_received")
        view = TimelinessView(view_store)
        catch_up(ledger, view_store, view)
        on_due = view.clocks(PARTNERSHIP, as_of=date(2026, 4, 7), rule="referral_decision")
        after = view.clocks(PARTNERSHIP, as_of=date(2026, 4, 8), rule="referral_decision")
        assert [(c.status, c.days_late) for c in on_due] == [("open", 0)]
        assert [(c.status, c.days_late) for c in after] == [("overdue", 1)]
        assert view.clocks(PARTNERSHIP, as_of=date(2026, 4, 1)) == []

    def test_a_second_start_while_open_does_not_restart_the_clock(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        act(ledger, clock, "2026-03-30", "referral_received")
        act(ledger, clock, "2026-04-01", "referral_received")
        act(ledger, clock, "2026-04-01", "referral_decision", outcome="early_help")
        view = TimelinessView(view_store)
        catch_up(ledger, view_store, view)
        rows = view.clocks(PARTNERSHIP, as_of=date(2026, 5, 1), rule="referral_decision")
        assert [(r.started_on, r.status, r.days_late) for r in rows] == [
            (date(2026, 3, 30), "late", 1)
        ]

    def test_a_review_conference_closes_the_first_review_clock_and_opens_the_next(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        act(ledger, clock, "2026-01-30", "initial_conference")
        act(ledger, clock, "2026-04-30", "review_conference")
        view = TimelinessView(view_store)
        catch_up(ledger, view_store, view)
        rows = {r.rule: r for r in view.clocks(PARTNERSHIP, as_of=date(2026, 11, 1))}
        assert rows["first_review_conference"].due == date(2026, 4, 30)
        assert rows["first_review_conference"].status == "on_time"
        assert rows["later_review_conference"].due == date(2026, 10, 30)
        assert (
            rows["later_review_conference"].status,
            rows["later_review_conference"].days_late,
        ) == ("overdue", 2)

    def test_performance_counts_per_agency_and_rule(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        ledger.open_case(
            partnership=PARTNERSHIP,
            case="c-2",
            recorded_by=LA,
            children=[{"child": CHILD, "age_band": "5_9"}],
        )
        act(ledger, clock, "2026-04-02", "referral_received")
        act(ledger, clock, "2026-04-07", "referral_decision", outcome="section17")
        act(ledger, clock, "2026-04-13", "referral_received", case="c-2")
        act(ledger, clock, "2026-04-20", "referral_decision", case="c-2", outcome="section17")
        view = TimelinessView(view_store)
        catch_up(ledger, view_store, view)
        perf = {
            (p.agency, p.rule): p for p in view.performance(PARTNERSHIP, as_of=date(2026, 5, 1))
        }
        referral = perf[("la", "referral_decision")]
        assert (referral.on_time, referral.late, referral.max_days_late) == (1, 1, 4)
        assessment = perf[("la", "assessment")]
        assert (assessment.open, assessment.overdue) == (2, 0)

    def test_a_partnership_rule_file_adds_a_local_timescale(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore, tmp_path: Path
    ) -> None:
        local = tmp_path / "rules.toml"
        local.write_text(
            '[[rule]]\nname = "home_visit_after_referral"\ntitle = "Home visit"\n'
            'start = [{ event = "ActionRecorded", where = { action = "referral_received" } }]\n'
            'stop = [{ event = "ActionRecorded", where = { action = "home_visit" } }]\n'
            'limit = 2\nunit = "calendar_days"\nnations = ["england"]\n'
        )
        act(ledger, clock, "2026-04-02", "referral_received")
        act(ledger, clock, "2026-04-05", "home_visit", by=POLICE)
        view = TimelinessView(view_store, rules=load_rules(local))
        catch_up(ledger, view_store, view)
        [row] = view.clocks(PARTNERSHIP, as_of=date(2026, 5, 1), rule="home_visit_after_referral")
        assert (row.due, row.status, row.days_late) == (date(2026, 4, 4), "late", 1)

    def test_an_unknown_rule_is_refused_naming_the_field(self, view_store: ViewStore) -> None:
        view = TimelinessView(view_store)
        with pytest.raises(InvalidViewQuery, match="not a timescale rule") as info:
            view.clocks(PARTNERSHIP, as_of=date(2026, 5, 1), rule="nope")
        assert info.value.field == "rule"


class TestClocksThatStopApplyingOrRestart:
    def test_a_serious_incident_notification_opens_and_closes_its_clock_at_once(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        clock.now = at("2026-04-10", 17)
        ledger.notify_serious_incident(
            partnership=PARTNERSHIP,
            review="rv-1",
            recorded_by=LA,
            child=CHILD,
            incident="serious_harm",
            became_aware_at=at("2026-04-01"),  # Wednesday; 5 working days: Friday 10 April
            notified_panel_at=at("2026-04-10"),
        )
        view = TimelinessView(view_store)
        catch_up(ledger, view_store, view)
        [row] = view.clocks(
            PARTNERSHIP, as_of=date(2026, 6, 1), rule="serious_incident_notification"
        )
        assert (row.due, row.stopped_on, row.status) == (
            date(2026, 4, 10),
            date(2026, 4, 10),
            "on_time",
        )
        [rapid] = view.clocks(PARTNERSHIP, as_of=date(2026, 4, 10), rule="rapid_review")
        assert rapid.status == "open"

    def test_no_assessment_is_owed_after_a_referral_decided_as_no_further_action(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        act(ledger, clock, "2026-04-13", "referral_received")
        act(ledger, clock, "2026-04-14", "referral_decision", outcome="no_further_action")
        view = TimelinessView(view_store)
        catch_up(ledger, view_store, view)
        rows = {r.rule: r for r in view.clocks(PARTNERSHIP, as_of=date(2026, 12, 1))}
        assert rows["referral_decision"].status == "on_time"
        assert rows["assessment"].status == "not_applicable"
        [perf] = [
            p
            for p in view.performance(PARTNERSHIP, as_of=date(2026, 12, 1))
            if p.rule == "assessment"
        ]
        assert (perf.overdue, perf.open, perf.not_applicable) == (0, 0, 1)

    def test_closing_a_case_ends_its_open_clocks_as_not_applicable(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        act(ledger, clock, "2026-04-13", "referral_received")
        clock.now = at("2026-04-20", 17)
        ledger.close_case(partnership=PARTNERSHIP, case=CASE, recorded_by=LA, reason="moved_area")
        view = TimelinessView(view_store)
        catch_up(ledger, view_store, view)
        statuses = {r.rule: r.status for r in view.clocks(PARTNERSHIP, as_of=date(2026, 12, 1))}
        assert statuses == {"referral_decision": "not_applicable", "assessment": "not_applicable"}
        # Before the closure, the referral decision was simply overdue.
        [before] = view.clocks(PARTNERSHIP, as_of=date(2026, 4, 16), rule="referral_decision")
        assert (before.status, before.days_late) == ("overdue", 2)

    def test_the_initial_conference_runs_from_the_last_strategy_discussion(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        act(ledger, clock, "2026-04-13", "strategy_discussion", outcome="section47")
        act(ledger, clock, "2026-04-20", "strategy_discussion", outcome="section47")
        act(ledger, clock, "2026-05-08", "initial_conference")
        view = TimelinessView(view_store)
        catch_up(ledger, view_store, view)
        [row] = view.clocks(PARTNERSHIP, as_of=date(2026, 6, 1), rule="initial_conference")
        # 15 working days from Monday 20 April, past the May Day bank holiday: Tuesday 12 May.
        assert (row.started_on, row.due, row.status) == (
            date(2026, 4, 20),
            date(2026, 5, 12),
            "on_time",
        )

    def test_a_decision_on_the_saturday_after_a_friday_due_day_is_late_by_one(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        act(ledger, clock, "2026-04-16", "referral_received")  # Thursday: due Friday 17th
        view = TimelinessView(view_store)
        catch_up(ledger, view_store, view)
        [saturday] = view.clocks(PARTNERSHIP, as_of=date(2026, 4, 18), rule="referral_decision")
        assert (saturday.status, saturday.days_late) == ("overdue", 1)
        act(ledger, clock, "2026-04-18", "referral_decision", outcome="section17")
        catch_up(ledger, view_store, view)
        [row] = view.clocks(PARTNERSHIP, as_of=date(2026, 5, 1), rule="referral_decision")
        assert (row.due, row.status, row.days_late) == (date(2026, 4, 17), "late", 1)

    def test_a_rejected_recommendation_owes_no_implementation(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        clock.now = at("2026-04-01", 17)
        ledger.notify_serious_incident(
            partnership=PARTNERSHIP,
            review="rv-1",
            recorded_by=LA,
            child=CHILD,
            incident="serious_harm",
            became_aware_at=at("2026-03-30"),
            notified_panel_at=at("2026-03-31"),
        )
        ledger.issue_recommendation(
            partnership=PARTNERSHIP,
            review="rv-1",
            recorded_by=LA,
            recommendation="r1",
            owner="police",
            due=date(2026, 5, 1),
            theme="information_sharing",
            text="t",
        )
        ledger.reject_recommendation(
            partnership=PARTNERSHIP,
            review="rv-1",
            recorded_by=POLICE,
            recommendation="r1",
            basis="b",
        )
        view = TimelinessView(view_store)
        catch_up(ledger, view_store, view)
        [row] = view.clocks(PARTNERSHIP, as_of=date(2026, 9, 1), rule="recommendation")
        assert (row.agency, row.due, row.status) == ("police", date(2026, 5, 1), "not_applicable")


class TestLateRecordings:
    def test_a_referral_recorded_after_its_decision_is_still_paired_with_it(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        # The decision (Tuesday 14 April) reaches the ledger before the referral it
        # answers (Monday 13 April), which is recorded late, on the 20th.
        act(ledger, clock, "2026-04-14", "referral_decision", outcome="section17")
        clock.now = at("2026-04-20", 12)
        ledger.record_action(
            partnership=PARTNERSHIP,
            case=CASE,
            recorded_by=LA,
            action="referral_received",
            occurred_at=at("2026-04-13"),
        )
        view = TimelinessView(view_store)
        catch_up(ledger, view_store, view)
        rows = {r.rule: r for r in view.clocks(PARTNERSHIP, as_of=date(2026, 6, 1))}
        decision = rows["referral_decision"]
        assert (decision.started_on, decision.stopped_on, decision.status) == (
            date(2026, 4, 13),
            date(2026, 4, 14),
            "on_time",
        )
        # The assessment's 45 working days also run from the 13th, not from the recording.
        assert (rows["assessment"].started_on, rows["assessment"].status) == (
            date(2026, 4, 13),
            "open",
        )
