"""The view store and runner: eventsourcing's tracking contract, and writers kept apart."""

from __future__ import annotations

import os
import secrets
import tempfile
import unittest
from pathlib import Path

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, TrackingRecorder
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
