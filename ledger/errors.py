"""The ledger's errors: one hierarchy under :class:`LedgerError`.

Messages name the field, what is wrong with the value, and the rule, e.g.
``agency 'police-x' is not registered in partnership 'northshire' (an agency must
be registered before it joins a case)``. Adapters translate driver errors (nats,
msgspec, databases) into these at the boundary and chain the original.
"""

from __future__ import annotations

from eventsourcing.persistence import IntegrityError, OperationalError

from schemas.errors import InvalidCommand, InvalidEvent, LedgerError

__all__ = [
    "AggregateNotFound",
    "ConcurrencyConflict",
    "CorruptHistory",
    "HistoryGap",
    "InvalidCommand",
    "InvalidEvent",
    "LedgerError",
    "LedgerUnavailable",
    "RuleViolation",
    "SaveOutcomeUnknown",
    "StreamMisconfigured",
]


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

    ``may_have_been_stored`` says whether a save that failed with it may nonetheless
    be on the stream: ``False`` here (nothing was written), ``True`` on
    :class:`SaveOutcomeUnknown`.
    """

    may_have_been_stored: bool = False


class SaveOutcomeUnknown(LedgerUnavailable):
    """Raised when a save may have been stored but the ledger could not confirm it in time.

    A try of the save reached the server and its acknowledgement was lost, and the
    stream could not be asked within the write retry window whether it was stored.
    The recorder already retried it (the stream never stores one save twice).
    Re-issuing the command is a new save: look at the aggregate first, or the fact
    may be recorded twice.
    """

    may_have_been_stored: bool = True


class StreamMisconfigured(LedgerError, RuntimeError):
    """Raised when the ledger stream exists with settings that break the ledger's guarantees."""


class CorruptHistory(LedgerError, RuntimeError):
    """Raised when a stored history cannot be what the ledger wrote; nothing is served from it."""


class HistoryGap(CorruptHistory):
    """Raised when an aggregate's stored versions skip one (``1, 2, 4``) or do not start at 1.

    The message names the subject (or, when the Ledger finds it, the aggregate id) and
    the missing version, never the events' content; both are attributes too.
    """

    def __init__(self, message: str, *, subject: str, missing_version: int) -> None:
        super().__init__(message)
        self.subject = subject
        self.missing_version = missing_version
