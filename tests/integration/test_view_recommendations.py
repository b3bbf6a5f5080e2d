"""The recommendations view, on SQLite and on PostgreSQL: states, overdue, RAG, reviews, themes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from ledger_scenario import CASE, CHILD, HEALTH, LA, PARTNERSHIP, POLICE, T0, FixedClock
from views_support import assert_rebuild_changes_nothing, assert_refused, catch_up, dump

from ledger.application import Ledger
from projections._store import ViewStore
from projections.recommendations import RecommendationView
from schemas import RagStatus, ReviewLevel, Theme

#: The view's "today" when a query gives no as_of: Monday 2 March 2026 (the scenario's T0).
TODAY = date(2026, 3, 2)


def notify(ledger: Ledger, review: str, at: datetime, *, case: str | None = None) -> None:
    extra: dict[str, Any] = {} if case is None else {"case": case}
    ledger.notify_serious_incident(
        partnership=PARTNERSHIP,
        review=review,
        recorded_by=LA,
        child=CHILD,
        incident="serious_harm",
        became_aware_at=at - timedelta(days=2),
        notified_panel_at=at,
        occurred_at=at,
        **extra,
    )


def issue(
    ledger: Ledger,
    review: str,
    recommendation: str,
    *,
    owner: str,
    due: date,
    theme: str,
    at: datetime = T0,
) -> None:
    ledger.issue_recommendation(
        partnership=PARTNERSHIP,
        review=review,
        recorded_by=LA,
        recommendation=recommendation,
        owner=owner,
        due=due,
        theme=theme,
        text="SENSITIVE free text naming the family",
        occurred_at=at,
    )


def step(
    ledger: Ledger,
    name: str,
    review: str,
    recommendation: str,
    by: dict[str, str],
    at: datetime,
    **fields: Any,
) -> None:
    getattr(ledger, name)(
        partnership=PARTNERSHIP,
        review=review,
        recorded_by=by,
        recommendation=recommendation,
        occurred_at=at,
        **fields,
    )


def report(ledger: Ledger, recommendation: str, status: str, at: datetime, **fields: Any) -> None:
    """police reports the progress of review r-1's ``recommendation``: red, amber or green."""
    step(
        ledger,
        "report_recommendation_progress",
        "r-1",
        recommendation,
        POLICE,
        at,
        status=status,
        **fields,
    )


def view_of(ledger: Ledger, store: ViewStore) -> RecommendationView:
    view = RecommendationView(store, clock=lambda: datetime(2026, 3, 2, 12, tzinfo=UTC))
    catch_up(ledger, store, view)
    return view


class TestRecommendationStates:
    def test_a_recommendation_is_overdue_the_day_after_its_due_date_and_not_before(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        notify(ledger, "r-1", T0)
        issue(ledger, "r-1", "rec-1", owner="police", due=date(2026, 4, 1), theme="escalation")
        view = view_of(ledger, view_store)

        on_due = view.recommendations(PARTNERSHIP, as_of=date(2026, 4, 1))
        assert [(r.recommendation, r.state, r.overdue, r.days_overdue) for r in on_due] == [
            ("rec-1", "issued", False, 0)
        ]
        after = view.recommendations(PARTNERSHIP, as_of=date(2026, 4, 2))[0]
        assert (after.overdue, after.days_overdue, after.as_of) == (True, 1, date(2026, 4, 2))
        assert (after.rag, after.rag_source) == (RagStatus.RED, "derived")
        assert view.recommendations(PARTNERSHIP, as_of=date(2026, 5, 1))[0].days_overdue == 30

    def test_a_recommendation_issued_after_as_of_is_not_listed(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        notify(ledger, "r-1", T0 - timedelta(days=40))
        issue(ledger, "r-1", "rec-1", owner="police", due=date(2026, 4, 1), theme="escalation")
        view = view_of(ledger, view_store)
        assert view.recommendations(PARTNERSHIP, as_of=date(2026, 3, 1)) == []
        assert [r.issued_at for r in view.recommendations(PARTNERSHIP)] == [T0]

    def test_accepted_then_implemented_and_rejected_are_states_with_their_dates(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        notify(ledger, "r-1", T0 - timedelta(days=30))
        issue(
            ledger,
            "r-1",
            "rec-1",
            owner="police",
            due=date(2026, 3, 20),
            theme="escalation",
            at=T0 - timedelta(days=20),
        )
        issue(
            ledger,
            "r-1",
            "rec-2",
            owner="health",
            due=date(2026, 3, 20),
            theme="neglect",
            at=T0 - timedelta(days=20),
        )
        step(ledger, "accept_recommendation", "r-1", "rec-1", POLICE, T0 - timedelta(days=10))
        step(
            ledger,
            "implement_recommendation",
            "r-1",
            "rec-1",
            POLICE,
            T0 - timedelta(days=1),
            evidence="SENSITIVE evidence",
        )
        step(
            ledger,
            "reject_recommendation",
            "r-1",
            "rec-2",
            HEALTH,
            T0 - timedelta(days=5),
            basis="SENSITIVE basis",
        )
        view = view_of(ledger, view_store)

        late = {
            r.recommendation: r for r in view.recommendations(PARTNERSHIP, as_of=date(2026, 6, 1))
        }
        implemented, rejected = late["rec-1"], late["rec-2"]
        assert (implemented.state, implemented.overdue, implemented.rag) == (
            "implemented",
            False,
            RagStatus.GREEN,
        )
        assert implemented.accepted_at == T0 - timedelta(days=10)
        assert implemented.implemented_at == T0 - timedelta(days=1)
        assert implemented.rejected_at is None
        assert (rejected.state, rejected.overdue, rejected.rag, rejected.rag_source) == (
            "rejected",
            False,
            RagStatus.RED,
            "derived",
        )
        assert rejected.rejected_at == T0 - timedelta(days=5)

        earlier = view.recommendations(PARTNERSHIP, as_of=(T0 - timedelta(days=3)).date())
        assert [(r.recommendation, r.state, r.implemented_at) for r in earlier] == [
            ("rec-1", "accepted", None),
            ("rec-2", "rejected", None),
        ]

    def test_a_step_recorded_late_counts_from_when_it_happened(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        notify(ledger, "r-1", T0 - timedelta(days=30))
        issue(
            ledger,
            "r-1",
            "rec-1",
            owner="police",
            due=date(2026, 3, 1),
            theme="escalation",
            at=T0 - timedelta(days=20),
        )
        clock.advance(days=30)
        step(ledger, "accept_recommendation", "r-1", "rec-1", POLICE, T0 - timedelta(days=15))
        view = view_of(ledger, view_store)
        [found] = view.recommendations(PARTNERSHIP, as_of=date(2026, 2, 20))
        assert (found.state, found.accepted_at) == ("accepted", T0 - timedelta(days=15))


class TestRag:
    def test_without_a_report_rag_is_amber_within_30_days_of_due_and_green_before(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        notify(ledger, "r-1", T0)
        issue(ledger, "r-1", "rec-soon", owner="police", due=date(2026, 4, 1), theme="escalation")
        issue(ledger, "r-1", "rec-later", owner="police", due=date(2026, 9, 30), theme="neglect")
        view = view_of(ledger, view_store)

        now = {
            r.recommendation: (r.rag, r.rag_source, r.reported_rag)
            for r in view.recommendations(PARTNERSHIP)
        }
        assert now == {
            "rec-soon": (RagStatus.AMBER, "derived", None),  # due 2026-04-01 is 30 days away
            "rec-later": (RagStatus.GREEN, "derived", None),
        }
        assert view.recommendations(PARTNERSHIP, review="r-1", as_of=date(2026, 3, 1)) == []

    def test_the_last_report_by_as_of_gives_the_rag_and_an_overdue_one_is_red_whatever_it_says(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        notify(ledger, "r-1", T0)
        issue(ledger, "r-1", "rec-1", owner="police", due=date(2026, 9, 30), theme="escalation")
        clock.advance(days=10)
        report(ledger, "rec-1", "red", clock.now, note="SENSITIVE note")
        clock.advance(days=10)
        report(ledger, "rec-1", "green", clock.now)
        view = view_of(ledger, view_store)

        first = view.recommendations(PARTNERSHIP, as_of=date(2026, 3, 15))[0]
        assert (first.rag, first.rag_source, first.reports) == (RagStatus.RED, "reported", 1)
        assert first.last_report_at == T0 + timedelta(days=10)
        latest = view.recommendations(PARTNERSHIP, as_of=date(2026, 6, 1))[0]
        assert (latest.rag, latest.reported_rag, latest.reports) == (
            RagStatus.GREEN,
            RagStatus.GREEN,
            2,
        )
        overdue = view.recommendations(PARTNERSHIP, as_of=date(2026, 10, 1))[0]
        assert (overdue.overdue, overdue.rag, overdue.rag_source, overdue.reported_rag) == (
            True,
            RagStatus.RED,
            "derived",
            RagStatus.GREEN,
        )

    def test_an_implemented_recommendation_is_green_after_an_amber_report(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        notify(ledger, "r-1", T0 - timedelta(days=10))
        issue(
            ledger,
            "r-1",
            "rec-1",
            owner="police",
            due=date(2026, 3, 1),
            theme="escalation",
            at=T0 - timedelta(days=5),
        )
        step(ledger, "accept_recommendation", "r-1", "rec-1", POLICE, T0 - timedelta(days=4))
        report(ledger, "rec-1", "amber", T0 - timedelta(days=3))
        step(ledger, "implement_recommendation", "r-1", "rec-1", POLICE, T0 - timedelta(days=2))
        view = view_of(ledger, view_store)
        [found] = view.recommendations(PARTNERSHIP)
        assert (found.state, found.rag, found.rag_source, found.reported_rag, found.overdue) == (
            "implemented",
            RagStatus.GREEN,
            "derived",
            RagStatus.AMBER,
            False,
        )


class TestFilters:
    def test_filters_by_review_owner_state_and_theme_combine(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        notify(ledger, "r-1", T0)
        notify(ledger, "r-2", T0)
        issue(ledger, "r-1", "a", owner="police", due=date(2026, 5, 1), theme="escalation")
        issue(ledger, "r-1", "b", owner="health", due=date(2026, 5, 1), theme="neglect")
        issue(ledger, "r-2", "c", owner="police", due=date(2026, 5, 1), theme="neglect")
        step(ledger, "accept_recommendation", "r-2", "c", POLICE, T0)
        view = view_of(ledger, view_store)

        def ids(**filters: Any) -> list[tuple[str, str]]:
            return [
                (r.review, r.recommendation) for r in view.recommendations(PARTNERSHIP, **filters)
            ]

        assert ids() == [("r-1", "a"), ("r-1", "b"), ("r-2", "c")]
        assert ids(review="r-1") == [("r-1", "a"), ("r-1", "b")]
        assert ids(owner="police") == [("r-1", "a"), ("r-2", "c")]
        assert ids(status="accepted") == [("r-2", "c")]
        assert ids(status="issued", theme="neglect") == [("r-1", "b")]
        assert ids(theme=Theme.NEGLECT, owner="police") == [("r-2", "c")]
        assert ids(owner="school") == []
        assert view.recommendations("elsewhere") == []


class TestReviews:
    def test_a_review_lists_its_level_dates_and_recommendations_by_state_and_overdue(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        ledger.open_case(
            partnership=PARTNERSHIP,
            case=CASE,
            recorded_by=LA,
            children=[{"child": CHILD, "age_band": "5_9"}],
            occurred_at=T0 - timedelta(days=90),
        )
        notify(ledger, "r-1", T0 - timedelta(days=60), case=CASE)
        ledger.complete_rapid_review(
            partnership=PARTNERSHIP,
            review="r-1",
            recorded_by=LA,
            completed_at=T0 - timedelta(days=50),
            decision="local_review",
            occurred_at=T0 - timedelta(days=50),
        )
        ledger.commission_review(
            partnership=PARTNERSHIP,
            review="r-1",
            recorded_by=LA,
            level="local",
            commissioned_at=T0 - timedelta(days=45),
            occurred_at=T0 - timedelta(days=45),
        )
        ledger.publish_review(
            partnership=PARTNERSHIP,
            review="r-1",
            recorded_by=LA,
            published_at=T0 - timedelta(days=5),
            title="SENSITIVE title",
            occurred_at=T0 - timedelta(days=5),
        )
        for rec, due in (
            ("a", date(2026, 2, 1)),
            ("b", date(2026, 2, 1)),
            ("c", date(2026, 6, 1)),
            ("d", date(2026, 2, 1)),
        ):
            issue(
                ledger,
                "r-1",
                rec,
                owner="police",
                due=due,
                theme="escalation",
                at=T0 - timedelta(days=30),
            )
        step(ledger, "accept_recommendation", "r-1", "b", POLICE, T0 - timedelta(days=20))
        step(ledger, "accept_recommendation", "r-1", "c", POLICE, T0 - timedelta(days=20))
        step(ledger, "implement_recommendation", "r-1", "c", POLICE, T0 - timedelta(days=2))
        step(
            ledger, "reject_recommendation", "r-1", "d", POLICE, T0 - timedelta(days=20), basis="x"
        )
        notify(ledger, "r-2", T0 - timedelta(days=1))
        view = view_of(ledger, view_store)

        first, second = view.reviews(PARTNERSHIP)
        assert (first.review, first.case, first.incident, first.level) == (
            "r-1",
            CASE,
            "serious_harm",
            ReviewLevel.LOCAL,
        )
        assert (
            first.notified_panel_at,
            first.rapid_review,
            first.commissioned_at,
            first.published_at,
        ) == (
            T0 - timedelta(days=60),
            "local_review",
            T0 - timedelta(days=45),
            T0 - timedelta(days=5),
        )
        counts = (
            first.recommendations,
            first.issued,
            first.accepted,
            first.rejected,
            first.implemented,
            first.overdue,
        )
        assert counts == (4, 1, 1, 1, 1, 2)  # a (issued) and b (accepted) are past 1 February
        assert first.as_of == TODAY
        assert (second.review, second.case, second.level, second.recommendations) == (
            "r-2",
            None,
            None,
            0,
        )

        before = view.reviews(PARTNERSHIP, as_of=(T0 - timedelta(days=10)).date())
        assert [r.review for r in before] == ["r-1"]
        assert (before[0].published_at, before[0].implemented, before[0].accepted) == (None, 0, 2)


class TestThemes:
    @pytest.fixture
    def two_years(self, ledger: Ledger) -> Ledger:
        """r-2025 raises information sharing and seen alone in 2025; r-2026 raises both again
        in 2026, where r-2025 returns to escalation and r-2026 raises escalation too."""
        spring_2025 = datetime(2025, 4, 10, 10, tzinfo=UTC)
        notify(ledger, "r-2025", spring_2025)
        for rec, owner, theme, at in (
            ("a", "police", "information_sharing", spring_2025),
            ("b", "health", "seen_alone", spring_2025),
            ("c", "health", "seen_alone", spring_2025 + timedelta(days=100)),
        ):
            issue(ledger, "r-2025", rec, owner=owner, due=date(2025, 12, 1), theme=theme, at=at)
        notify(ledger, "r-2026", T0 - timedelta(days=10))
        issue(
            ledger, "r-2026", "a", owner="police", due=date(2026, 9, 1), theme="information_sharing"
        )
        issue(ledger, "r-2026", "b", owner="police", due=date(2026, 9, 1), theme="escalation")
        issue(ledger, "r-2025", "d", owner="police", due=date(2026, 9, 1), theme="escalation")
        return ledger

    def test_themes_count_recommendations_and_distinct_reviews_per_year(
        self, two_years: Ledger, view_store: ViewStore
    ) -> None:
        view = view_of(two_years, view_store)
        got = [
            (t.theme.value, t.period, t.recommendations, t.reviews, t.recurring)
            for t in view.themes(PARTNERSHIP)
        ]
        assert got == [
            ("escalation", "2026", 2, 2, False),  # two reviews, but in one year only
            ("information_sharing", "2025", 1, 1, True),
            ("information_sharing", "2026", 1, 1, True),
            ("seen_alone", "2025", 2, 1, False),  # one review, raised twice
        ]

    def test_themes_by_quarter(self, two_years: Ledger, view_store: ViewStore) -> None:
        view = view_of(two_years, view_store)
        got = [
            (t.theme.value, t.period, t.recommendations)
            for t in view.themes(PARTNERSHIP, period="quarter")
        ]
        assert got == [
            ("escalation", "2026-Q1", 2),
            ("information_sharing", "2025-Q2", 1),
            ("information_sharing", "2026-Q1", 1),
            ("seen_alone", "2025-Q2", 1),
            ("seen_alone", "2025-Q3", 1),
        ]

    def test_recurring_themes_list_those_raised_by_enough_reviews_with_their_periods(
        self, two_years: Ledger, view_store: ViewStore
    ) -> None:
        view = view_of(two_years, view_store)
        recurring = view.recurring_themes(PARTNERSHIP)
        assert [
            (t.theme, t.reviews, t.review_ids, t.periods, t.recommendations) for t in recurring
        ] == [
            (Theme.INFORMATION_SHARING, 2, ["r-2025", "r-2026"], ["2025", "2026"], 2),
        ]
        sharing = recurring[0]
        assert (sharing.first_issued, sharing.last_issued) == (date(2025, 4, 10), TODAY)
        assert view.recurring_themes(PARTNERSHIP, min_reviews=3) == []

    @pytest.mark.parametrize("period", ["year", "quarter"])
    def test_two_reviews_of_one_period_are_not_a_recurring_theme_as_in_themes(
        self, two_years: Ledger, view_store: ViewStore, period: Any
    ) -> None:
        # Escalation: r-2025 and r-2026 both raised it in 2026 (Q1), and nowhere else.
        view = view_of(two_years, view_store)
        listed = {t.theme for t in view.recurring_themes(PARTNERSHIP, period=period)}
        flagged = {t.theme for t in view.themes(PARTNERSHIP, period=period) if t.recurring}
        assert listed == flagged == {Theme.INFORMATION_SHARING}


class TestRebuild:
    def test_applying_one_event_at_a_time_equals_a_rebuild(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        notify(ledger, "r-1", T0 - timedelta(days=10))
        ledger.commission_review(
            partnership=PARTNERSHIP,
            review="r-1",
            recorded_by=LA,
            level="national",
            commissioned_at=T0 - timedelta(days=9),
            occurred_at=T0 - timedelta(days=9),
        )
        issue(ledger, "r-1", "a", owner="police", due=date(2026, 5, 1), theme="neglect")
        step(ledger, "accept_recommendation", "r-1", "a", POLICE, T0)
        report(ledger, "a", "amber", T0)
        view = RecommendationView(view_store, clock=lambda: T0)
        _, answer = assert_rebuild_changes_nothing(
            ledger,
            view_store,
            view,
            lambda: (view.recommendations(PARTNERSHIP), view.reviews(PARTNERSHIP)),
        )
        assert [(r.state, r.rag, r.rag_source) for r in answer[0]] == [
            ("accepted", RagStatus.AMBER, "reported")
        ]
        assert [r.level for r in answer[1]] == [ReviewLevel.NATIONAL]


class TestPrivacyAndValidation:
    def test_no_free_text_reaches_the_view(self, ledger: Ledger, view_store: ViewStore) -> None:
        notify(ledger, "r-1", T0 - timedelta(days=5))
        ledger.publish_review(
            partnership=PARTNERSHIP,
            review="r-1",
            recorded_by=LA,
            published_at=T0 - timedelta(days=4),
            title="SENSITIVE title",
            occurred_at=T0 - timedelta(days=4),
        )
        issue(ledger, "r-1", "a", owner="police", due=date(2026, 5, 1), theme="neglect")
        report(ledger, "a", "amber", T0, note="SENSITIVE note")
        view = view_of(ledger, view_store)
        tables = dump(view_store, [view])
        assert len(tables["rec_progress"]) == 1
        assert "SENSITIVE" not in repr(tables)
        assert CHILD not in repr(tables)

    @pytest.mark.parametrize(
        ("field", "call"),
        [
            ("partnership", lambda v: v.recommendations("North Shire")),
            ("review", lambda v: v.recommendations(PARTNERSHIP, review="R 1")),
            ("owner", lambda v: v.recommendations(PARTNERSHIP, owner="")),
            ("status", lambda v: v.recommendations(PARTNERSHIP, status="done")),
            ("theme", lambda v: v.recommendations(PARTNERSHIP, theme="lessons")),
            ("as_of", lambda v: v.recommendations(PARTNERSHIP, as_of=T0)),
            ("as_of", lambda v: v.reviews(PARTNERSHIP, as_of="2026-02-30")),
            ("partnership", lambda v: v.reviews("x y")),
            ("period", lambda v: v.themes(PARTNERSHIP, period="month")),
            ("min_reviews", lambda v: v.recurring_themes(PARTNERSHIP, min_reviews=0)),
            ("min_reviews", lambda v: v.recurring_themes(PARTNERSHIP, min_reviews=1)),
            ("period", lambda v: v.recurring_themes(PARTNERSHIP, period="decade")),
        ],
    )
    def test_a_bad_query_argument_is_refused_naming_the_field_and_the_rule(
        self, view_store: ViewStore, field: str, call: Any
    ) -> None:
        view = RecommendationView(view_store)
        assert_refused(field, lambda: call(view))
