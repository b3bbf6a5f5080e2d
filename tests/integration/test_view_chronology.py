"""The case chronology view, on SQLite and on PostgreSQL: order, sources, seen-alone, as-of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ledger_scenario import CASE, CHILD, HEALTH, LA, PARTNERSHIP, POLICE, T0, FixedClock
from views_support import assert_refused, catch_up, demo_ledger

from ledger.application import Ledger
from projections._store import ViewStore
from projections.chronology import ChronologyView
from projections.directory import DirectoryView


@pytest.fixture
def ledger(clock: FixedClock) -> Ledger:
    return demo_ledger(clock, CASE, joined=["police"])


class TestChronology:
    def test_entries_are_in_occurred_order_with_agency_source_and_seen_alone(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        clock.advance(hours=2)
        ledger.record_action(
            partnership=PARTNERSHIP,
            case=CASE,
            recorded_by=LA,
            action="child_seen",
            child=CHILD,
            seen=True,
            seen_alone=False,
            occurred_at=T0 + timedelta(hours=1),
        )
        ledger.record_action(
            partnership=PARTNERSHIP,
            case=CASE,
            recorded_by=POLICE,
            action="strategy_discussion",
            outcome="section47",
            occurred_at=T0 + timedelta(minutes=30),
        )
        view = ChronologyView(view_store)
        catch_up(ledger, view_store, view)
        entries = view.chronology(PARTNERSHIP, CASE).entries
        assert [e.event_type for e in entries] == [
            "CaseOpened",
            "AgencyJoinedCase",
            "ActionRecorded",
            "ActionRecorded",
        ]
        strategy, seen = entries[2], entries[3]
        assert (strategy.agency, strategy.action, strategy.outcome) == (
            "police",
            "strategy_discussion",
            "section47",
        )
        assert strategy.what == "Strategy discussion (outcome: section47)"
        assert (seen.child, seen.child_seen, seen.seen_alone) == (CHILD, True, False)
        assert seen.source == "case_record"
        assert not any(e.recorded_late for e in entries)

    def test_a_late_recording_is_absent_before_it_was_recorded_and_in_place_after(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        happened = T0 + timedelta(hours=3)
        clock.advance(days=1)
        ledger.record_action(
            partnership=PARTNERSHIP,
            case=CASE,
            recorded_by=LA,
            action="home_visit",
            occurred_at=T0 + timedelta(hours=5),
        )
        clock.advance(days=9)
        late = ledger.record_action(
            partnership=PARTNERSHIP,
            case=CASE,
            recorded_by=HEALTH | {"agency": "police"},
            action="information_shared",
            occurred_at=happened,
        )
        recorded = clock.now
        clock.advance(days=1)
        ledger.explain_late_recording(
            partnership=PARTNERSHIP,
            case=CASE,
            recorded_by=POLICE,
            event_sequence=late.sequence,
            reason="x",
        )
        view = ChronologyView(view_store)
        catch_up(ledger, view_store, view)

        before = view.chronology(PARTNERSHIP, CASE, as_of=recorded - timedelta(seconds=1)).entries
        assert "information_shared" not in [e.action for e in before]

        at = view.chronology(PARTNERSHIP, CASE, as_of=recorded).entries
        assert [e.action for e in at] == [None, None, "information_shared", "home_visit"]
        shared = at[2]
        assert shared.recorded_late
        assert not shared.late_explained
        assert shared.recording_delay_s == int((recorded - happened).total_seconds())

        now = view.chronology(PARTNERSHIP, CASE).entries
        assert [e.late_explained for e in now if e.action == "information_shared"] == [True]
        assert now[-1].explains_sequence == late.sequence

    def test_a_chronology_never_holds_free_text(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        ledger.record_action(
            partnership=PARTNERSHIP,
            case=CASE,
            recorded_by=LA,
            action="home_visit",
            note="SENSITIVE NOTE ABOUT THE FAMILY",
            source={"kind": "case_record", "reference": "FILE OF THE FAMILY 17"},
        )
        view = ChronologyView(view_store)
        catch_up(ledger, view_store, view)
        with view_store.reading() as tx:
            blobs = b"".join(bytes(r[0]) for r in tx.fetchall("SELECT entry FROM chronology"))
        assert b"home_visit" in blobs
        assert b"SENSITIVE" not in blobs
        assert b"FAMILY" not in blobs
        [visit] = [
            e for e in view.chronology(PARTNERSHIP, CASE).entries if e.action == "home_visit"
        ]
        assert visit.source_referenced

    @pytest.mark.parametrize(
        ("field", "args"), [("case", ("northshire", "Jane Smith")), ("partnership", ("", "c-1"))]
    )
    def test_a_query_with_a_bad_identifier_names_the_field(
        self, view_store: ViewStore, field: str, args: tuple[str, str]
    ) -> None:
        view = ChronologyView(view_store)
        assert_refused(field, lambda: view.chronology(*args))

    @pytest.mark.parametrize(
        "as_of", [datetime(1899, 12, 31, tzinfo=UTC), datetime.now(UTC) + timedelta(days=51 * 366)]
    )
    def test_an_as_of_before_1900_or_over_50_years_ahead_is_refused(
        self, view_store: ViewStore, as_of: datetime
    ) -> None:
        view = ChronologyView(view_store)
        assert_refused("as_of", lambda: view.chronology(PARTNERSHIP, CASE, as_of=as_of))


class TestStanding:
    """What a read checks first, in one statement (the HTTP route's kept answers hang on
    its ``version``)."""

    def test_the_version_is_the_last_sequence_shown_and_moves_with_every_row_added(
        self, ledger: Ledger, clock: FixedClock, view_store: ViewStore
    ) -> None:
        directory, view = DirectoryView(view_store), ChronologyView(view_store)
        catch_up(ledger, view_store, directory, view)
        first = view.standing(PARTNERSHIP, CASE, agency=None)
        shown = view.chronology(PARTNERSHIP, CASE).entries
        assert first.version == max(e.sequence for e in shown)
        then = clock.now
        clock.advance(hours=1)
        late = ledger.record_action(
            partnership=PARTNERSHIP,
            case=CASE,
            recorded_by=LA,
            action="home_visit",
            occurred_at=T0 - timedelta(days=3),  # first in the chronology's order
        )
        assert view.standing(PARTNERSHIP, CASE, agency=None) == first  # not applied yet
        catch_up(ledger, view_store, directory, view)
        assert view.standing(PARTNERSHIP, CASE, agency=None).version == late.sequence
        assert view.standing(PARTNERSHIP, CASE, agency=None, as_of=then) == first
        early = view.standing(PARTNERSHIP, CASE, agency=None, as_of=T0 - timedelta(days=1))
        assert early.version == 0

    def test_it_says_whether_the_partnership_the_case_and_a_party_exist(
        self, ledger: Ledger, view_store: ViewStore
    ) -> None:
        directory, view = DirectoryView(view_store), ChronologyView(view_store)
        catch_up(ledger, view_store, directory, view)
        standing = view.standing(PARTNERSHIP, CASE, agency="police")
        assert (standing.partnership_known, standing.case_known, standing.party) == (
            True,
            True,
            True,
        )
        assert view.standing(PARTNERSHIP, CASE, agency="health").party is False
        assert view.standing(PARTNERSHIP, CASE, agency=None).party is None
        assert not view.standing(PARTNERSHIP, "c-none", agency=None).case_known
        assert not view.standing("nowhere", CASE, agency=None).partnership_known
        ledger.leave_case(partnership=PARTNERSHIP, case=CASE, recorded_by=LA, agency="police")
        catch_up(ledger, view_store, directory, view)
        assert view.standing(PARTNERSHIP, CASE, agency="police").party is False
