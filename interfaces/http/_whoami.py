"""``GET /token``: who the presented token records and reads as, and what a client signs.

A client that signs its commands (docs/proofs.md, "Signatures") signs over the subject
``<prefix>.<partnership>.<kind>.<id>`` and over ``recorded_by``, which the service takes
from the token, not from the request. This route tells it both, so that ``ledger record
--key`` against a remote service needs no ``--as-agency``/``--as-actor``: the token's role,
partnership, agency and actor (never its secret or hash), and the service's subject prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from interfaces.http._openapi import BEARER, with_problems
from interfaces.http._problems import Refused, refusal
from runtime.tokens import TokenRecord
from schemas.access import TokenIdentity

__all__ = ["whoami_route"]

log = structlog.get_logger()

Authenticate = Callable[[Request[Any, Any, Any]], TokenRecord]


def whoami_route(authenticate: Authenticate, subject_prefix: str) -> HTTPRouteHandler:
    """``GET /token`` for tokens ``authenticate`` lets in, on a ledger of ``subject_prefix``."""

    @get(
        "/token",
        name="token",
        tags=["service"],
        sync_to_thread=True,  # the token store may read its file
        summary="The presented token's role, partnership, agency and actor",
        security=BEARER,
        operation_class=with_problems({401: "No valid API token"}),
    )
    def whoami(request: Request[Any, Any, Any]) -> Response[Any]:
        """What the token is bound to, and the subject prefix a signed command names."""
        try:
            record = authenticate(request)
        except Refused as error:
            log.warning("request_refused", status=error.status, reason=error.reason, route="token")
            return refusal(error)
        identity = TokenIdentity(
            id=record.id,
            role=str(record.role),
            partnership=record.partnership,
            agency=record.agency,
            actor=record.actor,
            subject_prefix=subject_prefix,
        )
        return Response(identity)

    return whoami
