"""The view store: one database holding every view's rows and every view's tracking position.

A :class:`ViewStore` is an eventsourcing :class:`~eventsourcing.persistence.TrackingRecorder`
(so the library's runners and ``wait()`` work with it), with one addition the
library lacks: a :meth:`ViewStore.transaction` in which a view writes its rows and
advances its tracking position together. That is the exactly-once guarantee: a
batch of events is either wholly applied and tracked, or not at all, and the next
run starts after the last committed position.

The tracking table keeps one row per view (``view_tracking``), and a position
only moves forward from the value the writer read: :meth:`Tx.track` updates
``WHERE position = <expected>``, so two processes following the same view cannot
both apply one batch; the second is refused with :class:`TrackingConflict` and
rolls back.

The SQL here and in the views is the portable subset SQLite and PostgreSQL share
(``?`` placeholders are rewritten for psycopg, ``INSERT .. ON CONFLICT``); column
types come from :class:`Dialect`. Instants are stored as integer microseconds
since the epoch (UTC), dates as ISO text, so comparisons mean the same in both.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder

from projections.errors import ViewStoreError

__all__ = [
    "Dialect",
    "TrackingConflict",
    "Tx",
    "ViewStore",
    "from_micros",
    "to_micros",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(instant: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (UTC)."""
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """The inverse of :func:`to_micros`."""
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC).replace(microsecond=value % 1_000_000)


class TrackingConflict(ViewStoreError, IntegrityError):
    """Raised when a view's tracking position moved under a writer (another process applied it).

    Also eventsourcing's ``IntegrityError``, as its tracking recorders raise for a
    notification tracked twice.
    """


@dataclass(frozen=True)
class Dialect:
    """What differs between the two databases: placeholders and a few column types."""

    name: str
    placeholder: str
    blob: str
    bigint: str = "BIGINT"
    #: Appended to the select that locks a tracking row until the transaction ends.
    for_update: str = ""
    #: Starts a read-only snapshot for a query.
    begin_read: str = "BEGIN"
    #: Appended to a table whose rows are read in primary-key order (SQLite: ``WITHOUT
    #: ROWID``, so the rows live in the key's own b-tree and a range scan reads no other).
    clustered: str = ""
    #: Appended to a text column's type so that it compares and sorts bytewise (ids that
    #: page by keyset order the same on both databases: PostgreSQL's ``COLLATE "C"``).
    bytewise: str = ""

    def sql(self, statement: str) -> str:
        """``statement`` written with ``?`` placeholders, in this dialect."""
        if self.placeholder == "?":
            return statement
        return statement.replace("?", self.placeholder)

    def ordered_concat(self, column: str, order: str) -> str:
        """An aggregate concatenating the blobs of ``column`` in ``order``.

        PostgreSQL orders inside ``string_agg``; SQLite's ``group_concat`` keeps the
        order of an ordered subquery (its callers sort the result to be sure).
        """
        if self.name == "postgres":
            return f"string_agg({column}, ''::bytea ORDER BY {order})"
        return f"CAST(group_concat({column}, '') AS BLOB)"

    def text_list(self, column: str) -> str:
        """An aggregate listing the non-null values of ``column``, comma-separated."""
        if self.name == "postgres":
            return f"string_agg({column}::text, ',')"
        return f"group_concat({column}, ',')"

    def ddl(self, statement: str) -> str:
        """``statement`` with its ``{blob}``, ``{bigint}``, ``{clustered}``, ``{bytewise}`` set."""
        return statement.format(
            blob=self.blob, bigint=self.bigint, clustered=self.clustered, bytewise=self.bytewise
        )


class Cursor(Protocol):
    """The DB-API cursor methods the views use (sqlite3 and psycopg both provide them)."""

    rowcount: int

    def execute(self, sql: Any, params: Any = ..., /) -> Any: ...
    def executemany(self, sql: Any, params: Any, /) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Tx:
    """One open transaction: the views' writes and the tracking updates of a batch.

    :meth:`insert_later` queues a view's plain inserts, and runs them one
    ``executemany`` per statement before this transaction's next statement of any
    other kind (a read sees them) and before it commits: a rebuild then costs one
    database call per statement and batch instead of one per event.
    """

    def __init__(self, store: ViewStore, cursor: Cursor) -> None:
        self._store = store
        self._cursor = cursor
        self._sql: dict[str, str] = {}
        self._later: dict[str, list[Sequence[Any]]] = {}

    def _q(self, statement: str) -> str:
        sql = self._sql.get(statement)
        if sql is None:
            sql = self._sql[statement] = self._store.dialect.sql(statement)
        return sql

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        if self._later:
            self.run_later()
        self._cursor.execute(self._q(statement), params)
        return self._cursor.rowcount

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each row."""
        if self._later:
            self.run_later()
        self._cursor.executemany(self._q(statement), list(rows))

    def insert_later(self, statement: str, params: Sequence[Any]) -> None:
        """Queue an ``INSERT`` to run with the others of the same statement, before this
        transaction's next other statement or its commit.

        Statements queued run grouped by statement, not in the order they were queued:
        queue only inserts into a view's own tables that no other queued statement
        touches (each view's rows are its own), never an update or a delete.
        """
        rows = self._later.get(statement)
        if rows is None:
            rows = self._later[statement] = []
        rows.append(params)

    def run_later(self) -> None:
        """Run the queued inserts now (the transaction does before anything else)."""
        later, self._later = self._later, {}
        for statement, rows in later.items():
            try:
                self._cursor.executemany(self._q(statement), rows)
            except Exception as error:
                # Raised at whatever statement ran the queue: say which insert failed.
                error.add_note(f"in {len(rows)} queued rows of: {statement[:80]}")
                raise

    def fetchone(self, statement: str, params: Sequence[Any] = ()) -> Any:
        if self._later:
            self.run_later()
        self._cursor.execute(self._q(statement), params)
        return self._cursor.fetchone()

    def fetchall(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        if self._later:
            self.run_later()
        self._cursor.execute(self._q(statement), params)
        return self._cursor.fetchall()

    def lock(self, view: str) -> int:
        """``view``'s position, its row locked until this transaction ends (created at 0).

        On PostgreSQL the row is selected ``FOR UPDATE``, so a second writer of the view
        waits here, before writing any row, and then sees the first one's position;
        SQLite's ``BEGIN IMMEDIATE`` already serialises writers.
        """
        self.execute(
            "INSERT INTO view_tracking (view, position) VALUES (?, 0)"
            " ON CONFLICT (view) DO NOTHING",
            (view,),
        )
        select = "SELECT position FROM view_tracking WHERE view = ?"
        # for_update is a fixed clause of the dialect, never input.
        row = self.fetchone(select + self._store.dialect.for_update, (view,))
        return int(row[0])

    def track(self, view: str, expected: int, position: int) -> None:
        """Move ``view``'s position from ``expected`` to ``position`` in this transaction.

        Positions only move forward, and only from the one the writer read: anything
        else is a :class:`TrackingConflict` (the transaction is then rolled back).
        """
        if position == expected:
            return
        if position > expected:
            changed = self.execute(
                "UPDATE view_tracking SET position = ? WHERE view = ? AND position = ?",
                (position, view, expected),
            )
            if changed == 1:
                return
        msg = (
            f"view {view!r}: tracking position is no longer {expected} "
            "(another process applied these events, or the view was rebuilt); "
            "rule: a position only moves forward from the one its writer read"
        )
        raise TrackingConflict(msg)


class ViewStore(TrackingRecorder):
    """A database of views; subclasses connect to SQLite or PostgreSQL."""

    dialect: Dialect

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._closed = False
        with self.transaction() as tx:
            tx.execute(
                "CREATE TABLE IF NOT EXISTS view_tracking "
                "(view TEXT PRIMARY KEY, position BIGINT NOT NULL)"
            )

    # -- connections ---------------------------------------------------------------

    @abstractmethod
    def _connect(self) -> Any:
        """A new DB-API connection in autocommit mode (transactions are explicit)."""

    @abstractmethod
    def _begin(self, connection: Any) -> None:
        """Start a write transaction on ``connection``."""

    def _connection(self) -> Any:
        if self._closed:
            msg = "the view store is closed; rule: open a new store to read or write views"
            raise ViewStoreError(msg)
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect()
            with self._lock:
                self._all_connections().append(connection)
        return connection

    def _all_connections(self) -> list[Any]:
        connections: list[Any] | None = getattr(self, "_connections", None)
        if connections is None:
            connections = []
            self._connections: list[Any] = connections
        return connections

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A write transaction: committed when the block ends, rolled back on an error."""
        connection = self._connection()
        self._begin(connection)
        cursor = connection.cursor()
        try:
            tx = Tx(self, cursor)
            yield tx
            tx.run_later()
            connection.commit()
        except BaseException:
            # Also when the commit itself failed: never leave the connection mid-transaction.
            connection.rollback()
            raise
        finally:
            cursor.close()

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        """A read-only snapshot for a query (a transaction that is never committed).

        It takes no write lock (SQLite's WAL lets it read beside a writer), and on
        PostgreSQL it is REPEATABLE READ, so a query of several statements sees one state.
        """
        connection = self._connection()
        connection.execute(self.dialect.begin_read)
        cursor = connection.cursor()
        try:
            yield Tx(self, cursor)
        finally:
            cursor.close()
            connection.rollback()

    def close(self) -> None:
        """Close every connection this store opened, in every thread."""
        self._closed = True
        with self._lock:
            for connection in self._all_connections():
                connection.close()
            self._all_connections().clear()

    # -- eventsourcing's TrackingRecorder -------------------------------------------

    def insert_tracking(self, tracking: Tracking) -> None:
        """Record that ``tracking`` was applied; refused unless it is past the view's position."""
        with self.transaction() as tx:
            current = tx.lock(tracking.application_name)
            if tracking.notification_id <= current:
                msg = (
                    f"view {tracking.application_name!r}: notification {tracking.notification_id}"
                    f" is not after its position {current}; rule: each event is tracked once"
                )
                raise TrackingConflict(msg)
            tx.track(tracking.application_name, current, tracking.notification_id)

    def max_tracking_id(self, application_name: str) -> int | None:
        with self.reading() as tx:
            row = tx.fetchone(
                "SELECT position FROM view_tracking WHERE view = ?", (application_name,)
            )
        return None if row is None or row[0] == 0 else int(row[0])

    def positions(self) -> dict[str, int]:
        """Every view's tracking position."""
        with self.reading() as tx:
            return {
                str(v): int(p) for v, p in tx.fetchall("SELECT view, position FROM view_tracking")
            }
