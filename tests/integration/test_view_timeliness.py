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
