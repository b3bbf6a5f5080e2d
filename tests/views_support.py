"""Helpers the view tests share: a demo ledger, running views over it, reading their rows,
and the checks every view's tests make (a rebuild changes nothing; a bad argument is refused).

A plain module (not a conftest) so that test modules can import its names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pytest
from eventsourcing.application import Application
from ledger_scenario import CHILD, LA, PARTNERSHIP, FixedClock, establish

from ledger.application import Ledger
from projections._store import ViewStore
from projections._view import View
from projections.errors import InvalidViewQuery
from projections.runner import ViewRunner

T = TypeVar("T")
#: Every table of some views: its rows as plain tuples.
Dump = dict[str, list[tuple[Any, ...]]]


def demo_ledger(clock: FixedClock, *cases: str, joined: Sequence[str] = ()) -> Ledger:
    """An in-memory ledger on ``clock`` with the demo partnership (la, police, health) and
    ``cases`` opened by la, each of one child (``CHILD``) and joined by the ``joined`` agencies."""
    app = Ledger(clock=clock)
    establish(app)
    for case in cases:
        app.open_case(
            partnership=PARTNERSHIP,
            case=case,
            recorded_by=LA,
            children=[{"child": CHILD, "age_band": "5_9"}],
        )
        for agency in joined:
            app.join_case(partnership=PARTNERSHIP, case=case, recorded_by=LA, agency=agency)
    return app


def catch_up(
    app: Application[Any], store: ViewStore, *views: View, batch_size: int = 2_000
) -> ViewRunner:
    """Apply everything ``app`` has recorded to ``views`` and return the runner."""
    runner = ViewRunner(app, store, views, batch_size=batch_size)
    runner.catch_up()
    return runner


def rows(store: ViewStore, table: str, order_by: str) -> list[tuple[Any, ...]]:
    """Every row of ``table`` as plain tuples (bytes for blobs), in a stable order."""
    with store.reading() as tx:
        return [
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
            for r in tx.fetchall(f"SELECT * FROM {table} ORDER BY {order_by}")  # noqa: S608 - test names
        ]


def dump(store: ViewStore, views: Sequence[View]) -> Dump:
    """Every table of ``views``, ordered by all its columns: equal dumps mean equal views."""
    out: Dump = {}
    for view in views:
        for table in view.table_names:
            with store.reading() as tx:
                cols = _columns(tx, store, table)
            out[table] = rows(store, table, ", ".join(cols))
    return out


def assert_rebuild_changes_nothing(
    app: Application[Any], store: ViewStore, view: View, answer: Callable[[], T]
) -> tuple[Dump, T]:
    """Apply ``app``'s events to ``view`` one at a time, then rebuild it from the first event:
    its rows and ``answer()`` (a query) must not change. Returns both, for further asserts."""
    runner = catch_up(app, store, view, batch_size=1)
    one_by_one, answered = dump(store, [view]), answer()
    runner.rebuild()
    assert dump(store, [view]) == one_by_one
    assert answer() == answered
    return one_by_one, answered


def assert_refused(field: str, call: Callable[[], object]) -> None:
    """``call`` (a view query) refuses its ``field`` argument, naming it, then the rule broken."""
    with pytest.raises(InvalidViewQuery, match=rf"^{field} .*; rule: ") as info:
        call()
    assert info.value.field == field


def _columns(tx: Any, store: ViewStore, table: str) -> list[str]:
    if store.dialect.name == "sqlite":
        return [str(r[1]) for r in tx.fetchall(f"PRAGMA table_info({table})")]
    return [
        str(r[0])
        for r in tx.fetchall(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
    ]
