"""The root of every error the ledger raises, and the schema layer's own errors.

Every layer raises subclasses of :class:`LedgerError`, so a caller can catch the
ledger's failures in one place. Leaves also subclass the fitting builtin
(``ValueError``, ``LookupError``) so that generic code keeps working.
"""

from __future__ import annotations

__all__ = ["InvalidCommand", "InvalidEvent", "LedgerError"]


class LedgerError(Exception):
    """Raised for every failure the ledger itself detects; the root of the hierarchy."""


class InvalidEvent(LedgerError, ValueError):
    """Raised when a payload does not decode to, or validate as, a ledger event.

    ``field`` is the JSON path of the offending value (``$.recorded_by.agency``)
    when msgspec can tell it, so that an agency's developer sees which value broke
    which rule.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidCommand(LedgerError, ValueError):
    """Raised when a command's input is malformed: a wrong type, oversize text, a bad reference.

    Raised by :func:`schemas.commands.decode_command` for a command that does not decode
    and by the ledger for one whose event would not be valid. ``field`` is the path of
    the offending value without the leading ``$.`` (``recorded_by.agency``,
    ``children[0].child``) when it is known.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
