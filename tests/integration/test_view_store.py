"""The view store and runner: eventsourcing's tracking contract, and writers kept apart."""

from __future__ import annotations

import os
import secrets
import sqlite3
import stat
import tempfile
import unittest
from pathlib import Path

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking, TrackingRecorder
from eventsourcing.tests.persistence import TrackingRecorderTestCase
from ledger_scenario import CASE, CHILD, LA, PARTNERSHIP, FixedClock, establish
from views_support import dump

from ledger.application import Ledger
from projections._store import TrackingConflict, ViewStore
from projections.catalogue import Views
from projections.errors import UnknownEvent
from projections.postgres import PostgresViewStore
from projections.sqlite import SQLiteViewStore


class TestSQLiteTrackingContract(TrackingRecorderTestCase):
    def setUp(self) -> None:
        self._dir = tempfile.TemporaryDirectory()
        self.stores: list[ViewStore] = []

    def tearDown(self) -> None:
        for store in self.stores:
            store.close()
        self._dir.cleanup()

    def create_recorder(self) -> TrackingRecorder:
        store = SQLiteViewStore(Path(self._dir.name) / f"{secrets.token_hex(4)}.sqlite")
        self.stores.append(store)
        return store


class TestPostgresTrackingContract(TrackingRecorderTestCase):
    def setUp(self) -> None:
        self.dsn = os.environ.get("LEDGER_TEST_POSTGRES_DSN", "")
        if not self.dsn:
            raise unittest.SkipTest(
                "LEDGER_TEST_POSTGRES_DSN is not set: PostgreSQL is not tested here"
            )
        self.schemas: list[str] = []
        self.stores: list[ViewStore] = []

    def tearDown(self) -> None:
        for store in self.stores:
            store.close()
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            for schema in self.schemas:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def create_recorder(self) -> TrackingRecorder:
        schema = f"tracking_{secrets.token_hex(6)}"
        self.schemas.append(schema)
        store = PostgresViewStore(self.dsn, schema=schema)
        self.stores.append(store)
        return store


def _ledger() -> Ledger:
    app = Ledger(clock=FixedClock())
    establish(app)
    app.open_case(
        partnership=PARTNERSHIP,
        case=CASE,
        recorded_by=LA,
        children=[{"child": CHILD, "age_band": "5_9"}],
    )
    return app


class TestWritersKeptApart:
    def test_a_batch_read_before_a_rebuild_is_refused_after_it_and_writes_nothing(
        self, view_store: ViewStore
    ) -> None:
        ledger = _ledger()
        views = Views(view_store)
        follower = views.runner(ledger)
        follower.catch_up()
        stale = follower.positions()  # what a follower expects before its next batch
        ledger.record_action(
            partnership=PARTNERSHIP, case=CASE, recorded_by=LA, action="home_visit"
        )
        views.runner(ledger).rebuild()  # another process drops and rebuilds meanwhile
        rebuilt = dump(view_store, views.select())
        batch = list(ledger.recorder.select_notifications(start=1, limit=100))
        with pytest.raises(TrackingConflict, match="another process moved it"):
            follower._apply(batch[-1:], stale)
        assert dump(view_store, views.select()) == rebuilt
        follower.catch_up()  # reloads its positions and finds nothing to do
        assert dump(view_store, views.select()) == rebuilt

    def test_an_event_type_this_version_does_not_know_stops_the_views_instead_of_being_skipped(
        self, view_store: ViewStore
    ) -> None:
        ledger = _ledger()
        ledger.recorder.insert_events(
            [
                StoredEvent(
                    originator_id=f"{PARTNERSHIP}.case.{CASE}",
                    originator_version=2,
                    topic="ChildMovedAbroad",
                    state=b"{}",
                )
            ]
        )
        views = Views(view_store)
        with pytest.raises(UnknownEvent, match="ChildMovedAbroad"):
            views.runner(ledger).catch_up()
        assert set(views.runner(ledger).positions().values()) == {0}

    def test_tracking_an_event_twice_is_an_integrity_error(self, view_store: ViewStore) -> None:
        from eventsourcing.persistence import Tracking

        view_store.insert_tracking(Tracking("chronology", 5))
        with pytest.raises(IntegrityError):
            view_store.insert_tracking(Tracking("chronology", 5))
        with pytest.raises(IntegrityError):
            view_store.insert_tracking(Tracking("chronology", 4))
        assert view_store.max_tracking_id("chronology") == 5


class TestInsertsQueuedInATransaction:
    """``Tx.insert_later``: one bulk statement per batch, and every read still sees it."""

    def _table(self, view_store: ViewStore) -> str:
        name = f"t_later_{secrets.token_hex(4)}"
        with view_store.transaction() as tx:
            tx.execute(f"CREATE TABLE {name} (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        return name

    @staticmethod
    def _queue(
        view_store: ViewStore, table: str, rows: list[tuple[int, str]], *, fail: bool
    ) -> None:
        with view_store.transaction() as tx:
            for row in rows:
                tx.insert_later(f"INSERT INTO {table} (k, v) VALUES (?, ?)", row)  # noqa: S608
            if fail:
                raise RuntimeError

    @staticmethod
    def _keys(view_store: ViewStore, table: str) -> list[int]:
        with view_store.reading() as tx:
            return [k for (k,) in tx.fetchall(f"SELECT k FROM {table} ORDER BY k")]  # noqa: S608

    def test_a_read_in_the_same_transaction_sees_the_queued_rows_and_the_commit_keeps_them(
        self, view_store: ViewStore
    ) -> None:
        table = self._table(view_store)
        insert = f"INSERT INTO {table} (k, v) VALUES (?, ?)"  # noqa: S608
        with view_store.transaction() as tx:
            tx.insert_later(insert, (1, "a"))
            tx.insert_later(insert, (2, "b"))
            assert tx.fetchall(f"SELECT k, v FROM {table} ORDER BY k") == [(1, "a"), (2, "b")]  # noqa: S608
            tx.insert_later(insert, (3, "c"))  # queued after the read: written at commit
        assert self._keys(view_store, table) == [1, 2, 3]

    def test_an_update_after_a_queued_insert_finds_its_row(self, view_store: ViewStore) -> None:
        table = self._table(view_store)
        with view_store.transaction() as tx:
            tx.insert_later(f"INSERT INTO {table} (k, v) VALUES (?, ?)", (1, "a"))  # noqa: S608
            assert tx.execute(f"UPDATE {table} SET v = ? WHERE k = ?", ("z", 1)) == 1  # noqa: S608
        with view_store.reading() as tx:
            assert tx.fetchall(f"SELECT v FROM {table}") == [("z",)]  # noqa: S608

    def test_queued_rows_of_a_transaction_that_fails_are_not_written(
        self, view_store: ViewStore
    ) -> None:
        table = self._table(view_store)
        with pytest.raises(RuntimeError):
            self._queue(view_store, table, [(1, "a")], fail=True)
        # A duplicate key fails the queued batch when the commit runs it: nothing is kept.
        with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)) as caught:
            self._queue(view_store, table, [(2, "b"), (2, "c")], fail=False)
        assert f"in 2 queued rows of: INSERT INTO {table}" in caught.value.__notes__[0]
        assert self._keys(view_store, table) == []


def test_the_sqlite_views_file_and_its_companions_are_private_after_writes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data" / "views.sqlite"
    store = SQLiteViewStore(path)
    try:
        store.insert_tracking(Tracking(application_name="views", notification_id=1))
        modes = {
            p.name: stat.S_IMODE(p.stat().st_mode)
            for p in path.parent.iterdir()
            if p.name.startswith("views.sqlite")
        }
        assert set(modes) >= {"views.sqlite", "views.sqlite-wal", "views.sqlite-shm"}
        assert set(modes.values()) == {0o600}
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        store.close()
