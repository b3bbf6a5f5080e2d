"""Errors as RFC 9457 problem details (``application/problem+json``).

Only this edge turns the ledger's errors into HTTP statuses: a malformed command 400,
a missing partnership, case, challenge or review 404, a conflict or a refused domain
rule 409, an unreachable stream 503. The body's ``detail`` is the error's message
(which names the field and the rule, never a value that may be personal data),
``field`` its path and ``rule`` the rule when the error knows them.
"""

from __future__ import annotations

import re
from typing import Any, Final

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException

from ledger.errors import (
    AggregateNotFound,
    ConcurrencyConflict,
    InvalidCommand,
    InvalidEvent,
    LedgerError,
    LedgerUnavailable,
    RuleViolation,
)
from ledger.proofs.errors import SignatureInvalid, SignatureRefused

__all__ = [
    "MEDIA_TYPE",
    "Refused",
    "failed",
    "from_http_exception",
    "from_ledger_error",
    "internal_error",
    "problem",
    "refusal",
]

log = structlog.get_logger()

MEDIA_TYPE: Final = "application/problem+json"
_TYPE_PREFIX: Final = "urn:accountability-ledger:problem:"
_RULE: Final = re.compile(r"; rule: (?P<rule>.+)$")

#: Ledger error -> (status, problem type, title); the first match wins.
_STATUS: Final[tuple[tuple[type[LedgerError], int, str, str], ...]] = (
    (InvalidCommand, 400, "invalid-command", "The command is not valid"),
    (InvalidEvent, 400, "invalid-command", "The command is not valid"),
    (SignatureInvalid, 400, "invalid-signature", "The signature is malformed or does not verify"),
    (SignatureRefused, 403, "signature-refused", "The ledger refuses the command's signature"),
    (AggregateNotFound, 404, "not-found", "It does not exist"),
    (ConcurrencyConflict, 409, "conflict", "Another writer came first"),
    (RuleViolation, 409, "rule-violation", "A rule of the ledger refuses it"),
    (LedgerUnavailable, 503, "unavailable", "The ledger cannot be reached"),
)


class Refused(LedgerError, PermissionError):
    """Raised when the caller may not do what it asks: 401 (who are you) or 403 (not you)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def problem(
    status: int, kind: str, title: str, detail: str, **extra: Any
) -> Response[dict[str, Any]]:
    """A problem-details response; ``extra`` members that are ``None`` are left out."""
    body: dict[str, Any] = {
        "type": f"{_TYPE_PREFIX}{kind}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def refusal(error: Refused) -> Response[dict[str, Any]]:
    """The response to a refused caller."""
    if error.status == 401:
        return problem(401, "unauthorized", "A valid API token is required", error.reason)
    return problem(error.status, "forbidden", "Not allowed for this token", error.reason)


def from_ledger_error(error: LedgerError) -> Response[dict[str, Any]]:
    """The response to a ledger error; one the table does not name is a 500."""
    for cls, status, kind, title in _STATUS:
        if isinstance(error, cls):
            rule = getattr(error, "rule", None)
            if rule is None and (found := _RULE.search(str(error))):
                rule = found["rule"]
            return problem(
                status, kind, title, str(error), field=getattr(error, "field", None), rule=rule
            )
    return problem(500, "internal", "The ledger failed", type(error).__name__)


def from_http_exception(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    """Litestar's own errors (no such route, wrong method ...) as problem details."""
    return problem(error.status_code, "http", str(error.detail), str(error.detail))


def internal_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """Anything unforeseen: a 500 problem naming no detail, logged without locals."""
    return failed(request.url.path, error)


def failed(path: str, error: BaseException) -> Response[Any]:
    """The 500 problem of a request to ``path`` that failed unforeseen, logged without
    locals (:func:`internal_error`, and the commands' direct path)."""
    log.error("request_failed", path=path, error=type(error).__name__, exc_info=error)
    return problem(500, "internal", "The ledger failed", "an internal error; see the logs")
