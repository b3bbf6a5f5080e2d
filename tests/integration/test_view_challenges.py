"""The challenge history view, on SQLite and on PostgreSQL: stages, working days, outcomes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from ledger_scenario import CASE, HEALTH, LA, PARTNERSHIP, POLICE, FixedClock, establish
from views_support import assert_rebuild_changes_nothing, assert_refused, catch_up, demo_ledger

from ledger.application import Ledger
from projections._store import ViewStore
from projections.challenges import ChallengeView, StageTiming

#: Wednesday 1 July 2026: every event below happened before the ledger's clock.
NOW = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


def at(month: int, day: int, hour: int = 9) -> datetime:
    """An instant in 2026 (09:00 UTC is 09:00 or 10:00 in London: the same day)."""
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def ledger(clock: FixedClock) -> Ledger:
    return demo_ledger(clock, CASE)  # England; stage limits 5, 5 and 10 working days


def raise_(
    ledger: Ledger,
    challenge: str,
    when: datetime,
    *,
    by: dict[str, str] = LA,
    against: str = "police",
    matter: str = "threshold_decision",
    **more: Any,
) -> None:
    ledger.raise_challenge(
        partnership=PARTNERSHIP,
        challenge=challenge,
        recorded_by=by,
        against_agency=against,
        matter=matter,
        summary="SENSITIVE summary of the disagreement",
        occurred_at=when,
        **more,
    )


def respond(
    ledger: Ledger, challenge: str, stage: int, when: datetime, by: dict[str, str] = POLICE
) -> None:
    ledger.respond_to_challenge(
        partnership=PARTNERSHIP,
        challenge=challenge,
        recorded_by=by,
        stage=stage,
        response="SENSITIVE response",
        occurred_at=when,
    )


def escalate(ledger: Ledger, challenge: str, to_stage: int, when: datetime) -> None:
    ledger.escalate_challenge(
        partnership=PARTNERSHIP,
        challenge=challenge,
        recorded_by=LA,
        to_stage=to_stage,
        reason="SENSITIVE reason",
        occurred_at=when,
    )


def escalated_to_stage_3(ledger: Ledger) -> None:
    """ch-1: la against police, raised on Maundy Thursday, through three stages, resolved."""
    raise_(ledger, "ch-1", at(4, 2), case=CASE)
    respond(ledger, "ch-1", 1, at(4, 8))  # Wed 8 April: 2 working days after Easter
    escalate(ledger, "ch-1", 2, at(4, 13))  # stage 2 due Mon 20 April
    escalate(ledger, "ch-1", 3, at(4, 22))  # stage 2 never answered: stopped 2 days late
    respond(ledger, "ch-1", 3, at(5, 6))  # 9 working days (4 May is a bank holiday)
    ledger.resolve_challenge(
        partnership=PARTNERSHIP,
        challenge="ch-1",
        recorded_by=LA,
        outcome="partially_upheld",
        note="SENSITIVE note",
        occurred_at=at(5, 11),
    )


def three_challenges(ledger: Ledger) -> None:
    """ch-1 resolved at stage 3; ch-3 withdrawn by health; ch-4 raised by police, unanswered."""
    escalated_to_stage_3(ledger)
    raise_(ledger, "ch-3", at(5, 5), by=HEALTH, against="la", matter="information_sharing")
    ledger.withdraw_challenge(
        partnership=PARTNERSHIP,
        challenge="ch-3",
        recorded_by=HEALTH,
        occurred_at=at(5, 7),
    )
    raise_(ledger, "ch-4", at(6, 1), by=POLICE, against="health", matter="attendance")


def history(ledger: Ledger, store: ViewStore, clock: FixedClock | None = None) -> ChallengeView:
    view = ChallengeView(store) if clock is None else ChallengeView(store, clock=clock)
    catch_up(ledger, store, view)
    return view


class TestStageTimes:
    def test_a_challenge_escalated_to_stage_3_is_timed_per_stage_in_working_days(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        escalated_to_stage_3(ledger)
        view = history(ledger, view_store)

        [challenge] = view.challenges(PARTNERSHIP)
        assert (
            challenge.by_agency,
            challenge.against_agency,
            challenge.matter,
            challenge.case,
        ) == ("la", "police", "threshold_decision", CASE)
        assert (challenge.raised_on, challenge.current_stage, challenge.stage_reached) == (
            date(2026, 4, 2),
            3,
            3,
        )
        assert (challenge.status, challenge.outcome, challenge.ended_on) == (
            "resolved",
            "partially_upheld",
            date(2026, 5, 11),
        )
        one, two, three = challenge.stages
        assert one == StageTiming(
            stage=1,
            started_at=at(4, 2),
            started_on=date(2026, 4, 2),
            started_by="raised",
            limit_working_days=5,
            limit_defined=True,
            due_on=date(2026, 4, 13),
            status="answered",
            answered_at=at(4, 8),
            answered_on=date(2026, 4, 8),
            closed_at=at(4, 8),
            closed_on=date(2026, 4, 8),
            closed_by="responded",
            working_days_taken=2,
            late=False,
            working_days_late=0,
        )
        assert (two.started_by, two.due_on, two.closed_by, two.closed_on) == (
            "escalated",
            date(2026, 4, 20),
            "escalated",
            date(2026, 4, 22),
        )
        # la escalated before police answered stage 2: not an answer.
        assert (two.status, two.answered_at, two.answered_on) == (
            "escalated_unanswered",
            None,
            None,
        )
        assert (two.working_days_taken, two.late, two.working_days_late) == (7, True, 2)
        # The partnership gives stage 3 ten working days: 9 is on time (the default 5 would not be).
        assert (three.limit_working_days, three.due_on, three.closed_by, three.status) == (
            10,
            date(2026, 5, 7),
            "responded",
            "answered",
        )
        assert (three.working_days_taken, three.late) == (9, False)

    def test_good_friday_and_easter_monday_are_not_working_days_in_england(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        raise_(ledger, "ch-2", at(4, 2))  # Thursday 2 April 2026
        respond(ledger, "ch-2", 1, at(4, 7))  # Tuesday 7 April 2026
        view = history(ledger, view_store)

        [stage] = view.challenges(PARTNERSHIP)[0].stages
        # Working days in (2 April, 7 April]: only Tuesday 7 April counts.
        assert stage.working_days_taken == 1
        assert stage.due_on == date(2026, 4, 13)

    def test_an_answer_on_the_saturday_after_a_friday_due_day_is_late_by_a_working_day(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        raise_(ledger, "ch-5", at(6, 5))  # Friday 5 June: due Friday 12 June
        respond(ledger, "ch-5", 1, at(6, 13))  # Saturday 13 June
        view = history(ledger, view_store)

        [challenge] = view.challenges(PARTNERSHIP)
        [stage] = challenge.stages
        assert (stage.due_on, stage.late, stage.working_days_late) == (date(2026, 6, 12), True, 1)
        [police] = [
            c for c in view.by_agency(PARTNERSHIP, as_of=date(2026, 6, 13)) if c.agency == "police"
        ]
        assert (police.late_responses, police.overdue_now) == (1, 0)

    def test_lateness_follows_the_partnerships_own_stage_limits(
        self, clock: FixedClock, view_store: ViewStore
    ) -> None:
        ledger = Ledger(clock=clock)
        ledger.establish_partnership(
            partnership="westshire",
            recorded_by=LA,
            name="Westshire Partnership",
            nation="wales",
            escalation_stages=[{"stage": 1, "title": "Practitioners", "response_working_days": 2}],
        )
        for agency, kind in (("la", "local_authority"), ("police", "police")):
            ledger.register_agency(
                partnership="westshire",
                recorded_by=LA,
                agency=agency,
                name=agency.title(),
                kind=kind,
                role="statutory_partner",
            )
        establish(ledger)
        for partnership in ("westshire", PARTNERSHIP):
            ledger.raise_challenge(
                partnership=partnership,
                challenge="ch-9",
                recorded_by=LA,
                against_agency="police",
                matter="other",
                summary="s",
                occurred_at=at(6, 1),
            )
            ledger.respond_to_challenge(
                partnership=partnership,
                challenge="ch-9",
                recorded_by=POLICE,
                stage=1,
                response="r",
                occurred_at=at(6, 4),
            )
        view = history(ledger, view_store)

        [west] = view.challenges("westshire")[0].stages
        [north] = view.challenges(PARTNERSHIP)[0].stages
        assert (
            west.limit_working_days,
            west.working_days_taken,
            west.late,
            west.working_days_late,
        ) == (2, 3, True, 1)
        assert (north.limit_working_days, north.working_days_taken, north.late) == (5, 3, False)

    def test_a_restarted_view_reloads_the_partnerships_limits_from_its_table(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        raise_(ledger, "ch-1", at(4, 2))
        escalate(ledger, "ch-1", 2, at(4, 13))
        first = history(ledger, view_store)
        escalate(ledger, "ch-1", 3, at(4, 22))
        restarted = ChallengeView(view_store)
        catch_up(ledger, view_store, restarted)

        stages = restarted.challenges(PARTNERSHIP)[0].stages
        assert [(s.stage, s.limit_working_days, s.limit_defined) for s in stages] == [
            (1, 5, True),
            (2, 5, True),
            (3, 10, True),
        ]
        assert first.challenges(PARTNERSHIP) == restarted.challenges(PARTNERSHIP)

    def test_no_free_text_reaches_the_views_tables(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        escalated_to_stage_3(ledger)
        history(ledger, view_store)
        with view_store.reading() as tx:
            cells = [
                str(cell)
                for table in ("challenge", "challenge_stage", "challenge_partnership")
                for row in tx.fetchall(f"SELECT * FROM {table}")  # noqa: S608 -- fixed table names
                for cell in row
            ]
        assert "partially_upheld" in cells
        assert not [cell for cell in cells if "SENSITIVE" in cell]


class TestOutcomes:
    def test_withdrawn_and_resolved_challenges_keep_their_status_and_outcome(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        three_challenges(ledger)
        view = history(ledger, view_store)

        summaries = {c.challenge: c for c in view.challenges(PARTNERSHIP)}
        assert [(c, s.status, s.outcome) for c, s in summaries.items()] == [
            ("ch-1", "resolved", "partially_upheld"),
            ("ch-3", "withdrawn", None),
            ("ch-4", "open", None),
        ]
        [withdrawn] = summaries["ch-3"].stages
        assert (withdrawn.closed_by, withdrawn.working_days_taken, withdrawn.late) == (
            "withdrawn",
            2,
            False,
        )
        assert (withdrawn.status, withdrawn.answered_on) == ("withdrawn", None)
        [open_stage] = summaries["ch-4"].stages
        assert (open_stage.answered_on, open_stage.late, open_stage.days_overdue) == (
            None,
            None,
            None,
        )
        assert (open_stage.status, open_stage.closed_on) == ("open", None)


class TestEscalatedUnanswered:
    def test_a_stage_the_raiser_escalated_before_an_answer_is_escalated_unanswered(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        raise_(ledger, "ch-6", at(6, 1))
        escalate(ledger, "ch-6", 2, at(6, 3))  # la escalates; police never answered stage 1
        view = history(ledger, view_store)

        one, two = view.challenges(PARTNERSHIP)[0].stages
        assert (one.status, one.answered_at, one.answered_on) == (
            "escalated_unanswered",
            None,
            None,
        )
        assert (one.closed_by, one.closed_on, one.working_days_taken, one.late) == (
            "escalated",
            date(2026, 6, 3),
            2,
            False,
        )
        assert (two.status, two.answered_on, two.closed_on) == ("open", None, None)

    def test_a_stage_the_challenged_agency_escalated_itself_is_not_escalated_unanswered(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        raise_(ledger, "ch-7", at(6, 1))
        ledger.escalate_challenge(
            partnership=PARTNERSHIP,
            challenge="ch-7",
            recorded_by=POLICE,
            to_stage=2,
            occurred_at=at(6, 2),
        )
        view = history(ledger, view_store)

        one, _ = view.challenges(PARTNERSHIP)[0].stages
        assert (one.status, one.answered_on, one.closed_by) == (
            "escalated_by_challenged",
            None,
            "escalated",
        )

    def test_a_stage_answered_then_escalated_stays_answered(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        raise_(ledger, "ch-8", at(6, 1))
        respond(ledger, "ch-8", 1, at(6, 2))
        escalate(ledger, "ch-8", 2, at(6, 4))
        view = history(ledger, view_store)

        one, _ = view.challenges(PARTNERSHIP)[0].stages
        assert (one.status, one.answered_on, one.closed_on) == (
            "answered",
            date(2026, 6, 2),
            date(2026, 6, 2),
        )


class TestTimeToResolve:
    def test_a_resolved_challenge_took_the_working_days_from_raising_to_resolution(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        three_challenges(ledger)
        view = history(ledger, view_store)

        days = {c.challenge: c.working_days_to_resolve for c in view.challenges(PARTNERSHIP)}
        # (Thu 2 April, Mon 11 May]: 18 in April without Good Friday and Easter Monday,
        # 6 in May without the early May bank holiday.
        assert days == {"ch-1": 24, "ch-3": None, "ch-4": None}  # withdrawn, open: None

    def test_a_challenge_resolved_the_day_it_was_raised_took_no_working_day(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        raise_(ledger, "ch-9", at(6, 1, 9))
        ledger.resolve_challenge(
            partnership=PARTNERSHIP,
            challenge="ch-9",
            recorded_by=LA,
            outcome="agreed_way_forward",
            occurred_at=at(6, 1, 15),
        )
        view = history(ledger, view_store)

        [challenge] = view.challenges(PARTNERSHIP)
        assert challenge.working_days_to_resolve == 0
        [stage] = challenge.stages
        assert (stage.status, stage.answered_on) == ("resolved", None)


class TestFilters:
    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            ({"agency": "police"}, ["ch-1", "ch-4"]),
            ({"agency": "police", "role": "raised"}, ["ch-4"]),
            ({"agency": "police", "role": "received"}, ["ch-1"]),
            ({"agency": "la", "role": "received"}, ["ch-3"]),
            ({"case": CASE}, ["ch-1"]),
            ({"matter": "information_sharing"}, ["ch-3"]),
            ({"date_from": date(2026, 5, 5)}, ["ch-3", "ch-4"]),
            ({"date_from": date(2026, 4, 1), "date_to": date(2026, 5, 4)}, ["ch-1"]),
            ({"status": "withdrawn"}, ["ch-3"]),
            ({"status": "open", "agency": "health"}, ["ch-4"]),
            ({"agency": "school"}, []),
        ],
    )
    def test_challenges_are_filtered_by_agency_role_case_matter_dates_and_status(
        self, ledger: Ledger, view_store: ViewStore, filters: dict[str, Any], expected: list[str]
    ) -> None:
        three_challenges(ledger)
        view = history(ledger, view_store)
        assert [c.challenge for c in view.challenges(PARTNERSHIP, **filters)] == expected


class TestOpenChallenges:
    def test_an_open_stage_is_overdue_by_the_working_days_past_its_due_day(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        three_challenges(ledger)
        view = history(ledger, view_store)

        [on_time] = view.open_challenges(PARTNERSHIP, as_of=date(2026, 6, 5))
        assert (on_time.challenge, on_time.stages[0].due_on, on_time.stages[0].days_overdue) == (
            "ch-4",
            date(2026, 6, 8),
            0,
        )
        [overdue] = view.open_challenges(PARTNERSHIP, as_of=date(2026, 6, 12))
        assert overdue.stages[0].days_overdue == 4

    def test_a_stage_due_on_a_friday_is_overdue_on_the_saturday_after_by_at_least_a_day(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        raise_(ledger, "ch-5", at(6, 5))  # Friday 5 June: due Friday 12 June
        view = history(ledger, view_store)

        def overdue(day: int) -> int | None:
            [challenge] = view.open_challenges(PARTNERSHIP, as_of=date(2026, 6, day))
            return challenge.stages[0].days_overdue

        assert [overdue(day) for day in (12, 13, 14, 15, 16)] == [0, 1, 1, 1, 2]
        [police] = [
            c for c in view.by_agency(PARTNERSHIP, as_of=date(2026, 6, 13)) if c.agency == "police"
        ]
        assert police.overdue_now == 1

    def test_a_challenge_is_shown_as_it_stood_on_the_day_asked_about(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        three_challenges(ledger)
        view = history(ledger, view_store)

        [ch1] = view.open_challenges(PARTNERSHIP, as_of=date(2026, 4, 21))
        assert (ch1.challenge, ch1.status, ch1.outcome, ch1.current_stage) == (
            "ch-1",
            "open",
            None,
            2,
        )
        answered, waiting = ch1.stages
        assert (answered.answered_on, answered.days_overdue) == (date(2026, 4, 8), None)
        assert (waiting.answered_on, waiting.days_overdue) == (None, 1)
        # Escalated on 22 April: on 21 April stage 2 was still open, not escalated unanswered.
        assert (waiting.status, waiting.closed_on, waiting.closed_by) == ("open", None, None)
        assert ch1.working_days_to_resolve is None  # resolved on 11 May, after the day asked
        # On 6 May ch-1's stage 3 was answered; ch-3 was open and not yet due.
        assert [
            (c.challenge, [s.days_overdue for s in c.stages])
            for c in view.open_challenges(PARTNERSHIP, as_of=date(2026, 5, 6))
        ] == [("ch-1", [None, None, None]), ("ch-3", [0])]
        assert view.open_challenges(PARTNERSHIP, as_of=date(2026, 5, 31)) == []


class TestByAgency:
    def test_agencies_are_counted_as_raisers_and_receivers_with_late_and_overdue_stages(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        three_challenges(ledger)
        view = history(ledger, view_store)

        counts = {c.agency: c for c in view.by_agency(PARTNERSHIP, as_of=date(2026, 6, 12))}
        assert list(counts) == ["health", "la", "police"]
        la, police, health = counts["la"], counts["police"], counts["health"]
        assert (la.raised, la.received, la.open_raised, la.withdrawn) == (1, 1, 0, 0)
        assert (la.resolved_raised, la.resolved_received, la.max_stage_reached) == (
            {"partially_upheld": 1},
            {},
            3,
        )
        assert (police.raised, police.received, police.open_raised, police.open_received) == (
            1,
            1,
            1,
            0,
        )
        assert (police.resolved_received, police.late_responses, police.overdue_now) == (
            {"partially_upheld": 1},
            1,
            0,
        )
        assert (health.raised, health.received, health.withdrawn, health.open_received) == (
            1,
            1,
            1,
            1,
        )
        assert (health.max_stage_reached, health.late_responses, health.overdue_now) == (1, 0, 1)

    def test_counts_as_of_an_earlier_day_leave_out_what_came_after(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        three_challenges(ledger)
        view = history(ledger, view_store)

        counts = view.by_agency(PARTNERSHIP, as_of=date(2026, 4, 21))
        assert [
            (
                c.agency,
                c.raised,
                c.received,
                c.open_raised,
                c.open_received,
                c.max_stage_reached,
                c.late_responses,
                c.overdue_now,
            )
            for c in counts
        ] == [
            ("la", 1, 0, 1, 0, 2, 0, 0),
            ("police", 0, 1, 0, 1, 2, 0, 1),
        ]

    def test_without_as_of_the_counts_are_as_of_today_by_the_views_clock(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        three_challenges(ledger)
        view = history(ledger, view_store, clock)

        health = {c.agency: c for c in view.by_agency(PARTNERSHIP)}["health"]
        # 1 July 2026: ch-4's stage 1 was due 8 June.
        assert health.overdue_now == 1
        assert view.by_agency(PARTNERSHIP) == view.by_agency(PARTNERSHIP, as_of=date(2026, 7, 1))


class TestRebuild:
    def test_applying_event_by_event_gives_the_same_rows_as_a_rebuild(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        three_challenges(ledger)
        view = ChallengeView(view_store)
        one_by_one, _ = assert_rebuild_changes_nothing(
            ledger, view_store, view, lambda: view.challenges(PARTNERSHIP)
        )
        assert [len(one_by_one[t]) for t in view.table_names] == [1, 3, 5]


class TestQueryValidation:
    @pytest.mark.parametrize(
        ("query", "kwargs", "field"),
        [
            ("challenges", {"partnership": "North Shire"}, "partnership"),
            ("challenges", {"agency": "LA!"}, "agency"),
            ("challenges", {"agency": "la", "role": "judged"}, "role"),
            ("challenges", {"role": "raised"}, "role"),
            ("challenges", {"case": "Case 1"}, "case"),
            ("challenges", {"matter": "pay"}, "matter"),
            ("challenges", {"status": "closed"}, "status"),
            (
                "challenges",
                {"date_from": date(2026, 5, 2), "date_to": date(2026, 5, 1)},
                "date_from",
            ),
            ("challenges", {"date_from": datetime(2026, 5, 1, tzinfo=UTC)}, "date_from"),
            ("open_challenges", {"as_of": datetime(2026, 5, 1, tzinfo=UTC)}, "as_of"),
            ("open_challenges", {"partnership": "", "as_of": date(2026, 5, 1)}, "partnership"),
            ("by_agency", {"as_of": "1 May 2026"}, "as_of"),
        ],
    )
    def test_a_query_argument_outside_its_rule_is_refused_naming_the_field(
        self, view_store: ViewStore, query: str, kwargs: dict[str, Any], field: str
    ) -> None:
        view = ChallengeView(view_store)
        arguments = {"partnership": PARTNERSHIP} | kwargs
        assert_refused(
            field, lambda: getattr(view, query)(arguments.pop("partnership"), **arguments)
        )
