"""The Merkle log over HTTP: checkpoints, proofs and the agencies' cosignatures.

Readable by every authenticated role (hashes and signatures only, no personal data):

* ``GET /log/key``: the log's C2SP verifier key (``<origin>+<key id>+<key>``, ``text/plain``):
  what ``ledger log`` checks checkpoints with when no key is pinned;
* ``GET /log/checkpoint``: the latest signed checkpoint note (``text/plain``), with every
  cosignature counted for it as further signature lines;
* ``GET /log/checkpoints/{size}``: the checkpoint of that tree size, the same way;
* ``GET /log/proof/inclusion?seq=N&size=S``: ``{seq, index, size, leaf_hash, proof}``
  (hashes in standard base64; ``size`` defaults to the latest checkpoint's);
* ``GET /log/proof/consistency?from=M&to=N``: ``{from, to, proof}`` (``to`` defaults to
  the latest checkpoint's size).

``POST /log/cosignatures`` (agency tokens only): a ``text/plain`` note, the checkpoint's
body, a blank line and the agency's ``cosignature/v1`` line (docs/proofs.md, "Witnesses").
201 ``{agency, size, sequence}`` once it is on the log stream; 400 if it is malformed or
does not verify with a key the agency registered; 409 if it is for a checkpoint the log
never published. A size or sequence no checkpoint covers is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Final

import anyio.to_thread
import structlog
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, QueryParameter

from interfaces.http._openapi import BEARER, with_problems
from interfaces.http._problems import Refused, from_ledger_error, problem, refusal
from ledger.errors import LedgerError
from ledger.proofs.errors import CosignatureRefused, ProofUnavailable
from ledger.proofs.note import format_verifier_key
from runtime.log import MAX_NOTE, MerkleLog
from runtime.tokens import Role, TokenRecord
from schemas.log import ConsistencyProof, CosignatureAccepted, InclusionProof

__all__ = ["log_routes"]

log = structlog.get_logger()

Authenticate = Callable[[Request[Any, Any, Any]], TokenRecord]

_TEXT: Final = "text/plain; charset=utf-8"
_READ_PROBLEMS: Final = {
    400: "A parameter is not a whole number (`field`)",
    401: "No valid API token",
    404: "No checkpoint the log published covers this size or sequence",
    503: "The log cannot be read",
}


def log_routes(merkle_log: MerkleLog, authenticate: Authenticate) -> list[HTTPRouteHandler]:
    """The Merkle log's routes over ``merkle_log``."""

    def answer(
        request: Request[Any, Any, Any], route: str, call: Callable[[], Response[Any]]
    ) -> Response[Any]:
        try:
            authenticate(request)
        except Refused as error:
            log.warning("request_refused", status=error.status, reason=error.reason, route=route)
            return refusal(error)
        try:
            return call()
        except _BadNumber as error:
            return problem(
                400, "invalid-query", "The request is not valid", str(error), field=error.field
            )
        except ProofUnavailable as error:
            return problem(404, "not-found", "No checkpoint covers it", str(error))
        except LedgerError as error:
            return from_ledger_error(error)

    @get(
        "/log/key",
        name="log-key",
        tags=["log"],
        sync_to_thread=True,
        media_type=_TEXT,
        summary="The log's verifier key (C2SP signed-note)",
        security=BEARER,
        operation_class=with_problems({401: "No valid API token"}),
    )
    def key(request: Request[Any, Any, Any]) -> Response[Any]:
        """The key the log signs its checkpoints with, as ``<origin>+<key id>+<key>``."""
        vkey = format_verifier_key(merkle_log.origin, merkle_log.log_key)
        return answer(request, "log-key", lambda: _text(vkey + "\n"))

    @get(
        "/log/checkpoint",
        name="log-checkpoint",
        tags=["log"],
        sync_to_thread=True,
        media_type=_TEXT,
        summary="The latest signed checkpoint, with its cosignatures",
        security=BEARER,
        operation_class=with_problems(_READ_PROBLEMS),
    )
    def latest(request: Request[Any, Any, Any]) -> Response[Any]:
        """The latest checkpoint note (C2SP tlog-checkpoint, signed note)."""
        return answer(request, "log-checkpoint", lambda: _text(merkle_log.latest_checkpoint()))

    @get(
        "/log/checkpoints/{size:int}",
        name="log-checkpoint-of-size",
        tags=["log"],
        sync_to_thread=True,
        media_type=_TEXT,
        summary="The signed checkpoint of one tree size, with its cosignatures",
        security=BEARER,
        operation_class=with_problems(_READ_PROBLEMS),
    )
    def of_size(request: Request[Any, Any, Any], size: FromPath[int]) -> Response[Any]:
        """The checkpoint note of tree size ``size``."""
        return answer(request, "log-checkpoint-of-size", lambda: _text(merkle_log.checkpoint(size)))

    @get(
        "/log/proof/inclusion",
        name="log-inclusion-proof",
        tags=["log"],
        sync_to_thread=True,
        summary="That an event is in the tree of a checkpoint",
        responses={200: ResponseSpec(data_container=InclusionProof, description="The proof")},
        security=BEARER,
        operation_class=with_problems(_READ_PROBLEMS),
    )
    def inclusion(
        request: Request[Any, Any, Any],
        seq: FromQuery[str | None] = None,
        size: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """The audit path of stream sequence ``seq`` in the tree of ``size`` leaves."""
        return answer(
            request,
            "log-inclusion-proof",
            lambda: Response(
                merkle_log.inclusion_proof(_number(seq, "seq"), _optional(size, "size"))
            ),
        )

    @get(
        "/log/proof/consistency",
        name="log-consistency-proof",
        tags=["log"],
        sync_to_thread=True,
        summary="That one checkpoint's tree is a prefix of another's",
        responses={200: ResponseSpec(data_container=ConsistencyProof, description="The proof")},
        security=BEARER,
        operation_class=with_problems(_READ_PROBLEMS),
    )
    def consistency(
        request: Request[Any, Any, Any],
        first: Annotated[str | None, QueryParameter(name="from")] = None,
        to: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """The consistency proof from tree size ``from`` to tree size ``to``."""
        return answer(
            request,
            "log-consistency-proof",
            lambda: Response(
                merkle_log.consistency_proof(_number(first, "from"), _optional(to, "to"))
            ),
        )

    @post(
        "/log/cosignatures",
        name="log-cosignature",
        tags=["log"],
        status_code=201,
        summary="An agency's cosignature of a checkpoint",
        responses={
            201: ResponseSpec(data_container=CosignatureAccepted, description="Stored"),
        },
        security=BEARER,
        operation_class=with_problems(
            {
                400: "The note is malformed or its cosignature does not verify",
                401: "No valid API token",
                403: "Not an agency token",
                409: "The checkpoint is not one the log published",
                413: "The note is larger than a cosigned checkpoint can be",
                503: "The log cannot be written",
            }
        ),
    )
    async def cosignature(request: Request[Any, Any, Any]) -> Response[Any]:
        """Store the agency's cosignature (a text/plain note) on the log stream."""
        data = await request.body()
        return await anyio.to_thread.run_sync(_cosign, merkle_log, authenticate, request, data)

    return [key, latest, of_size, inclusion, consistency, cosignature]


def _cosign(
    merkle_log: MerkleLog, authenticate: Authenticate, request: Request[Any, Any, Any], data: bytes
) -> Response[Any]:
    caller: TokenRecord | None = None
    try:
        caller = authenticate(request)
        if caller.role != Role.AGENCY or caller.agency is None:
            raise Refused(403, "only agency tokens may cosign: a witness is an agency")
    except Refused as error:
        log.warning(
            "request_refused",
            status=error.status,
            reason=error.reason,
            route="log-cosignature",
            role=None if caller is None else caller.role.value,
        )
        return refusal(error)
    if len(data) > MAX_NOTE:
        return problem(
            413,
            "too-large",
            "The note is too large",
            f"the note holds {len(data)} bytes; rule: at most {MAX_NOTE}",
        )
    try:
        accepted = merkle_log.add_cosignature(caller.agency, data)
    except CosignatureRefused as error:
        status = 409 if error.conflict else 400
        log.warning("cosignature_refused", status=status, agency=caller.agency)
        kind = "conflict" if error.conflict else "invalid-cosignature"
        return problem(status, kind, "The cosignature is refused", str(error))
    except LedgerError as error:
        return from_ledger_error(error)
    return Response(accepted, status_code=201)


class _BadNumber(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _number(value: str | None, field: str) -> int:
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        msg = f"{field} is not a whole number; rule: digits only"
        raise _BadNumber(msg, field)
    return int(text)


def _optional(value: str | None, field: str) -> int | None:
    return None if value is None else _number(value, field)


def _text(note: str) -> Response[str]:
    return Response(note, media_type=_TEXT)
