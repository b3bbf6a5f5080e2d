"""The view store at scale: PostgreSQL (``LEDGER_VIEWS_DSN``), with the same views and SQL.

Transactions run at READ COMMITTED; the tracking row's conditional update is
what keeps two writers of one view apart (see :mod:`projections._store`).
"""

from __future__ import annotations

from typing import Any

import psycopg

from projections._store import Dialect, ViewStore
from projections.errors import ViewStoreError

__all__ = ["PostgresViewStore"]


class PostgresViewStore(ViewStore):
    """Views in the PostgreSQL database at ``dsn``, in its ``schema`` (created if missing)."""

    dialect = Dialect(
        name="postgres",
        placeholder="%s",
        blob="BYTEA",
        for_update=" FOR UPDATE",
        begin_read="BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        bytewise=' COLLATE "C"',
    )

    def __init__(self, dsn: str, *, schema: str = "ledger_views") -> None:
        if not schema.isidentifier():
            msg = f"views schema {schema!r} is not a plain identifier; rule: letters, digits, _"
            raise ViewStoreError(msg)
        self.dsn = dsn
        self.schema = schema
        super().__init__()

    def _connect(self) -> Any:
        try:
            connection = psycopg.connect(self.dsn, autocommit=True)
            connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            connection.execute(f'SET search_path TO "{self.schema}"')
        except psycopg.Error as e:
            # The DSN may hold a password: name the failure, never the DSN.
            msg = f"views database (LEDGER_VIEWS_DSN) cannot be opened: {type(e).__name__}"
            raise ViewStoreError(msg) from e
        return connection

    def _begin(self, connection: Any) -> None:
        connection.execute("BEGIN")
