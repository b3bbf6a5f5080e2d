"""Every view as of an instant: an event recorded after ``T`` changes no answer as of ``T``.

A random stream of commands of every kind is recorded on a controllable clock; ``T`` is
taken in the middle. Every query method of every view is asked as of ``T`` (the past
views of :class:`~projections.as_of.PastViews`, with the London day of ``T`` where a
method takes a day); the answers must equal those of a fresh store fed only the events
recorded by then, and must not change when more events are recorded after ``T``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_scenario import CHILD, LA, PARTNERSHIP, T0, FixedClock
from view_commands import NAMES, random_commands, set_up

from ledger.application import Ledger
from ledger.errors import LedgerError
from projections.as_of import MemoryViewStore, PastViews, evaluation_day
from projections.catalogue import VIEW_NAMES, Views
from projections.errors import InvalidViewQuery, UnknownEntity, ViewStoreError
from projections.sqlite import SQLiteViewStore

CASES = ["c-1", "c-2", "c-9"]
Command = tuple[tuple[str, dict[str, Any]], int, int]


def _ask(call: Callable[[], object]) -> object:
    """An answer, or the refusal it gave (type and message): both are answers to compare."""
    try:
        return call()
    except LedgerError as error:
        return (type(error).__name__, str(error))


def every_answer(views: Views, instant: datetime) -> dict[str, object]:
    """Every query method of every view, as of ``instant`` (its London day where a day is
    asked), keyed by view and method; each is given every argument that says "when", so
    views whose clock is the real one (a fresh store) answer alike."""
    day = evaluation_day(instant)
    o, t, c, ch = views.optouts, views.timeliness, views.challenges, views.chronology
    r, k, d = views.recommendations, views.key_moments, views.directory
    asked: dict[str, Callable[[], object]] = {
        "optouts.entries": lambda: o.entries(PARTNERSHIP, as_of=day),
        "optouts.counts_by_quarter": lambda: o.counts_by_quarter(PARTNERSHIP),
        "optouts.repeated": lambda: o.repeated(PARTNERSHIP, threshold=1, as_of=day),
        "optouts.repeated+s16la": lambda: o.repeated(
            PARTNERSHIP, threshold=1, as_of=day, include_decisions_not_to_share=True
        ),
        "timeliness.clocks": lambda: t.clocks(PARTNERSHIP, as_of=day),
        "timeliness.performance": lambda: t.performance(PARTNERSHIP, as_of=day),
        "challenges.challenges": lambda: c.challenges(PARTNERSHIP),
        "challenges.open_challenges": lambda: c.open_challenges(PARTNERSHIP, as_of=day),
        "challenges.by_agency": lambda: c.by_agency(PARTNERSHIP, as_of=day),
        "recommendations.recommendations": lambda: r.recommendations(PARTNERSHIP, as_of=day),
        "recommendations.reviews": lambda: r.reviews(PARTNERSHIP, as_of=day),
        "recommendations.themes": lambda: r.themes(PARTNERSHIP),
        "recommendations.recurring_themes": lambda: r.recurring_themes(PARTNERSHIP),
        "key_moments.summary": lambda: k.summary(PARTNERSHIP),
        "directory.partnerships": d.partnerships,
        "directory.partnership": lambda: d.partnership(PARTNERSHIP),
        "directory.agencies": lambda: d.agencies(PARTNERSHIP),
        "directory.cases": lambda: d.cases(PARTNERSHIP),
    }
    for case in CASES:
        asked[f"chronology.chronology[{case}]"] = lambda case=case: ch.chronology(
            PARTNERSHIP, case, as_of=instant
        )
        asked[f"chronology.chronology[{case}],recorded"] = lambda case=case: (
            ch.chronology(PARTNERSHIP, case).entries
        )
        asked[f"key_moments.case[{case}]"] = lambda case=case: k.case(PARTNERSHIP, case)
        asked[f"directory.case[{case}]"] = lambda case=case: d.case(PARTNERSHIP, case)
        for agency in NAMES:
            asked[f"directory.is_party[{case},{agency}]"] = lambda case=case, agency=agency: (
                d.is_party(PARTNERSHIP, case, agency)
            )
    for agency in NAMES:
        asked[f"directory.agency[{agency}]"] = lambda agency=agency: d.agency(PARTNERSHIP, agency)
        asked[f"directory.cases[{agency}]"] = lambda agency=agency: d.cases(
            PARTNERSHIP, agency=agency
        )
    assert {name.split(".")[0] for name in asked} == set(VIEW_NAMES)
    return {name: _ask(call) for name, call in asked.items()}


def _record(ledger: Ledger, clock: FixedClock, commands: list[Command]) -> None:
    for (name, kwargs), advance_h, back_h in commands:
        clock.advance(hours=advance_h)
        try:
            getattr(ledger, name)(
                partnership=PARTNERSHIP, occurred_at=clock.now - timedelta(hours=back_h), **kwargs
            )
        except LedgerError:
            continue  # a command the rules refuse writes nothing


def _now_views(ledger: Ledger, path: Path) -> Views:
    """Views over everything ``ledger`` holds now, in a SQLite file of their own."""
    views = Views(SQLiteViewStore(path))
    views.runner(ledger).catch_up()
    return views


commands = st.lists(
    st.tuples(random_commands(), st.integers(0, 72), st.integers(0, 240)), max_size=40
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=commands, after=commands, gap_minutes=st.integers(0, 600))
def test_an_event_recorded_after_t_changes_no_view_as_of_t(
    tmp_path_factory: pytest.TempPathFactory,
    before: list[Command],
    after: list[Command],
    gap_minutes: int,
) -> None:
    clock = FixedClock()
    ledger = Ledger(clock=clock)
    set_up(ledger, clock)
    _record(ledger, clock, before)
    instant = clock.advance(minutes=gap_minutes)
    fresh = _now_views(ledger, tmp_path_factory.mktemp("fresh") / "views.sqlite")
    try:
        expected = every_answer(fresh, instant)
    finally:
        fresh.close()
    past = PastViews(ledger, clock=clock)
    try:
        with past.at(instant) as views:
            assert every_answer(views, instant) == expected
        clock.advance(microseconds=1)
        _record(ledger, clock, after)
        with past.at(instant) as views:  # the same set of events: the cached replay
            assert every_answer(views, instant) == expected
        assert past.replays == 1
    finally:
        past.close()
    again = PastViews(ledger, clock=clock)  # replayed afresh from the longer stream
    try:
        with again.at(instant) as views:
            assert every_answer(views, instant) == expected
    finally:
        again.close()
    ledger.close()


# -- a scenario, step by step ---------------------------------------------------------


@pytest.fixture
def ledger(clock: FixedClock) -> Iterator[Ledger]:
    app = Ledger(clock=clock)
    set_up(app, clock)
    yield app
    app.close()


def _open(ledger: Ledger, case: str) -> None:
    ledger.open_case(
        partnership=PARTNERSHIP,
        case=case,
        recorded_by=LA,
        children=[{"child": CHILD, "age_band": "5_9"}],
    )


class TestPastViews:
    def test_what_was_recorded_after_t_is_absent_as_of_t_and_present_now(
        self, ledger: Ledger, clock: FixedClock, tmp_path: Path
    ) -> None:
        instant = clock.advance(hours=1)
        clock.advance(hours=1)
        _open(ledger, "c-2")
        ledger.join_case(partnership=PARTNERSHIP, case="c-1", recorded_by=LA, agency="police")
        past = PastViews(ledger, clock=clock)
        with past.at(instant) as views:
            with pytest.raises(UnknownEntity, match=r"^case 'c-2'"):
                views.directory.case(PARTNERSHIP, "c-2")
            assert not views.directory.is_party(PARTNERSHIP, "c-1", "police")
        with past.at(clock.now) as views:
            assert views.directory.case(PARTNERSHIP, "c-2").lead_agency == "la"
            assert views.directory.is_party(PARTNERSHIP, "c-1", "police")
        past.close()

    def test_an_event_is_included_by_its_recorded_at_not_its_place_in_the_stream(
        self, ledger: Ledger, clock: FixedClock
    ) -> None:
        # A second writer stamped this event before T and saved it after a later one.
        stamped = clock.now + timedelta(minutes=10)
        clock.advance(hours=1)
        _open(ledger, "c-3")
        clock.now = stamped
        _open(ledger, "c-2")
        clock.now = stamped + timedelta(hours=2)
        past = PastViews(ledger, clock=clock)
        with past.at(stamped) as views:
            assert [c.case for c in views.directory.cases(PARTNERSHIP)] == ["c-1", "c-2"]
        past.close()

    def test_instants_with_the_same_events_share_one_replay_and_each_has_its_own_today(
        self, ledger: Ledger, clock: FixedClock
    ) -> None:
        clock.advance(days=10)
        past = PastViews(ledger, clock=clock)
        early, late = T0 + timedelta(hours=1), T0 + timedelta(days=9)
        with past.at(early) as views:
            first = views
            early_now = views.optouts._clock()
        with past.at(late) as views:
            assert views is first
            assert views.optouts._clock() == late
        assert early_now == early
        assert past.replays == 1
        past.close()

    def test_the_cache_keeps_the_last_instants_asked_and_closes_the_ones_it_drops(
        self, ledger: Ledger, clock: FixedClock
    ) -> None:
        instants = []
        for case in ("c-2", "c-3", "c-4"):
            clock.advance(hours=1)
            _open(ledger, case)
            instants.append(clock.now)
        past = PastViews(ledger, clock=clock, cache_size=2)
        kept: list[Views] = []
        for instant in instants:
            with past.at(instant) as views:
                kept.append(views)
        assert past.replays == 3
        with pytest.raises(ViewStoreError, match="closed"):
            kept[0].directory.partnerships()
        with past.at(instants[2]) as views:
            assert views is kept[2]
        assert past.replays == 3
        past.close()
        with pytest.raises(ViewStoreError, match="closed"):
            kept[2].directory.partnerships()

    def test_a_store_evicted_while_read_closes_when_its_reader_is_done(
        self, ledger: Ledger, clock: FixedClock
    ) -> None:
        clock.advance(hours=1)
        _open(ledger, "c-2")
        past = PastViews(ledger, clock=clock, cache_size=1)
        with past.at(T0) as reading:
            with past.at(clock.now):
                pass  # evicts the replay ``reading`` is using
            assert len(reading.directory.partnerships()) == 1
        with pytest.raises(ViewStoreError, match="closed"):
            reading.directory.partnerships()
        past.close()

    def test_threads_asking_about_the_same_instant_get_one_replay(
        self, ledger: Ledger, clock: FixedClock
    ) -> None:
        clock.advance(hours=1)
        past = PastViews(ledger, clock=clock)
        answers: list[object] = []

        def ask() -> None:
            with past.at(T0) as views:
                answers.append(views.directory.cases(PARTNERSHIP))

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert past.replays == 1
        assert len(answers) == 8
        assert all(a == answers[0] for a in answers)
        past.close()

    def test_a_naive_or_future_instant_is_refused_naming_the_rule(
        self, ledger: Ledger, clock: FixedClock
    ) -> None:
        past = PastViews(ledger, clock=clock)
        naive = clock.now.replace(tzinfo=None)
        with pytest.raises(InvalidViewQuery, match=r"^as_of has no time zone; rule: ") as info:
            past.at(naive).__enter__()
        assert info.value.field == "as_of"
        future = clock.now + timedelta(seconds=1)
        with pytest.raises(InvalidViewQuery, match=r"^as_of .* is after now .*; rule: ") as info:
            past.at(future).__enter__()
        assert info.value.field == "as_of"
        assert past.replays == 0
        past.close()

    def test_an_instant_before_the_first_event_has_empty_views_not_unknown_ones(
        self, ledger: Ledger, clock: FixedClock
    ) -> None:
        past = PastViews(ledger, clock=clock)
        with past.at(T0 - timedelta(days=1)) as views:
            assert views.directory.partnerships() == []
            with pytest.raises(UnknownEntity, match=r"^partnership"):
                views.directory.cases(PARTNERSHIP)
            assert views.chronology.chronology(PARTNERSHIP, "c-1").entries == []
        past.close()

    def test_the_memory_store_is_shared_by_threads_and_gone_when_closed(self) -> None:
        store = MemoryViewStore()
        with store.transaction() as tx:
            tx.execute("CREATE TABLE t (x INTEGER)")
            tx.execute("INSERT INTO t VALUES (1)")
        seen: list[object] = []

        def read() -> None:
            with store.reading() as tx:
                seen.append(tx.fetchone("SELECT x FROM t"))

        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
        assert seen == [(1,)]
        store.close()
        # The same name, opened after the store closed, is a new and empty database.
        with closing(sqlite3.connect(store._uri, uri=True)) as connection:
            assert connection.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_the_evaluation_day_is_the_london_date_of_the_instant() -> None:
    # 23:30 UTC on 1 July is 00:30 on 2 July in London (BST).
    assert evaluation_day(datetime(2026, 7, 1, 23, 30, tzinfo=UTC)).isoformat() == "2026-07-02"
    with pytest.raises(InvalidViewQuery, match=r"^as_of has no time zone"):
        evaluation_day(datetime(2026, 7, 1, 23, 30))
