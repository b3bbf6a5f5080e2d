"""The embedded view store: one SQLite file in the data dir (WAL, ``synchronous=NORMAL``).

WAL lets queries read a consistent snapshot while a batch is being written;
``synchronous=NORMAL`` in WAL mode can lose the last transactions on a power
cut but never corrupts the file, and a lost batch is simply applied again from
the stream, because its tracking position was lost with it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from projections._store import Dialect, ViewStore
from projections.errors import ViewStoreError

__all__ = ["SQLiteViewStore"]

_BUSY_TIMEOUT_S = 30.0


class SQLiteViewStore(ViewStore):
    """Views in the SQLite file at ``path`` (``":memory:"`` is refused: views outlive a process)."""

    dialect = Dialect(name="sqlite", placeholder="?", blob="BLOB", clustered=" WITHOUT ROWID")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) == ":memory:":
            msg = (
                "views path ':memory:' is refused; rule: views live in a file so readers share them"
            )
            raise ViewStoreError(msg)
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Views hold personal data: create the file private before SQLite does, and
            # SQLite gives its -wal and -shm companions the same mode as the file.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as e:
            msg = f"views path {str(self.path)!r}: its directory cannot be created ({e.strerror})"
            raise ViewStoreError(msg) from e
        super().__init__()

    def _connect(self) -> Any:
        try:
            connection = sqlite3.connect(
                self.path, isolation_level=None, timeout=_BUSY_TIMEOUT_S, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            # 64 MiB of page cache per connection (the default is 2 MiB): a long case's
            # chronology is several MiB, and a query should not reread it from the OS.
            connection.execute("PRAGMA cache_size=-65536")
        except sqlite3.Error as e:
            msg = f"views path {str(self.path)!r} cannot be opened as SQLite: {e}"
            raise ViewStoreError(msg) from e
        return connection

    def _begin(self, connection: Any) -> None:
        # IMMEDIATE takes the write lock up front, so two writers queue instead of
        # failing half-way with SQLITE_BUSY on their first write.
        connection.execute("BEGIN IMMEDIATE")
