"""The opt-out register, on SQLite and on PostgreSQL: bases, overdue requests, quarters, repeats."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from ledger_scenario import CASE, CHILD, HEALTH, LA, PARTNERSHIP, POLICE, FixedClock
from views_support import assert_rebuild_changes_nothing, assert_refused, catch_up, demo_ledger

from ledger.application import Ledger
from projections._store import ViewStore
from projections.optouts import OptOutEntry, OptOutView, QuarterCount, RepeatPattern

#: Monday 1 June 2026: every event below happened before the ledger's clock.
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def at(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def ledger(clock: FixedClock) -> Ledger:
    return demo_ledger(clock, CASE, "c-2", joined=["police", "health"])


def refuse(
    ledger: Ledger,
    when: datetime,
    *,
    agency: str = "police",
    case: str = CASE,
    kind: str = "information_withheld",
    basis: str = "no_stated_basis",
    **more: Any,
) -> None:
    ledger.refuse_cooperation(
        partnership=PARTNERSHIP,
        case=case,
        recorded_by=LA,
        agency=agency,
        kind=kind,
        basis=basis,
        occurred_at=when,
        **more,
    )


def request(
    ledger: Ledger, request: str, *, to: str = "police", by: dict[str, str] = LA, **more: Any
) -> None:
    """``by`` asks ``to`` for information on case c-1."""
    ledger.request_information(
        partnership=PARTNERSHIP, case=CASE, recorded_by=by, request=request, to_agency=to, **more
    )


def notify_incident(ledger: Ledger, **more: Any) -> None:
    """Review rv-1 of a serious incident on case c-1, notified on 2 March 2026."""
    ledger.notify_serious_incident(
        partnership=PARTNERSHIP,
        review="rv-1",
        recorded_by=LA,
        child=CHILD,
        incident="serious_harm",
        became_aware_at=at(2026, 3, 1),
        notified_panel_at=at(2026, 3, 2),
        case=CASE,
        **more,
    )


def register(ledger: Ledger, store: ViewStore, clock: FixedClock | None = None) -> OptOutView:
    view = OptOutView(store) if clock is None else OptOutView(store, clock=clock)
    catch_up(ledger, store, view)
    return view


class TestRefusals:
    def test_a_decision_not_to_share_stands_apart_from_a_refusal_with_no_stated_basis(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        refuse(
            ledger,
            at(2026, 3, 2),
            basis="more_detrimental_to_child",
            reason="Sharing now would alert the adult under investigation",
        )
        refuse(ledger, at(2026, 3, 3), agency="health", kind="report_not_provided")
        refuse(ledger, at(2026, 3, 4), basis="legal_prohibition")
        view = register(ledger, view_store)

        entries = view.entries(PARTNERSHIP)
        assert [(e.agency, e.kind, e.basis, e.standing) for e in entries] == [
            (
                "police",
                "information_withheld",
                "more_detrimental_to_child",
                "decision_not_to_share",
            ),
            ("health", "report_not_provided", "no_stated_basis", "no_stated_basis"),
            ("police", "information_withheld", "legal_prohibition", "stated_basis"),
        ]
        first = entries[0]
        assert first.reason == "Sharing now would alert the adult under investigation"
        assert (first.category, first.case, first.recorded_by) == ("refusal", CASE, "la")
        assert first.occurred_on == date(2026, 3, 2)
        assert entries[1].reason is None

        unstated = view.entries(PARTNERSHIP, standing="no_stated_basis")
        assert [e.agency for e in unstated] == ["health"]
        s16la = view.entries(PARTNERSHIP, standing="decision_not_to_share")
        assert [e.occurred_on for e in s16la] == [date(2026, 3, 2)]

    def test_a_meeting_not_attended_is_registered_as_non_attendance(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        refuse(ledger, at(2026, 3, 2), agency="health", kind="meeting_not_attended")
        view = register(ledger, view_store)

        [entry] = view.entries(PARTNERSHIP)
        assert (entry.category, entry.kind, entry.agency) == (
            "non_attendance",
            "meeting_not_attended",
            "health",
        )


class TestUnansweredRequests:
    def test_a_request_is_overdue_only_as_of_after_its_due_day_and_not_once_answered(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        request(
            ledger,
            "rq-1",
            due_by=at(2026, 3, 10, 17),
            occurred_at=at(2026, 3, 2),
            note="What is known about the adults in the household",
        )
        ledger.provide_information(
            partnership=PARTNERSHIP,
            case=CASE,
            recorded_by=POLICE,
            request="rq-1",
            occurred_at=at(2026, 3, 13),
        )
        view = register(ledger, view_store)

        assert view.entries(PARTNERSHIP) == []
        assert view.entries(PARTNERSHIP, as_of=date(2026, 3, 10)) == []
        [overdue] = view.entries(PARTNERSHIP, as_of=date(2026, 3, 12))
        assert overdue == OptOutEntry(
            sequence=overdue.sequence,
            category="unanswered_request",
            kind="request_not_answered",
            agency="police",
            recorded_by="la",
            occurred_at=at(2026, 3, 10, 17),
            occurred_on=date(2026, 3, 10),
            standing="no_stated_basis",
            case=CASE,
            request="rq-1",
            requested_by="la",
            due_by=at(2026, 3, 10, 17),
            days_overdue=2,
        )
        assert view.entries(PARTNERSHIP, as_of=date(2026, 3, 13)) == []
        assert view.entries(PARTNERSHIP, as_of=date(2026, 5, 1)) == []

    def test_a_request_still_unanswered_stays_overdue_and_counts_its_days(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        request(ledger, "rq-2", by=HEALTH, due_by=at(2026, 3, 10, 23), occurred_at=at(2026, 3, 2))
        request(ledger, "rq-3", to="health", occurred_at=at(2026, 3, 2))
        view = register(ledger, view_store)

        # 23:00 UTC on 10 March is still 10 March in London (GMT until 29 March).
        [overdue] = view.entries(PARTNERSHIP, as_of=date(2026, 4, 9))
        assert (overdue.request, overdue.requested_by, overdue.days_overdue) == (
            "rq-2",
            "health",
            30,
        )
        assert view.entries(PARTNERSHIP, as_of=date(2026, 4, 9), agency="health") == []

    def test_a_refused_request_is_registered_as_its_refusal_and_not_again_as_overdue(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        request(ledger, "rq-4", due_by=at(2026, 3, 10), occurred_at=at(2026, 3, 2))
        refuse(ledger, at(2026, 3, 16), kind="request_not_answered", request="rq-4")
        view = register(ledger, view_store)

        before = view.entries(PARTNERSHIP, as_of=date(2026, 3, 12))
        assert [(e.category, e.days_overdue, e.occurred_on) for e in before] == [
            ("unanswered_request", 2, date(2026, 3, 10)),
            ("unanswered_request", None, date(2026, 3, 16)),
        ]
        [refusal] = view.entries(PARTNERSHIP, as_of=date(2026, 3, 20))
        assert (refusal.kind, refusal.request, refusal.requested_by, refusal.standing) == (
            "request_not_answered",
            "rq-4",
            "la",
            "no_stated_basis",
        )
        assert refusal.days_overdue is None


class TestRejectedRecommendations:
    def test_a_rejection_is_registered_with_its_written_basis_under_the_reviews_case(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        notify_incident(ledger, occurred_at=at(2026, 3, 2))
        ledger.issue_recommendation(
            partnership=PARTNERSHIP,
            review="rv-1",
            recorded_by=LA,
            recommendation="rec-1",
            owner="police",
            due=date(2026, 9, 30),
            theme="information_sharing",
            text="Share custody records with children's social care within 24 hours",
            occurred_at=at(2026, 4, 1),
        )
        ledger.reject_recommendation(
            partnership=PARTNERSHIP,
            review="rv-1",
            recorded_by=POLICE,
            recommendation="rec-1",
            basis="Already covered by the force's own policy",
            occurred_at=at(2026, 4, 20),
        )
        view = register(ledger, view_store)

        [entry] = view.entries(PARTNERSHIP, case=CASE)
        assert (entry.category, entry.kind, entry.agency) == (
            "rejected_recommendation",
            "recommendation_rejected",
            "police",
        )
        assert (entry.review, entry.recommendation, entry.case) == ("rv-1", "rec-1", CASE)
        assert (entry.basis, entry.standing) == (None, "stated_basis")
        assert entry.reason == "Already covered by the force's own policy"


class TestFilters:
    def test_entries_are_filtered_by_agency_kind_case_and_dates(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        refuse(ledger, at(2026, 2, 2))
        refuse(ledger, at(2026, 3, 2), case="c-2", kind="meeting_not_attended")
        refuse(ledger, at(2026, 4, 2), agency="health")
        refuse(ledger, at(2026, 5, 2), agency="health", case="c-2", kind="meeting_not_attended")
        view = register(ledger, view_store)

        def days(**filters: Any) -> list[date]:
            return [e.occurred_on for e in view.entries(PARTNERSHIP, **filters)]

        assert days(agency="police") == [date(2026, 2, 2), date(2026, 3, 2)]
        assert days(kind="meeting_not_attended") == [date(2026, 3, 2), date(2026, 5, 2)]
        assert days(case="c-2") == [date(2026, 3, 2), date(2026, 5, 2)]
        assert days(date_from=date(2026, 3, 2), date_to=date(2026, 4, 2)) == [
            date(2026, 3, 2),
            date(2026, 4, 2),
        ]
        assert days(agency="health", case="c-2", date_to=date(2026, 4, 30)) == []


class TestCountsByQuarter:
    def test_opt_outs_are_counted_per_agency_per_london_quarter_per_kind(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        refuse(ledger, at(2026, 1, 15), basis="more_detrimental_to_child")
        refuse(ledger, at(2026, 2, 15))
        refuse(ledger, at(2026, 3, 10), kind="meeting_not_attended")
        # 23:30 UTC on 31 March is 00:30 on 1 April in London (BST): the second quarter.
        refuse(ledger, datetime(2026, 3, 31, 23, 30, tzinfo=UTC))
        refuse(ledger, at(2026, 2, 20), agency="health", basis="consent_not_given")
        refuse(ledger, at(2025, 11, 3))
        view = register(ledger, view_store)

        def count(
            agency: str, quarter: str, kind: str, n: int, unstated: int, s16la: int
        ) -> QuarterCount:
            return QuarterCount(
                agency=agency,
                quarter=quarter,
                kind=kind,
                count=n,
                without_stated_basis=unstated,
                decisions_not_to_share=s16la,
            )

        assert view.counts_by_quarter(PARTNERSHIP, year=2026) == [
            count("health", "2026-Q1", "information_withheld", 1, 0, 0),
            count("police", "2026-Q1", "information_withheld", 2, 1, 1),
            count("police", "2026-Q1", "meeting_not_attended", 1, 1, 0),
            count("police", "2026-Q2", "information_withheld", 1, 1, 0),
        ]
        assert [c.quarter for c in view.counts_by_quarter(PARTNERSHIP)] == [
            "2025-Q4",
            "2026-Q1",
            "2026-Q1",
            "2026-Q1",
            "2026-Q2",
        ]
        assert view.counts_by_quarter(PARTNERSHIP, year=2024) == []


class TestRepeatedRefusals:
    def test_an_agency_reaching_the_threshold_within_the_window_is_a_repeat_pattern(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        refuse(ledger, at(2025, 3, 1))  # outside a 365-day window ending 31 March 2026
        refuse(ledger, at(2025, 6, 1), kind="meeting_not_attended")
        refuse(ledger, at(2026, 2, 1), basis="more_detrimental_to_child")
        refuse(ledger, at(2026, 3, 1))
        refuse(ledger, at(2026, 3, 5), agency="health")
        refuse(ledger, at(2026, 3, 6), agency="health")
        view = register(ledger, view_store)

        everything = view.repeated(
            PARTNERSHIP, as_of=date(2026, 3, 31), include_decisions_not_to_share=True
        )
        assert everything == [
            RepeatPattern(
                agency="police",
                count=3,
                kinds={"information_withheld": 2, "meeting_not_attended": 1},
                without_stated_basis=2,
                decisions_not_to_share=1,
                first_on=date(2025, 6, 1),
                last_on=date(2026, 3, 1),
                window_from=date(2025, 4, 1),
                window_to=date(2026, 3, 31),
            ),
        ]
        assert [
            p.agency for p in view.repeated(PARTNERSHIP, threshold=2, as_of=date(2026, 3, 31))
        ] == ["health", "police"]
        assert view.repeated(PARTNERSHIP, threshold=4, as_of=date(2026, 3, 31)) == []
        assert view.repeated(PARTNERSHIP, within_days=60, as_of=date(2026, 3, 31)) == []
        assert view.repeated(PARTNERSHIP, as_of=date(2025, 6, 1), threshold=2)[0].count == 2

    def test_lawful_decisions_not_to_share_are_shown_apart_and_not_counted_as_repeats(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        for day in (2, 3, 4):
            refuse(ledger, at(2026, 3, day), basis="more_detrimental_to_child")
        refuse(ledger, at(2026, 3, 5), kind="meeting_not_attended")
        for day in (9, 10):
            refuse(ledger, at(2026, 3, day), agency="health")
        refuse(ledger, at(2026, 3, 11), agency="health", basis="legal_prohibition")
        refuse(ledger, at(2026, 3, 12), agency="health", basis="more_detrimental_to_child")
        view = register(ledger, view_store)

        [health] = view.repeated(PARTNERSHIP, as_of=date(2026, 3, 31))
        assert health == RepeatPattern(
            agency="health",
            count=3,
            kinds={"information_withheld": 3},
            without_stated_basis=2,
            decisions_not_to_share=1,  # shown, not counted
            first_on=date(2026, 3, 9),
            last_on=date(2026, 3, 11),
            window_from=date(2025, 4, 1),
            window_to=date(2026, 3, 31),
        )
        everything = view.repeated(
            PARTNERSHIP, as_of=date(2026, 3, 31), include_decisions_not_to_share=True
        )
        assert [(p.agency, p.count, p.decisions_not_to_share, p.last_on) for p in everything] == [
            ("health", 4, 1, date(2026, 3, 12)),
            ("police", 4, 3, date(2026, 3, 5)),
        ]

    def test_without_as_of_the_window_ends_today_by_the_views_clock(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        for month in (2, 3, 4):
            refuse(ledger, at(2026, month, 1))
        view = register(ledger, view_store, clock)

        [pattern] = view.repeated(PARTNERSHIP)
        assert (pattern.window_from, pattern.window_to) == (date(2025, 6, 2), date(2026, 6, 1))
        clock.advance(days=365)
        assert view.repeated(PARTNERSHIP) == []


class TestRebuild:
    def test_applying_event_by_event_gives_the_same_rows_as_a_rebuild(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        notify_incident(ledger)
        request(ledger, "rq-1", due_by=at(2026, 3, 10), occurred_at=at(2026, 3, 2))
        refuse(ledger, at(2026, 3, 16), kind="request_not_answered", request="rq-1")
        refuse(ledger, at(2026, 3, 17), agency="health", case="c-2", reason="r")
        view = OptOutView(view_store)
        one_by_one, _ = assert_rebuild_changes_nothing(
            ledger, view_store, view, lambda: view.entries(PARTNERSHIP, as_of=date(2026, 3, 12))
        )
        assert [len(one_by_one[t]) for t in view.table_names] == [2, 1, 1]


class TestQueryValidation:
    @pytest.mark.parametrize(
        ("query", "kwargs", "field"),
        [
            ("entries", {"partnership": "North Shire"}, "partnership"),
            ("entries", {"agency": "Police Force"}, "agency"),
            ("entries", {"case": "c 1"}, "case"),
            ("entries", {"kind": "refused"}, "kind"),
            ("entries", {"standing": "excused"}, "standing"),
            ("entries", {"date_from": date(2026, 3, 2), "date_to": date(2026, 3, 1)}, "date_from"),
            ("entries", {"date_to": datetime(2026, 3, 1, tzinfo=UTC)}, "date_to"),
            ("entries", {"as_of": "2026-3-1"}, "as_of"),
            ("counts_by_quarter", {"year": 26}, "year"),
            ("repeated", {"threshold": 1}, "threshold"),
            ("repeated", {"within_days": 0}, "within_days"),
            ("repeated", {"as_of": datetime(2026, 3, 1, tzinfo=UTC)}, "as_of"),
            (
                "repeated",
                {"include_decisions_not_to_share": "yes"},
                "include_decisions_not_to_share",
            ),
        ],
    )
    def test_a_query_argument_outside_its_rule_is_refused_naming_the_field(
        self, view_store: ViewStore, query: str, kwargs: dict[str, Any], field: str
    ) -> None:
        view = OptOutView(view_store)
        arguments = {"partnership": PARTNERSHIP} | kwargs
        assert_refused(
            field, lambda: getattr(view, query)(arguments.pop("partnership"), **arguments)
        )
