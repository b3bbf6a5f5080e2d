"""Following the views event by event gives the same rows as one rebuild from scratch.

Random command attempts run against an in-memory ledger; the ledger rejects the
ones its rules forbid (writing nothing), so what is recorded is always a valid
stream, with late recordings, out-of-order occurrences, refusals, challenges at
several stages and reviews among it. After every command the "live" views apply
what is new, one event per transaction; at the end a second store rebuilds every
view in batches. Their tables must be equal, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_scenario import (
    CHILD,
    HEALTH,
    LA,
    PARTNERSHIP,
    POLICE,
    SCHOOL,
    SIBLING,
    FixedClock,
    establish,
)
from views_support import dump

from ledger.application import Ledger
from ledger.errors import LedgerError
from projections._store import ViewStore
from projections.catalogue import Views
from projections.postgres import PostgresViewStore
from projections.sqlite import SQLiteViewStore

AGENCIES = [LA, POLICE, HEALTH, SCHOOL]
NAMES = [a["agency"] for a in AGENCIES]
CASES = ["c-1", "c-2"]
ACTIONS = [
    "referral_received",
    "referral_decision",
    "strategy_discussion",
    "section47_started",
    "assessment_completed",
    "initial_conference",
    "review_conference",
    "child_seen",
    "home_visit",
]
OUTCOMES = ["section47", "section17", "no_further_action", "protection_plan"]

Op = Callable[[Ledger, Any], Any]


def _ops() -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    agency = st.sampled_from(NAMES)
    who = st.sampled_from(AGENCIES)
    case = st.sampled_from(CASES)
    small = st.sampled_from(["r1", "r2"])
    return st.one_of(
        st.tuples(
            st.just("open_case"),
            st.fixed_dictionaries(
                {
                    "case": case,
                    "recorded_by": who,
                    "children": st.just([{"child": SIBLING, "age_band": "under_1"}]),
                }
            ),
        ),
        st.tuples(
            st.just("join_case"),
            st.fixed_dictionaries({"case": case, "recorded_by": who, "agency": agency}),
        ),
        st.tuples(
            st.just("leave_case"),
            st.fixed_dictionaries({"case": case, "recorded_by": who, "agency": agency}),
        ),
        st.tuples(
            st.just("record_action"),
            st.fixed_dictionaries(
                {
                    "case": case,
                    "recorded_by": who,
                    "action": st.sampled_from(ACTIONS),
                    "child": st.sampled_from([CHILD, SIBLING]),
                    "seen": st.booleans(),
                    "seen_alone": st.booleans(),
                    "outcome": st.sampled_from(OUTCOMES),
                }
            ),
        ),
        st.tuples(
            st.just("raise_concern"),
            st.fixed_dictionaries(
                {
                    "case": case,
                    "recorded_by": who,
                    "concern": small,
                    "kind": st.sampled_from(["significant_harm", "neglect"]),
                }
            ),
        ),
        st.tuples(
            st.just("request_information"),
            st.fixed_dictionaries(
                {"case": case, "recorded_by": who, "request": small, "to_agency": agency}
            ),
        ),
        st.tuples(
            st.just("provide_information"),
            st.fixed_dictionaries({"case": case, "recorded_by": who, "request": small}),
        ),
        st.tuples(
            st.just("refuse_cooperation"),
            st.fixed_dictionaries(
                {
                    "case": case,
                    "recorded_by": who,
                    "agency": agency,
                    "kind": st.sampled_from(
                        ["information_withheld", "meeting_not_attended", "request_not_answered"]
                    ),
                    "basis": st.sampled_from(["more_detrimental_to_child", "no_stated_basis"]),
                }
            ),
        ),
        st.tuples(
            st.just("close_case"),
            st.fixed_dictionaries(
                {"case": case, "recorded_by": who, "reason": st.just("no_further_action")}
            ),
        ),
        st.tuples(
            st.just("raise_challenge"),
            st.fixed_dictionaries(
                {
                    "challenge": small,
                    "recorded_by": who,
                    "against_agency": agency,
                    "matter": st.just("threshold_decision"),
                    "summary": st.just("s"),
                    "case": case,
                }
            ),
        ),
        st.tuples(
            st.just("respond_to_challenge"),
            st.fixed_dictionaries(
                {
                    "challenge": small,
                    "recorded_by": who,
                    "stage": st.integers(1, 3),
                    "response": st.just("r"),
                }
            ),
        ),
        st.tuples(
            st.just("escalate_challenge"),
            st.fixed_dictionaries(
                {"challenge": small, "recorded_by": who, "to_stage": st.integers(2, 3)}
            ),
        ),
        st.tuples(
            st.just("resolve_challenge"),
            st.fixed_dictionaries(
                {"challenge": small, "recorded_by": who, "outcome": st.just("agreed")}
            ),
        ),
        st.tuples(
            st.just("issue_recommendation"),
            st.fixed_dictionaries(
                {
                    "review": st.just("rv1"),
                    "recorded_by": who,
                    "recommendation": small,
                    "owner": agency,
                    "due": st.dates(date(2026, 1, 1), date(2026, 12, 31)),
                    "theme": st.sampled_from(["information_sharing", "voice_of_the_child"]),
                    "text": st.just("t"),
                }
            ),
        ),
        st.tuples(
            st.just("reject_recommendation"),
            st.fixed_dictionaries(
                {
                    "review": st.just("rv1"),
                    "recorded_by": who,
                    "recommendation": small,
                    "basis": st.just("b"),
                }
            ),
        ),
        st.tuples(
            st.just("implement_recommendation"),
            st.fixed_dictionaries(
                {"review": st.just("rv1"), "recorded_by": who, "recommendation": small}
            ),
        ),
    )


@contextmanager
def _stores(kind: str, tmp: Path) -> Iterator[tuple[ViewStore, ViewStore]]:
    if kind == "sqlite":
        name = secrets.token_hex(4)
        live, clean = (
            SQLiteViewStore(tmp / f"live{name}.sqlite"),
            SQLiteViewStore(tmp / f"clean{name}.sqlite"),
        )
        try:
            yield live, clean
        finally:
            live.close()
            clean.close()
        return
    dsn = os.environ.get("LEDGER_TEST_POSTGRES_DSN")
    if not dsn:
        pytest.skip(
            "LEDGER_TEST_POSTGRES_DSN is not set: the PostgreSQL view store is not tested here"
        )
    token = secrets.token_hex(6)
    live, clean = (
        PostgresViewStore(dsn, schema=f"live_{token}"),
        PostgresViewStore(dsn, schema=f"clean_{token}"),
    )
    try:
        yield live, clean
    finally:
        live.close()
        clean.close()
        with psycopg.connect(dsn, autocommit=True) as connection:
            for schema in (f"live_{token}", f"clean_{token}"):
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _setup(ledger: Ledger, clock: FixedClock) -> None:
    establish(ledger, LA, POLICE, HEALTH, SCHOOL)
    ledger.open_case(
        partnership=PARTNERSHIP,
        case="c-1",
        recorded_by=LA,
        children=[{"child": CHILD, "age_band": "5_9"}],
    )
    ledger.notify_serious_incident(
        partnership=PARTNERSHIP,
        review="rv1",
        recorded_by=LA,
        child=CHILD,
        incident="serious_harm",
        became_aware_at=clock.now - timedelta(days=3),
        notified_panel_at=clock.now,
        case="c-1",
    )


@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(
        st.tuples(_ops(), st.integers(0, 72), st.integers(0, 240)),
        min_size=5,
        max_size=60,
    ),
)
def test_following_event_by_event_equals_one_rebuild(
    store_kind: str, tmp_path: Path, ops: list[tuple[tuple[str, dict[str, Any]], int, int]]
) -> None:
    clock = FixedClock()
    ledger = Ledger(clock=clock)
    _setup(ledger, clock)
    with _stores(store_kind, tmp_path) as (live_store, clean_store):
        live = Views(live_store)
        runner = live.runner(ledger, batch_size=1)
        runner.catch_up()
        for (name, kwargs), advance_h, back_h in ops:
            clock.advance(hours=advance_h)
            try:
                getattr(ledger, name)(
                    partnership=PARTNERSHIP,
                    occurred_at=clock.now - timedelta(hours=back_h),
                    **kwargs,
                )
            except LedgerError:
                continue  # a command the rules refuse writes nothing
            runner.catch_up()
        clean = Views(clean_store)
        clean.runner(ledger).rebuild()
        assert dump(live_store, live.select()) == dump(clean_store, clean.select())
    ledger.close()
