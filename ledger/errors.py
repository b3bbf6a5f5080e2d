"""The ledger's errors: one hierarchy under :class:`LedgerError`.

Messages name the field, what is wrong with the value, and the rule, e.g.
``agency 'police-x' is not registered in partnership 'northshire' (an agency must
be registered before it joins a case)``. Adapters translate driver errors (nats,
msgspec, databases) into these at the boundary and chain the original.
"""

from __future__ import annotations

from eventsourcing.persistence import IntegrityError, OperationalError

from schemas.errors import InvalidEvent, LedgerError

__all__ = [
    "AggregateNotFound",
    "ConcurrencyConflict",
    "InvalidCommand",
    "InvalidEvent",
    "LedgerError",
    "LedgerUnavailable",
    "RuleViolation",
    "StreamMisconfigured",
]


class InvalidCommand(LedgerError, ValueError):
    """Raised when a command's input is malformed: a wrong type, oversize text, a bad reference."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RuleViolation(LedgerError, ValueError):
    """Raised when a well-formed command breaks a domain rule (a bad transition, a stranger)."""

    def __init__(self, message: str, *, field: str | None = None, rule: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule


class AggregateNotFound(LedgerError, LookupError):
    """Raised when a command names a partnership, case, challenge or review that does not exist."""


class ConcurrencyConflict(LedgerError, IntegrityError):
    """Raised when another writer appended to the same aggregate first; nothing was written.

    Also an eventsourcing ``IntegrityError``, so the library treats it as a record conflict.
    """


class LedgerUnavailable(LedgerError, OperationalError):
    """Raised when the stream cannot be reached or did not acknowledge in time.

    The save may or may not have been stored: the recorder already retried it (the
    stream never stores one save twice). Re-issuing the command is a new save, so look
    at the aggregate first.
    """


class StreamMisconfigured(LedgerError, RuntimeError):
    """Raised when the ledger stream exists with settings that break the ledger's guarantees."""
