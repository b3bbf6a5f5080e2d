"""The directory view, on SQLite and on PostgreSQL: partnerships, agencies, cases, parties."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ledger_scenario import CASE, LA, PARTNERSHIP, T0, FixedClock
from views_support import assert_rebuild_changes_nothing, assert_refused, catch_up, demo_ledger

from ledger.application import Ledger
from projections._store import ViewStore
from projections.catalogue import VIEW_NAMES, Views
from projections.directory import DirectoryView
from projections.errors import UnknownEntity


@pytest.fixture
def ledger(clock: FixedClock) -> Ledger:
    """The demo partnership with cases c-1 (la and police) and c-2 and c-3 (la alone)."""
    app = demo_ledger(clock, CASE, joined=["police"])
    for case in ("c-3", "c-2"):
        app.open_case(
            partnership=PARTNERSHIP,
            case=case,
            recorded_by=LA,
            children=[{"child": "ch_0123456789abcdef", "age_band": "5_9"}],
        )
    return app


@pytest.fixture
def view(ledger: Ledger, view_store: ViewStore) -> DirectoryView:
    view = DirectoryView(view_store)
    catch_up(ledger, view_store, view)
    return view


def _later(ledger: Ledger, view_store: ViewStore, view: DirectoryView) -> None:
    """Apply what ``ledger`` recorded since ``view`` last caught up."""
    catch_up(ledger, view_store, view)


class TestPartnershipsAndAgencies:
    def test_a_partnership_keeps_what_its_establishment_carried(self, view: DirectoryView) -> None:
        (found,) = view.partnerships()
        assert found == view.partnership(PARTNERSHIP)
        assert (found.partnership, found.nation, found.sequence) == (PARTNERSHIP, "england", 1)
        assert found.established_at == T0
        assert [s.stage for s in found.escalation_stages] == [1, 2, 3]
        assert found.escalation_stages[2].response_working_days == 10
        assert found.strategy_discussion_working_days == 3

    def test_agencies_are_listed_by_id_with_kind_and_role(self, view: DirectoryView) -> None:
        agencies = view.agencies(PARTNERSHIP)
        assert [a.agency for a in agencies] == ["health", "la", "police"]
        police = view.agency(PARTNERSHIP, "police")
        assert police in agencies
        assert (police.kind, police.role, police.name) == ("police", "statutory_partner", "Police")
        assert police.registered_at == T0

    def test_an_unknown_partnership_is_refused_by_every_query_never_an_empty_list(
        self, view: DirectoryView
    ) -> None:
        calls = [
            lambda: view.partnership("elsewhere"),
            lambda: view.agencies("elsewhere"),
            lambda: view.agency("elsewhere", "la"),
            lambda: view.cases("elsewhere"),
            lambda: view.case("elsewhere", CASE),
            lambda: view.is_party("elsewhere", CASE, "la"),
        ]
        for call in calls:
            with pytest.raises(UnknownEntity, match=r"^partnership 'elsewhere' is not known") as e:
                call()
            assert (e.value.kind, e.value.value) == ("partnership", "elsewhere")

    def test_an_unregistered_agency_is_unknown(self, view: DirectoryView) -> None:
        with pytest.raises(UnknownEntity, match=r"^agency 'school' is not known") as info:
            view.agency(PARTNERSHIP, "school")
        assert (info.value.kind, info.value.value) == ("agency", "school")
        with pytest.raises(UnknownEntity, match=r"^agency 'school'"):
            view.cases(PARTNERSHIP, agency="school")

    def test_an_unknown_case_is_refused(self, view: DirectoryView) -> None:
        for call in (
            lambda: view.case(PARTNERSHIP, "c-9"),
            lambda: view.is_party(PARTNERSHIP, "c-9", "la"),
        ):
            with pytest.raises(UnknownEntity, match=r"^case 'c-9' is not known") as info:
                call()
            assert info.value.kind == "case"


class TestCases:
    def test_cases_are_ordered_by_id_with_lead_state_and_parties(self, view: DirectoryView) -> None:
        cases = view.cases(PARTNERSHIP)
        assert [c.case for c in cases] == ["c-1", "c-2", "c-3"]
        first = cases[0]
        assert first == view.case(PARTNERSHIP, CASE)
        assert (first.lead_agency, first.state, first.parties) == ("la", "open", ["la", "police"])
        assert first.sequence == 5
        assert first.former_parties == []
        assert [(s.agency, s.left_at) for s in first.history] == [("la", None), ("police", None)]

    def test_pages_follow_the_keyset_cursor_to_the_end(self, view: DirectoryView) -> None:
        page = view.cases(PARTNERSHIP, limit=2)
        assert [c.case for c in page] == ["c-1", "c-2"]
        rest = view.cases(PARTNERSHIP, after=page[-1].case, limit=2)
        assert [c.case for c in rest] == ["c-3"]
        assert view.cases(PARTNERSHIP, after="c-3") == []

    def test_a_party_that_left_is_a_former_party_and_no_longer_lists_the_case(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore, view: DirectoryView
    ) -> None:
        joined = clock.now
        left = clock.advance(hours=2)
        ledger.leave_case(partnership=PARTNERSHIP, case=CASE, recorded_by=LA, agency="police")
        _later(ledger, view_store, view)
        assert not view.is_party(PARTNERSHIP, CASE, "police")
        assert view.is_party(PARTNERSHIP, CASE, "la")
        assert view.cases(PARTNERSHIP, agency="police") == []
        case = view.case(PARTNERSHIP, CASE)
        assert (case.parties, case.former_parties) == (["la"], ["police"])
        assert case.was_party("police", joined)
        assert case.was_party("police", left - timedelta(microseconds=1))
        assert not case.was_party("police", left)
        assert not case.was_party("health", joined)

    def test_an_agency_that_rejoins_has_two_spells_and_is_a_party_again(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore, view: DirectoryView
    ) -> None:
        clock.advance(hours=1)
        ledger.leave_case(partnership=PARTNERSHIP, case=CASE, recorded_by=LA, agency="police")
        gone = clock.advance(hours=1)
        ledger.join_case(partnership=PARTNERSHIP, case=CASE, recorded_by=LA, agency="police")
        _later(ledger, view_store, view)
        case = view.case(PARTNERSHIP, CASE)
        assert [s.agency for s in case.history] == ["la", "police", "police"]
        assert (case.parties, case.former_parties) == (["la", "police"], [])
        assert not case.was_party("police", gone - timedelta(minutes=30))
        assert case.was_party("police", gone)
        assert [c.case for c in view.cases(PARTNERSHIP, agency="police")] == [CASE]

    def test_closing_a_case_sets_its_state_and_the_state_filter_follows(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore, view: DirectoryView
    ) -> None:
        closed = clock.advance(days=3)
        ledger.close_case(
            partnership=PARTNERSHIP, case="c-2", recorded_by=LA, reason="no_further_action"
        )
        _later(ledger, view_store, view)
        case = view.case(PARTNERSHIP, "c-2")
        assert (case.state, case.closed_at, case.closure_reason) == (
            "closed",
            closed,
            "no_further_action",
        )
        assert [c.case for c in view.cases(PARTNERSHIP, state="closed")] == ["c-2"]
        assert [c.case for c in view.cases(PARTNERSHIP, state="open")] == ["c-1", "c-3"]
        assert [c.case for c in view.cases(PARTNERSHIP, state="open", agency="la")] == [
            "c-1",
            "c-3",
        ]

    def test_ids_page_in_bytewise_order_on_both_databases(
        self, ledger: Ledger, view_store: ViewStore, view: DirectoryView
    ) -> None:
        for case in ("c_1", "c1", "c-10", "b-9"):
            ledger.open_case(
                partnership=PARTNERSHIP,
                case=case,
                recorded_by=LA,
                children=[{"child": "ch_0123456789abcdef", "age_band": "5_9"}],
            )
        _later(ledger, view_store, view)
        ids = [c.case for c in view.cases(PARTNERSHIP)]
        assert ids == sorted(ids, key=str.encode)
        paged, after = [], None
        while page := view.cases(PARTNERSHIP, after=after, limit=3):
            paged += [c.case for c in page]
            after = page[-1].case
        assert paged == ids


class TestQueries:
    def test_bad_arguments_are_refused_naming_the_field_and_rule(self, view: DirectoryView) -> None:
        assert_refused("partnership", lambda: view.partnership("North Shire"))
        assert_refused("agency", lambda: view.agency(PARTNERSHIP, "LA"))
        assert_refused("case", lambda: view.case(PARTNERSHIP, "c 1"))
        assert_refused("state", lambda: view.cases(PARTNERSHIP, state="pending"))  # type: ignore[arg-type]
        assert_refused("after", lambda: view.cases(PARTNERSHIP, after="C-1"))
        assert_refused("limit", lambda: view.cases(PARTNERSHIP, limit=0))
        assert_refused("limit", lambda: view.cases(PARTNERSHIP, limit=1001))
        case = view.case(PARTNERSHIP, CASE)
        assert_refused("at", lambda: case.was_party("la", T0.replace(tzinfo=None)))

    def test_a_rebuild_changes_nothing(self, ledger: Ledger, view_store: ViewStore) -> None:
        ledger.leave_case(partnership=PARTNERSHIP, case=CASE, recorded_by=LA, agency="police")
        view = DirectoryView(view_store)
        assert_rebuild_changes_nothing(
            ledger, view_store, view, lambda: (view.partnerships(), view.cases(PARTNERSHIP))
        )

    def test_the_directory_is_one_of_the_views(self, view_store: ViewStore) -> None:
        views = Views(view_store)
        assert "directory" in VIEW_NAMES
        assert isinstance(views.directory, DirectoryView)
        assert views.directory in views.select(["directory"])
