"""Errors of the projections layer, under the ledger's single root :class:`LedgerError`."""

from __future__ import annotations

from typing import Literal

from schemas.errors import LedgerError

__all__ = [
    "InvalidRules",
    "InvalidViewQuery",
    "UnknownEntity",
    "UnknownEvent",
    "UnknownView",
    "ViewFailed",
    "ViewStoreError",
]


class InvalidRules(LedgerError, ValueError):
    """Raised when a timescale rules file does not parse or breaks a rule of its format.

    ``field`` names the offending entry (``rule[3].limit``) so the author can find it.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidViewQuery(LedgerError, ValueError):
    """Raised when a view query is given an argument outside its rules (a bad date, range or id)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownEntity(LedgerError, LookupError):
    """Raised when a query names a partnership, agency or case the ledger does not hold.

    ``kind`` is ``partnership``, ``agency`` or ``case`` and ``value`` the id asked for,
    so an HTTP edge answers 404 naming it; a listing under an unknown parent raises it
    too, never answering an empty list.
    """

    def __init__(self, kind: Literal["partnership", "agency", "case"], value: str) -> None:
        super().__init__(
            f"{kind} {value!r} is not known to the ledger;"
            f" rule: a query names a {kind} the ledger has recorded"
        )
        self.kind = kind
        self.value = value


class UnknownEvent(LedgerError, LookupError):
    """Raised when the stream holds an event type this version of the views does not know."""


class UnknownView(LedgerError, LookupError):
    """Raised when a view is asked for by a name no view has."""


class ViewStoreError(LedgerError, RuntimeError):
    """Raised when the view database cannot be opened, read or written."""


class ViewFailed(LedgerError, RuntimeError):
    """Raised when a view's handler fails on an event; the batch is rolled back and the views stop.

    The message names the view, the stream sequence and the event type, never the
    event's content; each is an attribute too, and the handler's error is chained.
    """

    def __init__(self, message: str, *, view: str, seq: int, event_type: str) -> None:
        super().__init__(message)
        self.view = view
        self.seq = seq
        self.event_type = event_type
