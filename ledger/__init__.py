"""The ledger: eventsourcing aggregates, the application service, and the NATS persistence.

Its face: :class:`Ledger` (commands in, receipts out; ``Ledger.execute`` takes any
command of :mod:`schemas.commands`), :class:`Receipt`, and the errors of
:mod:`ledger.errors`. The NATS store is the adapter package :mod:`ledger.nats`
(``PERSISTENCE_MODULE=ledger.nats``), and :mod:`ledger.ports` says what a reader may
ask of a recorder beyond eventsourcing's interface. The modules whose names start
with ``_`` (and ``ledger._commands``) are private to this package.

Depends on :mod:`schemas` only; :mod:`projections`, :mod:`consumers`, :mod:`runtime`
and the interfaces depend on it, never the other way round.
"""

from __future__ import annotations

from ledger.application import Ledger, Receipt
from ledger.errors import (
    AggregateNotFound,
    ConcurrencyConflict,
    CorruptHistory,
    HistoryGap,
    InvalidCommand,
    InvalidEvent,
    LedgerError,
    LedgerUnavailable,
    RuleViolation,
    SaveOutcomeUnknown,
    StreamMisconfigured,
)

__all__ = [
    "AggregateNotFound",
    "ConcurrencyConflict",
    "CorruptHistory",
    "HistoryGap",
    "InvalidCommand",
    "InvalidEvent",
    "Ledger",
    "LedgerError",
    "LedgerUnavailable",
    "Receipt",
    "RuleViolation",
    "SaveOutcomeUnknown",
    "StreamMisconfigured",
]
