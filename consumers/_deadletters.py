"""The agency client's dead letters: deliveries its handler could not process, kept locally.

A delivery whose handler still fails on the consumer's last attempt (``max_deliver``) would
never be delivered again: the server gives up on it. Before the client terminates such a
message it writes it here, in a SQLite file of the agency's own, so that the agency can
look at what failed and :func:`~consumers.client.replay` it once the fault is fixed.

Why the agency's client keeps them, not the ledger service:

* they are the agency's own cases' events, which it has already received: keeping a copy
  discloses nothing new, and the agency decides how long to keep it;
* the agency cannot write to the server's streams: its NATS user may only pull from and
  acknowledge on its own consumer (see :mod:`runtime.access`), so a dead-letter subject on
  the server would be one it could not publish to;
* what failed is the agency's handler (its database, its mapping): the fix and the replay
  are the agency's to run, without a round trip through the ledger service.

Payloads are personal data. The file is created readable by its owner only, and neither a
:class:`DeadLetter`'s ``repr`` nor any log line shows a payload.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import msgspec

from schemas.errors import LedgerError

__all__ = ["DeadLetter", "DeadLetterStore", "DeadLetterStoreError"]

_SCHEMA_VERSION: Final = 1
_SELECT: Final = (
    "SELECT sequence, partnership, case_id, event_type, failed_at, attempts, error_type,"
    " payload, headers FROM dead_letter"
)
_INSERT: Final = (
    "INSERT INTO dead_letter (sequence, partnership, case_id, event_type, failed_at, attempts,"
    " error_type, payload, headers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (sequence) DO UPDATE SET failed_at = excluded.failed_at,"
    " attempts = excluded.attempts, error_type = excluded.error_type"
)
_headers_encoder: Final = msgspec.json.Encoder()
_headers_decoder: Final = msgspec.json.Decoder(dict[str, str])


class DeadLetterStoreError(LedgerError, OSError):
    """Raised when the dead-letter file cannot be opened, read or written."""


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """One delivery that failed on its last attempt, as it was received.

    ``case`` is the case of a case's event, ``challenge.<challenge>`` for a challenge's, or
    ``key.<key_id>`` for one of the agency's key events (no identifier holds a ``.``).
    ``sequence`` is the event's ledger stream sequence (the key: one dead letter per
    event), or minus the delivery stream's sequence when a malformed message did not say.
    ``payload`` and ``headers`` are the message exactly as delivered, so a replay decodes
    it as the live path would. ``error_type`` is the exception's class name, never its
    message (which may quote personal data).
    """

    sequence: int
    partnership: str
    case: str
    event_type: str
    failed_at: datetime
    attempts: int
    error_type: str
    payload: bytes
    headers: dict[str, str] = msgspec.field(default_factory=dict)

    def __repr__(self) -> str:  # never the payload, whoever prints this
        return (
            f"DeadLetter(sequence={self.sequence}, partnership={self.partnership!r},"
            f" case={self.case!r}, event_type={self.event_type!r}, attempts={self.attempts},"
            f" error_type={self.error_type!r}, payload=<{len(self.payload)} bytes>)"
        )


class DeadLetterStore:
    """Dead letters in a SQLite file (created mode 0600 with its directory if missing).

    One process and one thread use a store at a time (the client's event loop); every
    write is its own transaction, on disk before :meth:`add` returns.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self.path.exists():
                # Create it private before SQLite does (its journal copies the mode).
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(self.path, isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            msg = f"dead-letter store {self.path} cannot be opened: {e}"
            raise DeadLetterStoreError(msg) from e
        with self._translated("opened"):
            self._db.execute("PRAGMA journal_mode = DELETE")
            self._db.execute("PRAGMA synchronous = FULL")
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version > _SCHEMA_VERSION:
                msg = (
                    f"dead-letter store {self.path} has schema version {version}; this client"
                    f" reads version {_SCHEMA_VERSION} (rule: a store is opened only by a"
                    " client at least as new as the one that wrote it)"
                )
                raise DeadLetterStoreError(msg)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS dead_letter ("
                " sequence INTEGER PRIMARY KEY, partnership TEXT NOT NULL,"
                " case_id TEXT NOT NULL, event_type TEXT NOT NULL, failed_at TEXT NOT NULL,"
                " attempts INTEGER NOT NULL, error_type TEXT NOT NULL,"
                " payload BLOB NOT NULL, headers TEXT NOT NULL)"
            )
            self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    def add(self, dead_letter: DeadLetter) -> None:
        """Keep ``dead_letter``. Idempotent on ``sequence``: adding an event again keeps one
        dead letter, with the latest failure's time, attempts and error type."""
        row = (
            dead_letter.sequence,
            dead_letter.partnership,
            dead_letter.case,
            dead_letter.event_type,
            dead_letter.failed_at.astimezone(UTC).isoformat(),
            dead_letter.attempts,
            dead_letter.error_type,
            dead_letter.payload,
            _headers_encoder.encode(dead_letter.headers).decode(),
        )
        with self._translated("written"):
            self._db.execute(_INSERT, row)

    def get(self, sequence: int) -> DeadLetter | None:
        """The dead letter of the event at ledger sequence ``sequence``, if there is one."""
        with self._translated("read"):
            row = self._db.execute(_SELECT + " WHERE sequence = ?", (sequence,)).fetchone()
        return None if row is None else _from_row(row)

    def list(self) -> list[DeadLetter]:
        """Every dead letter, in ledger order."""
        with self._translated("read"):
            rows = self._db.execute(_SELECT + " ORDER BY sequence").fetchall()
        return [_from_row(row) for row in rows]

    def remove(self, sequence: int) -> bool:
        """Forget the dead letter at ``sequence``; False if there was none."""
        with self._translated("written"):
            cursor = self._db.execute("DELETE FROM dead_letter WHERE sequence = ?", (sequence,))
        return cursor.rowcount > 0

    def __len__(self) -> int:
        with self._translated("read"):
            return int(self._db.execute("SELECT count(*) FROM dead_letter").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DeadLetterStore({str(self.path)!r})"

    @contextlib.contextmanager
    def _translated(self, verb: str) -> Iterator[None]:
        """SQLite's errors, raised as ours (their text names no stored value)."""
        try:
            yield
        except sqlite3.Error as e:
            msg = f"dead-letter store {self.path} cannot be {verb}: {e}"
            raise DeadLetterStoreError(msg) from e


def _from_row(row: tuple[Any, ...]) -> DeadLetter:
    sequence, partnership, case, event_type, failed_at, attempts, error_type, payload, headers = row
    return DeadLetter(
        sequence=int(sequence),
        partnership=str(partnership),
        case=str(case),
        event_type=str(event_type),
        failed_at=datetime.fromisoformat(failed_at),
        attempts=int(attempts),
        error_type=str(error_type),
        payload=bytes(payload),
        headers=_headers_decoder.decode(headers),
    )
