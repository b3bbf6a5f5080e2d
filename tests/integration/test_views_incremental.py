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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_scenario import PARTNERSHIP, FixedClock
from view_commands import random_commands, set_up
from views_support import dump

from ledger.application import Ledger
from ledger.errors import LedgerError
from projections._store import ViewStore
from projections.catalogue import Views
from projections.postgres import PostgresViewStore
from projections.sqlite import SQLiteViewStore


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


@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(
        st.tuples(random_commands(), st.integers(0, 72), st.integers(0, 240)),
        min_size=5,
        max_size=60,
    ),
)
def test_following_event_by_event_equals_one_rebuild(
    store_kind: str, tmp_path: Path, ops: list[tuple[tuple[str, dict[str, Any]], int, int]]
) -> None:
    clock = FixedClock()
    ledger = Ledger(clock=clock)
    set_up(ledger, clock)
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
