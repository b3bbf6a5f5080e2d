"""The key moments view, on SQLite and on PostgreSQL: concern to protective action, seen alone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from ledger_scenario import CASE, CHILD, LA, LINKED, PARTNERSHIP, SIBLING, T0, FixedClock
from views_support import assert_rebuild_changes_nothing, assert_refused, catch_up, dump

from ledger.application import Ledger
from projections._store import ViewStore
from projections.key_moments import KeyMomentView


@pytest.fixture
def clock() -> FixedClock:
    #: Everything below is recorded on 20 April 2026, whenever it happened.
    return FixedClock(datetime(2026, 4, 20, 9, tzinfo=UTC))


def open_case(ledger: Ledger, case: str = CASE, *children: str) -> None:
    ledger.open_case(
        partnership=PARTNERSHIP,
        case=case,
        recorded_by=LA,
        children=[{"child": c, "age_band": "5_9"} for c in children or (CHILD,)],
        occurred_at=T0 - timedelta(days=1),
    )


def act(ledger: Ledger, action: str, at: datetime, *, case: str = CASE, **fields: Any) -> int:
    receipt = ledger.record_action(
        partnership=PARTNERSHIP, case=case, recorded_by=LA, action=action, occurred_at=at, **fields
    )
    return int(receipt.sequence)


def see(ledger: Ledger, action: str, at: datetime, *, alone: bool = True, **fields: Any) -> int:
    """A sighting: a ``home_visit`` or ``child_seen`` that saw the child, alone or not."""
    return act(ledger, action, at, seen=True, seen_alone=alone, **fields)


def link(ledger: Ledger, child: str, linked: str, *, unlink: bool = False) -> None:
    """Link ``child``'s token on case c-1 to ``linked`` (or undo that link)."""
    command = ledger.unlink_child_identifier if unlink else ledger.link_child_identifier
    command(
        partnership=PARTNERSHIP,
        case=CASE,
        recorded_by=LA,
        child=child,
        linked=linked,
        identifier_kind="nhs_number",
    )


def close(ledger: Ledger, case: str, reason: str, at: datetime) -> None:
    ledger.close_case(
        partnership=PARTNERSHIP, case=case, recorded_by=LA, reason=reason, occurred_at=at
    )


def concern(ledger: Ledger, ident: str, at: datetime, *, case: str = CASE, **fields: Any) -> None:
    ledger.raise_concern(
        partnership=PARTNERSHIP,
        case=case,
        recorded_by=LA,
        concern=ident,
        kind=fields.pop("kind", "significant_harm"),
        occurred_at=at,
        **fields,
    )


def view_of(ledger: Ledger, store: ViewStore) -> KeyMomentView:
    view = KeyMomentView(store)
    catch_up(ledger, store, view)
    return view


def seen_alone(view: KeyMomentView, case: str = CASE) -> list[tuple[Any, ...]]:
    return [
        (
            d.decision,
            d.child,
            d.seen_alone_before,
            d.last_seen_alone_at,
            d.days_since_seen_alone,
            d.seen_before,
        )
        for d in view.case(PARTNERSHIP, case).decisions
    ]


class TestSeenAloneBeforeDecisions:
    def test_a_decision_after_a_seen_alone_visit_has_it_and_one_after_a_joint_visit_does_not(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        open_case(ledger, "c-1")
        see(ledger, "home_visit", T0 + timedelta(hours=1), case="c-1", child=CHILD)
        act(ledger, "strategy_discussion", T0 + timedelta(days=2), case="c-1", outcome="section47")
        open_case(ledger, "c-2")
        see(ledger, "child_seen", T0 + timedelta(hours=1), case="c-2", child=CHILD, alone=False)
        act(ledger, "strategy_discussion", T0 + timedelta(hours=2), case="c-2")
        close(ledger, "c-2", "no_further_action", T0 + timedelta(days=3))
        open_case(ledger, "c-3")
        act(ledger, "home_visit", T0, case="c-3", seen=False)
        act(ledger, "initial_conference", T0 + timedelta(days=1), case="c-3", child=CHILD)
        view = view_of(ledger, view_store)

        assert seen_alone(view, "c-1") == [
            ("strategy_discussion", None, True, T0 + timedelta(hours=1), 2, True),
        ]
        assert view.case(PARTNERSHIP, "c-1").decisions[0].outcome == "section47"
        assert seen_alone(view, "c-2") == [
            ("strategy_discussion", None, False, None, None, True),
            ("case_closed", None, False, None, None, True),
        ]
        assert seen_alone(view, "c-3") == [("initial_conference", CHILD, False, None, None, False)]

    def test_a_sighting_recorded_late_that_happened_before_the_decision_counts(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        open_case(ledger)
        decided = T0 + timedelta(days=1)
        act(ledger, "strategy_discussion", decided)
        see(ledger, "home_visit", decided + timedelta(minutes=1), child=CHILD)
        view = view_of(ledger, view_store)
        assert seen_alone(view) == [("strategy_discussion", None, False, None, None, False)]

        clock.advance(days=5)
        see(ledger, "child_seen", T0 + timedelta(hours=2), child=CHILD)
        catch_up(ledger, view_store, view)
        assert seen_alone(view) == [
            ("strategy_discussion", None, True, T0 + timedelta(hours=2), 1, True),
        ]

    def test_a_decision_about_one_child_counts_only_sightings_of_that_child_or_its_linked_token(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        open_case(ledger, CASE, CHILD, SIBLING)
        see(ledger, "child_seen", T0 + timedelta(hours=1), child=SIBLING)
        see(ledger, "home_visit", T0 + timedelta(hours=2))  # no child named
        act(ledger, "review_conference", T0 + timedelta(hours=3), child=CHILD)
        act(ledger, "strategy_discussion", T0 + timedelta(hours=4))  # about the case: every child
        link(ledger, CHILD, LINKED)
        see(ledger, "child_seen", T0 + timedelta(hours=5), child=LINKED)
        act(ledger, "initial_conference", T0 + timedelta(hours=6), child=CHILD)
        view = view_of(ledger, view_store)

        assert seen_alone(view) == [
            ("review_conference", CHILD, False, None, None, False),
            # CHILD was not seen alone: a visit naming no child on a case of two sees neither.
            ("strategy_discussion", None, False, None, None, True),
            ("initial_conference", CHILD, True, T0 + timedelta(hours=5), 0, True),
        ]
        assert [d.children_not_seen_alone for d in view.case(PARTNERSHIP, CASE).decisions] == [
            [CHILD],
            [CHILD],
            [],
        ]

    def test_a_decision_about_the_whole_case_needs_every_child_seen_alone_before_it(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        open_case(ledger, CASE, CHILD, SIBLING)
        see(ledger, "child_seen", T0 + timedelta(hours=1), child=CHILD)
        see(ledger, "home_visit", T0 + timedelta(hours=2))  # which child, not said
        act(ledger, "strategy_discussion", T0 + timedelta(hours=3))
        see(ledger, "child_seen", T0 + timedelta(days=1), child=SIBLING)
        act(ledger, "initial_conference", T0 + timedelta(days=2))
        view = view_of(ledger, view_store)

        # Last seen alone: the least recent of the children's last times, the longest any went.
        assert seen_alone(view) == [
            ("strategy_discussion", None, False, None, None, True),
            ("initial_conference", None, True, T0 + timedelta(hours=1), 2, True),
        ]
        assert [d.children_not_seen_alone for d in view.case(PARTNERSHIP, CASE).decisions] == [
            [SIBLING],
            [],
        ]
        strategy = view.summary(PARTNERSHIP).decisions[0]
        assert (strategy.decision, strategy.decisions, strategy.without_seen_alone) == (
            "strategy_discussion",
            1,
            1,
        )

    def test_a_child_seen_alone_under_a_linked_token_counts_as_that_child_of_the_case(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        open_case(ledger, CASE, CHILD, SIBLING)
        link(ledger, CHILD, LINKED)
        see(ledger, "child_seen", T0 + timedelta(hours=1), child=LINKED)
        see(ledger, "child_seen", T0 + timedelta(hours=2), child=SIBLING)
        act(ledger, "review_conference", T0 + timedelta(hours=3))
        view = view_of(ledger, view_store)

        [decision] = view.case(PARTNERSHIP, CASE).decisions
        assert (decision.seen_alone_before, decision.children_not_seen_alone) == (True, [])
        assert decision.last_seen_alone_at == T0 + timedelta(hours=1)

    def test_a_token_named_later_and_no_longer_linked_is_a_child_the_case_must_see_alone(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        open_case(ledger, CASE, CHILD, SIBLING)
        see(ledger, "child_seen", T0 + timedelta(hours=1), child=CHILD)
        see(ledger, "child_seen", T0 + timedelta(hours=2), child=SIBLING)
        # LINKED was taken for CHILD, then found to be another child.
        link(ledger, CHILD, LINKED)
        concern(ledger, "cn-1", T0 + timedelta(hours=3), child=LINKED)
        link(ledger, CHILD, LINKED, unlink=True)
        close(ledger, CASE, "no_further_action", T0 + timedelta(hours=4))
        view = view_of(ledger, view_store)

        [closed] = view.case(PARTNERSHIP, CASE).decisions
        assert (closed.decision, closed.seen_alone_before, closed.children_not_seen_alone) == (
            "case_closed",
            False,
            [LINKED],
        )

    def test_on_a_case_of_one_child_a_sighting_naming_no_child_is_that_child(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        open_case(ledger)
        see(ledger, "home_visit", T0 - timedelta(days=3))
        act(ledger, "initial_conference", T0 + timedelta(hours=1), child=CHILD)
        view = view_of(ledger, view_store)
        assert seen_alone(view) == [
            ("initial_conference", CHILD, True, T0 - timedelta(days=3), 3, True),
        ]


def incident(
    ledger: Ledger, review: str, aware: datetime, *, child: str = CHILD, **fields: Any
) -> None:
    """A serious incident about ``child``, notified a day after the LA became aware."""
    ledger.notify_serious_incident(
        partnership=PARTNERSHIP,
        review=review,
        recorded_by=LA,
        child=child,
        incident="serious_harm",
        became_aware_at=aware,
        notified_panel_at=aware + timedelta(days=1),
        occurred_at=aware + timedelta(days=1),
        **fields,
    )


def seen_before_incident(view: KeyMomentView) -> list[tuple[Any, ...]]:
    return [
        (c.child, c.seen_alone_before, c.last_seen_alone_at, c.days_since_seen_alone, c.seen_before)
        for i in view.case(PARTNERSHIP, CASE).incidents
        for c in i.children
    ]


class TestSeenAloneBeforeTheSeriousIncident:
    def test_each_child_of_the_case_is_asked_about_and_only_sightings_before_awareness_count(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        open_case(ledger, CASE, CHILD, SIBLING)
        see(ledger, "child_seen", T0 + timedelta(hours=1), child=CHILD)
        see(ledger, "home_visit", T0 + timedelta(hours=2), child=SIBLING, alone=False)
        see(ledger, "home_visit", T0 + timedelta(hours=3))  # which child, not said: no one
        see(ledger, "child_seen", T0 + timedelta(days=3), child=SIBLING)  # after: no count
        incident(ledger, "r-1", T0 + timedelta(days=2), case=CASE)
        view = view_of(ledger, view_store)

        [found] = view.case(PARTNERSHIP, CASE).incidents
        assert (found.review, found.incident, found.child, found.became_aware_at) == (
            "r-1",
            "serious_harm",
            CHILD,
            T0 + timedelta(days=2),
        )
        assert (found.seen_alone_before, found.children_not_seen_alone) == (False, [SIBLING])
        assert seen_before_incident(view) == [
            (CHILD, True, T0 + timedelta(hours=1), 2, True),
            (SIBLING, False, None, None, True),  # seen, with a parent: not alone
        ]

    def test_a_sighting_recorded_late_counts_and_a_linked_token_is_the_same_child(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        open_case(ledger)
        link(ledger, CHILD, LINKED)
        incident(ledger, "r-1", T0 + timedelta(days=2), case=CASE, child=LINKED)
        # Recorded after the notification, happened before the LA became aware.
        see(ledger, "home_visit", T0 + timedelta(days=1))  # a case of one child: CHILD
        view = view_of(ledger, view_store)

        [found] = view.case(PARTNERSHIP, CASE).incidents
        assert (found.child, found.seen_alone_before) == (LINKED, True)
        assert seen_before_incident(view) == [(CHILD, True, T0 + timedelta(days=1), 1, True)]

    def test_the_child_the_notification_names_is_asked_about_even_if_the_case_never_named_it(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        open_case(ledger)
        see(ledger, "child_seen", T0, child=CHILD)
        incident(ledger, "r-1", T0 + timedelta(days=1), case=CASE, child=SIBLING)
        view = view_of(ledger, view_store)

        assert seen_before_incident(view) == [
            (CHILD, True, T0, 1, True),
            (SIBLING, False, None, None, False),
        ]

    def test_an_incident_about_no_case_or_another_case_is_not_a_key_moment_of_this_one(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        open_case(ledger)
        open_case(ledger, "c-2")
        incident(ledger, "r-1", T0 + timedelta(days=1))
        incident(ledger, "r-2", T0 + timedelta(days=1), case="c-2")
        view = view_of(ledger, view_store)

        assert view.case(PARTNERSHIP, CASE).incidents == []
        assert [i.review for i in view.case(PARTNERSHIP, "c-2").incidents] == ["r-2"]

    def test_the_summary_counts_incidents_in_the_range_and_those_without_every_child_seen_alone(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        open_case(ledger)  # nothing stored for c-1 but the incident itself
        open_case(ledger, "c-2")
        see(ledger, "child_seen", T0, case="c-2", child=CHILD)
        incident(ledger, "r-1", T0 + timedelta(days=1), case=CASE)
        incident(ledger, "r-2", T0 + timedelta(days=1), case="c-2")
        incident(ledger, "r-3", T0 + timedelta(days=40), case="c-2")
        view = view_of(ledger, view_store)

        every = view.summary(PARTNERSHIP)
        assert (every.cases, every.incidents, every.incidents_without_seen_alone) == (2, 3, 1)
        march = view.summary(PARTNERSHIP, date_from="2026-03-01", date_to="2026-03-31")
        assert (march.incidents, march.incidents_without_seen_alone) == (2, 1)

    def test_a_rebuild_gives_the_same_incidents(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        open_case(ledger, CASE, CHILD, SIBLING)
        see(ledger, "child_seen", T0, child=SIBLING)
        incident(ledger, "r-1", T0 + timedelta(days=1), case=CASE)
        view = KeyMomentView(view_store)
        incremental, answer = assert_rebuild_changes_nothing(
            ledger, view_store, view, lambda: view.case(PARTNERSHIP, CASE)
        )
        assert len(incremental["km_incident"]) == 1
        assert [i.children_not_seen_alone for i in answer.incidents] == [[CHILD]]


class TestConcernToProtectiveAction:
    def test_the_delay_across_a_weekend_is_counted_in_hours_and_working_days(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        friday = datetime(2026, 3, 6, 15, tzinfo=UTC)
        monday = datetime(2026, 3, 9, 10, tzinfo=UTC)
        open_case(ledger)
        first_referral = act(ledger, "referral_received", friday)
        concern(ledger, "cn-1", friday + timedelta(hours=1), child=CHILD)
        act(ledger, "referral_decision", friday + timedelta(hours=2), outcome="early_help")
        strategy = act(
            ledger, "strategy_discussion", monday + timedelta(hours=1), outcome="section47"
        )
        act(ledger, "referral_received", monday)  # not the case's first referral
        act(ledger, "section47_started", monday + timedelta(hours=5))
        view = view_of(ledger, view_store)

        got = [
            (
                c.source,
                c.concern,
                c.kind,
                c.child,
                c.sequence,
                c.action,
                c.action_sequence,
                c.hours,
                c.working_days,
            )
            for c in view.case(PARTNERSHIP, CASE).concerns
        ]
        assert got == [
            (
                "referral",
                None,
                "referral_received",
                None,
                first_referral,
                "strategy_discussion",
                strategy,
                68.0,
                1,
            ),
            (
                "concern",
                "cn-1",
                "significant_harm",
                CHILD,
                first_referral + 1,
                "strategy_discussion",
                strategy,
                67.0,
                1,
            ),
        ]

    def test_bank_holidays_are_not_working_days_and_a_section17_decision_is_protective(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        open_case(ledger)
        concern(ledger, "cn-1", datetime(2026, 4, 2, 14, tzinfo=UTC), kind="neglect")  # Thursday
        act(ledger, "referral_decision", datetime(2026, 4, 7, 9, tzinfo=UTC), outcome="section17")
        view = view_of(ledger, view_store)
        [found] = view.case(PARTNERSHIP, CASE).concerns
        assert (found.kind, found.action, found.outcome) == (
            "neglect",
            "referral_decision",
            "section17",
        )
        assert found.action_at == datetime(2026, 4, 7, 9, tzinfo=UTC)
        assert (found.hours, found.working_days) == (115.0, 1)  # Good Friday and Easter Monday

    def test_a_concern_is_answered_only_by_a_later_action_for_its_child_or_the_whole_case(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        open_case(ledger, CASE, CHILD, SIBLING)
        act(ledger, "protection_plan_started", T0, child=CHILD)
        concern(ledger, "cn-1", T0 + timedelta(hours=1), child=CHILD)
        act(ledger, "section47_started", T0 + timedelta(hours=2), child=SIBLING)
        concern(ledger, "cn-2", T0 + timedelta(hours=3), child=SIBLING)
        view = view_of(ledger, view_store)
        got = [(c.concern, c.action, c.hours) for c in view.case(PARTNERSHIP, CASE).concerns]
        assert got == [("cn-1", None, None), ("cn-2", None, None)]

        act(ledger, "initial_conference", T0 + timedelta(hours=5))
        catch_up(ledger, view_store, view)
        got = [(c.concern, c.action, c.hours) for c in view.case(PARTNERSHIP, CASE).concerns]
        assert got == [("cn-1", "initial_conference", 4.0), ("cn-2", "initial_conference", 2.0)]

    def test_an_unknown_case_has_no_key_moments(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        view = view_of(ledger, view_store)
        moments = view.case(PARTNERSHIP, "c-404")
        assert (moments.case, moments.concerns, moments.decisions) == ("c-404", [], [])


class TestSummary:
    @pytest.fixture
    def four_cases(self, ledger: Ledger) -> Ledger:
        """Delays of 10 h (c-1), 30 h (c-2) and 50 h (c-3, in April); c-4 has no action yet."""
        open_case(ledger, "c-1")
        concern(ledger, "cn", T0 + timedelta(hours=1), case="c-1")
        see(ledger, "home_visit", T0 + timedelta(hours=2), case="c-1")
        act(ledger, "strategy_discussion", T0 + timedelta(hours=11), case="c-1")
        close(ledger, "c-1", "plan_ended", T0 + timedelta(days=2))
        open_case(ledger, "c-2")
        concern(ledger, "cn", T0 + timedelta(hours=1), case="c-2")
        see(ledger, "child_seen", T0 + timedelta(hours=3), case="c-2", alone=False)
        act(ledger, "strategy_discussion", T0 + timedelta(hours=31), case="c-2")
        open_case(ledger, "c-3")
        april = datetime(2026, 4, 1, 10, tzinfo=UTC)
        concern(ledger, "cn", april, case="c-3")
        act(ledger, "strategy_discussion", april + timedelta(hours=50), case="c-3")
        open_case(ledger, "c-4")
        concern(ledger, "cn", T0 + timedelta(hours=1), case="c-4", note="SENSITIVE note")
        return ledger

    def test_the_summary_counts_delays_and_decisions_without_the_child_seen_alone(
        self, four_cases: Ledger, view_store: ViewStore
    ) -> None:
        view = view_of(four_cases, view_store)
        summary = view.summary(PARTNERSHIP)
        assert (
            summary.cases,
            summary.concerns,
            summary.concerns_with_action,
            summary.concerns_without_action,
        ) == (4, 4, 3, 1)
        assert (summary.median_hours, summary.p90_hours, summary.median_working_days) == (
            30.0,
            50.0,
            1.0,
        )
        assert [
            (d.decision, d.decisions, d.without_seen_alone, d.without_seen)
            for d in summary.decisions
        ] == [
            ("strategy_discussion", 3, 2, 1),
            ("initial_conference", 0, 0, 0),
            ("review_conference", 0, 0, 0),
            ("case_closed", 1, 0, 0),
        ]
        assert summary.decisions_without_seen_alone == 2

    def test_a_date_range_selects_concerns_and_decisions_by_their_london_date(
        self, four_cases: Ledger, view_store: ViewStore
    ) -> None:
        view = view_of(four_cases, view_store)
        march = view.summary(PARTNERSHIP, date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))
        assert (march.cases, march.concerns, march.concerns_without_action) == (3, 3, 1)
        assert (march.median_hours, march.p90_hours) == (20.0, 30.0)
        strategy = march.decisions[0]
        assert (strategy.decision, strategy.decisions, strategy.without_seen_alone) == (
            "strategy_discussion",
            2,
            1,
        )
        april = view.summary(PARTNERSHIP, date_from=date(2026, 4, 1))
        assert (
            april.cases,
            april.concerns,
            april.median_hours,
            april.decisions_without_seen_alone,
        ) == (
            1,
            1,
            50.0,
            1,
        )
        empty = view.summary(PARTNERSHIP, date_to=date(2026, 2, 1))
        assert (empty.cases, empty.concerns, empty.median_hours, empty.p90_hours) == (
            0,
            0,
            None,
            None,
        )


class TestRebuild:
    def test_applying_one_event_at_a_time_equals_a_rebuild(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        open_case(ledger, CASE, CHILD, SIBLING)
        concern(ledger, "cn-1", T0, child=CHILD)
        link(ledger, CHILD, LINKED)
        see(ledger, "child_seen", T0 + timedelta(hours=1), child=LINKED)
        link(ledger, LINKED, CHILD, unlink=True)
        act(ledger, "strategy_discussion", T0 + timedelta(hours=2), child=CHILD)
        view = KeyMomentView(view_store)
        incremental, answer = assert_rebuild_changes_nothing(
            ledger, view_store, view, lambda: view.case(PARTNERSHIP, CASE)
        )
        assert incremental["km_link"] == []  # unlinked: LINKED is no longer CHILD
        assert [d.seen_alone_before for d in answer.decisions] == [False]
        assert [(c.action, c.hours) for c in answer.concerns] == [("strategy_discussion", 2.0)]


class TestPrivacyAndValidation:
    def test_no_free_text_reaches_the_view(self, ledger: Ledger, view_store: ViewStore) -> None:
        open_case(ledger)
        concern(ledger, "cn-1", T0, note="SENSITIVE concern")
        see(ledger, "home_visit", T0, note="SENSITIVE visit")
        act(ledger, "information_shared", T0, note="SENSITIVE, and ignored by the view")
        view = view_of(ledger, view_store)
        tables = dump(view_store, [view])
        assert len(tables["km_event"]) == 2
        [(partnership, facts)] = tables["km_nation"]
        assert (partnership, b'"nation":"england"' in facts) == (PARTNERSHIP, True)
        assert "SENSITIVE" not in repr(tables)

    @pytest.mark.parametrize(
        ("field", "call"),
        [
            ("partnership", lambda v: v.case("North Shire", CASE)),
            ("case", lambda v: v.case(PARTNERSHIP, "Case One")),
            ("partnership", lambda v: v.summary("")),
            (
                "date_from",
                lambda v: v.summary(
                    PARTNERSHIP, date_from=date(2026, 4, 2), date_to=date(2026, 4, 1)
                ),
            ),
            ("date_from", lambda v: v.summary(PARTNERSHIP, date_from=T0)),
            ("date_to", lambda v: v.summary(PARTNERSHIP, date_to="2026-04-01T00:00:00Z")),
            ("date_from", lambda v: v.summary(PARTNERSHIP, date_from=date(1899, 12, 31))),
            ("date_to", lambda v: v.summary(PARTNERSHIP, date_to=date(2099, 1, 1))),
        ],
    )
    def test_a_bad_query_argument_is_refused_naming_the_field_and_the_rule(
        self, view_store: ViewStore, field: str, call: Any
    ) -> None:
        view = KeyMomentView(view_store)
        assert_refused(field, lambda: call(view))
