"""A view whose handler raises stops the views with a typed error and writes nothing.

The ledger is in memory; the views' store is a SQLite file (the store refuses
``:memory:``) in the test's temporary directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from ledger_scenario import CHILD, LA, PARTNERSHIP, FixedClock
from views_support import catch_up, demo_ledger, rows

from ledger.application import Ledger
from projections._store import Tx
from projections._view import Envelope, View
from projections.errors import ViewFailed
from projections.runner import ViewRunner
from projections.sqlite import SQLiteViewStore
from schemas.errors import LedgerError

CONTENT = "the content of the event, never to be echoed"


class Openings(View):
    """Counts the cases opened: one row per case."""

    name = "openings"
    tables = ("CREATE TABLE IF NOT EXISTS openings (case_id TEXT PRIMARY KEY)",)
    table_names = ("openings",)

    def on_CaseOpened(self, tx: Tx, event: Envelope) -> None:
        tx.execute("INSERT INTO openings (case_id) VALUES (?)", (event.ident,))


class Breaks(View):
    """Raises on every ``CaseOpened`` of case ``c-2``, after writing a row for it."""

    name = "breaks"
    tables = ("CREATE TABLE IF NOT EXISTS breaks (case_id TEXT PRIMARY KEY)",)
    table_names = ("breaks",)

    def on_CaseOpened(self, tx: Tx, event: Envelope) -> None:
        tx.execute("INSERT INTO breaks (case_id) VALUES (?)", (event.ident,))
        if event.ident == "c-2":
            raise KeyError(CONTENT)


def _ledger() -> Ledger:
    return demo_ledger(FixedClock(), "c-1", "c-2")


def _opened_c2(ledger: Ledger) -> int:
    for notification in ledger.recorder.select_notifications(start=1, limit=100):
        if notification.topic == "CaseOpened" and notification.originator_id.endswith(".c-2"):
            return notification.id
    raise AssertionError("c-2 was not opened")


class TestAViewWhoseHandlerRaises:
    def test_stops_the_views_with_a_ledger_error_naming_view_sequence_and_event_type(
        self, tmp_path: Path
    ) -> None:
        ledger = _ledger()
        store = SQLiteViewStore(tmp_path / "views.sqlite")
        runner = ViewRunner(ledger, store, [Openings(store), Breaks(store)])
        with pytest.raises(ViewFailed) as info:
            runner.catch_up()
        error = info.value
        seq = _opened_c2(ledger)
        assert isinstance(error, LedgerError)
        assert isinstance(error, RuntimeError)
        assert (error.view, error.seq, error.event_type) == ("breaks", seq, "CaseOpened")
        assert "'breaks'" in str(error)
        assert str(seq) in str(error)
        assert "CaseOpened" in str(error)
        assert CONTENT not in str(error)
        assert isinstance(error.__cause__, KeyError)

    def test_rolls_the_batch_back_rows_and_positions_alike(self, tmp_path: Path) -> None:
        ledger = _ledger()
        store = SQLiteViewStore(tmp_path / "views.sqlite")
        openings = Openings(store)
        catch_up(ledger, store, openings)  # the healthy view is current
        before = store.positions()
        ledger.open_case(
            partnership=PARTNERSHIP,
            case="c-3",
            recorded_by=LA,
            children=[{"child": CHILD, "age_band": "5_9"}],
        )
        # A fresh runner over both views: the breaking one starts from the first event,
        # so the batch holds c-3's opening for the healthy view and c-2's for the other.
        runner = ViewRunner(ledger, store, [openings, Breaks(store)])
        with pytest.raises(ViewFailed):
            runner.catch_up()
        assert store.positions() == before
        assert rows(store, "openings", "case_id") == [("c-1",), ("c-2",)]
        assert rows(store, "breaks", "case_id") == []

    def test_is_logged_at_critical_level_with_view_sequence_and_event_type_only(
        self, tmp_path: Path
    ) -> None:
        ledger = _ledger()
        store = SQLiteViewStore(tmp_path / "views.sqlite")
        runner = ViewRunner(ledger, store, [Breaks(store)])
        with structlog.testing.capture_logs() as logs, pytest.raises(ViewFailed):
            runner.catch_up()
        failed = [entry for entry in logs if entry["event"] == "view_failed"]
        assert failed == [
            {
                "event": "view_failed",
                "log_level": "critical",
                "view": "breaks",
                "seq": _opened_c2(ledger),
                "event_type": "CaseOpened",
            }
        ]
        assert CONTENT not in repr(logs)
