"""A read's record in the access log, made before the read is answered.

A question that is ``logged`` (a case's chronology) is answered only once the access log
has recorded who read it (:mod:`runtime.access_log`: one synced publish, acknowledged once
the stream has it on disk). :func:`record` makes the record whole; :class:`PendingRecord`
sends it at once and waits for it last, so that the rest of the read (its checks, its
bytes) runs while the stream stores it: with an access log that can be begun (its
``begin``: :meth:`runtime.access_log.AccessLog.begin`), else whole at :meth:`~PendingRecord.wait`.
Either way a read that cannot be recorded raises :class:`Unrecorded` (503): it is not
answered.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

import structlog

__all__ = ["AccessRecorder", "PendingRecord", "Unrecorded", "record"]

log = structlog.get_logger()

T = TypeVar("T")


class AccessRecorder(Protocol):
    """Records who read which case's record; a question that is ``logged`` is answered
    only once :meth:`record` has returned. One that has a ``begin`` too (taking the same
    arguments, returning what has a ``wait()``) is sent first and waited for last."""

    def record(
        self,
        *,
        partnership: str,
        case: str,
        query: str,
        role: str,
        agency: str | None,
        token: str,
        as_of: datetime | None,
    ) -> object:
        """Record one read (``token`` is the token's id, never its secret); raise to refuse it."""


class Unrecorded(Exception):
    """The read could not be recorded in the access log, so it is not answered (503)."""


def record(access_log: AccessRecorder | None, query: str, fields: dict[str, Any]) -> None:
    """Record a read of ``query`` (``fields``: the case, who and as of when) whole."""
    _recording(access_log, query, lambda recorder: recorder.record(query=query, **fields))


class PendingRecord:
    """A read's record, sent now and waited for by :meth:`wait` (see the module)."""

    def __init__(
        self, access_log: AccessRecorder | None, query: str, fields: dict[str, Any]
    ) -> None:
        self._access_log, self._query, self._fields = access_log, query, fields
        self._sent: Any = None
        self._error: Unrecorded | None = None
        begin = getattr(access_log, "begin", None)
        if begin is not None:
            try:
                self._sent = _recording(access_log, query, lambda _: begin(query=query, **fields))
            except Unrecorded as error:
                self._error = error

    def wait(self) -> None:
        """Return once the read is recorded; else :class:`Unrecorded`. Called once."""
        if self._error is not None:
            raise self._error
        if self._sent is not None:
            _recording(self._access_log, self._query, lambda _: self._sent.wait())
        else:
            record(self._access_log, self._query, self._fields)


def _recording(
    access_log: AccessRecorder | None, query: str, step: Callable[[AccessRecorder], T]
) -> T:
    """``step(access_log)``, or :class:`Unrecorded` without one or if it raises (logged)."""
    if access_log is None:
        msg = (
            f"{query} is answered only once its reading is recorded, and this service"
            " keeps no access log; rule: every read of a case's record is recorded"
        )
        raise Unrecorded(msg)
    try:
        return step(access_log)
    except Exception as error:
        log.error("access_not_recorded", query=query, error=type(error).__name__)
        msg = (
            f"the read of {query} could not be recorded in the access log, so it is not"
            " answered; rule: every read of a case's record is recorded"
        )
        raise Unrecorded(msg) from error
