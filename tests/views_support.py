"""Helpers the view tests share: run views over an in-memory ledger and read their rows.

A plain module (not a conftest) so that test modules can import its names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.application import Application

from projections._store import ViewStore
from projections._view import View
from projections.runner import ViewRunner


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


def dump(store: ViewStore, views: Sequence[View]) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of ``views``, ordered by all its columns: equal dumps mean equal views."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for view in views:
        for table in view.table_names:
            with store.reading() as tx:
                cols = _columns(tx, store, table)
            out[table] = rows(store, table, ", ".join(cols))
    return out


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
