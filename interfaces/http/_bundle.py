"""The inspector's bundle over HTTP: ``GET /partnerships/{partnership}/cases/{case}/bundle``.

The same file ``ledger export --case ID [--as-of T]`` writes (docs/proofs.md, "Bundles"):
the case's events as stored, their inclusion proofs, a witnessed checkpoint and the public
keys, as one JSON attachment (``bundle-<partnership>-<case>.json``) that ``python -m
ledger.verify FILE`` checks offline. ``as_of`` (an aware ISO 8601 instant or a date, read as
every GET reads it) keeps only the events recorded by then.

A bundle holds the case's events, so it is read as the chronology is: checked in the same
order with the same rules (the token 401; the parameters 400; who may read the case's
chronology, :func:`~interfaces.queries.permit` with the ``chronology`` question, 403; the
partnership and case exist, 404) and recorded in the access log (``query`` ``bundle``)
before it is answered: a read that cannot be recorded is not answered (503). A case with no
event by ``as_of`` is 404; one whose last event no published checkpoint holds yet is 409
(the checkpointer publishes one every ``LEDGER_CHECKPOINT_EVERY`` events or
``LEDGER_CHECKPOINT_SECONDS`` seconds: ask again then).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

import msgspec
import structlog
from litestar import Request, Response, get
from litestar.enums import ParamType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Schema,
)

from interfaces.http._openapi import BEARER, inline, problem_responses
from interfaces.http._problems import Refused, from_ledger_error, problem, refusal
from interfaces.http._read_params import BadParameter, as_of_instant
from interfaces.http._reads import AccessRecorder
from interfaces.queries import QUERIES, Ask, Caller, ReadRefused, permit
from ledger.errors import LedgerError, LedgerUnavailable
from ledger.proofs.bundle import Bundle, encode_bundle
from ledger.proofs.errors import ProofUnavailable
from ledger.proofs.note import split_checkpoint
from projections import Views
from projections.calendar import local_date
from projections.errors import UnknownEntity, ViewStoreError
from runtime.tokens import TokenRecord

__all__ = ["BUNDLE_PATH", "BundleExporter", "bundle_route"]

log = structlog.get_logger()

#: The route's path (Litestar's spelling of its parameters).
BUNDLE_PATH: Final = "/partnerships/{partnership:str}/cases/{case:str}/bundle"
#: ``(partnership, case, as_of) -> Bundle``: :meth:`runtime.service.Service.bundle`.
BundleExporter = Callable[[str, str, datetime | None], Bundle]
Authenticate = Callable[[Request[Any, Any, Any]], TokenRecord]

_QUERY: Final = "bundle"
_PROBLEMS: Final = {
    400: "A parameter is unknown, repeated or breaks its rule (`field`, `rule`)",
    401: "No valid API token",
    403: "The token may not read this case's chronology (the reason is in `detail`)",
    404: "The partnership or case does not exist, or the case had no event by `as_of`",
    409: "No published checkpoint holds the case's last event yet: ask again later",
    503: "The ledger, the Merkle log or the access log cannot be reached",
}


@dataclass(frozen=True, kw_only=True)
class _Bundles:
    views: Views
    export: BundleExporter
    authenticate: Authenticate
    access_log: AccessRecorder | None


class _Unrecorded(Exception):
    """The read could not be recorded in the access log, so it is not answered (503)."""


def bundle_route(
    views: Views,
    export: BundleExporter,
    *,
    authenticate: Authenticate,
    access_log: AccessRecorder | None,
) -> HTTPRouteHandler:
    """The bundle's GET route: permissions from ``views``, the file from ``export``, every
    read recorded in ``access_log`` (without one, every bundle is refused: 503)."""
    bundles = _Bundles(views=views, export=export, authenticate=authenticate, access_log=access_log)

    def read_bundle(request: Request[Any, Any, Any]) -> Response[Any]:
        """A case's bundle: its events, their proofs, a witnessed checkpoint, the keys."""
        fields: dict[str, str | None] = {"query": _QUERY}
        try:
            return _answer(bundles, request, fields)
        except Refused as error:
            log.warning("read_refused", status=error.status, reason=error.reason, **fields)
            return refusal(error)
        except ReadRefused as error:
            log.warning("read_refused", status=403, reason=error.reason, **fields)
            return problem(403, "forbidden", "Not allowed for this token", error.reason)
        except BadParameter as error:
            _failed(400, error, fields)
            return problem(
                400,
                "invalid-query",
                "The question is not valid",
                str(error),
                field=error.field,
                rule=error.rule,
            )
        except UnknownEntity as error:
            _failed(404, error, fields)
            return problem(
                404, "not-found", "It does not exist", str(error), field=error.kind, id=error.value
            )
        except ProofUnavailable as error:
            _failed(409, error, fields)
            return problem(409, "not-checkpointed", "No checkpoint holds it yet", str(error))
        except _Unrecorded as error:
            _failed(503, error, fields)
            return problem(503, "unrecorded", "The read could not be recorded", str(error))
        except (LedgerUnavailable, ViewStoreError) as error:
            _failed(503, error, fields)
            return problem(503, "unavailable", "The ledger or its views cannot be read", str(error))
        except LedgerError as error:
            response = from_ledger_error(error)
            _failed(response.status_code or 500, error, fields)
            return response

    return get(
        BUNDLE_PATH,
        name="read-bundle",
        operation_id="bundle",
        summary="The inspector's bundle of a case, which python -m ledger.verify checks offline.",
        tags=["log"],
        sync_to_thread=True,
        operation_class=_operation(),
        security=BEARER,
    )(read_bundle)


def _answer(
    bundles: _Bundles, request: Request[Any, Any, Any], fields: dict[str, str | None]
) -> Response[Any]:
    token = bundles.authenticate(request)
    fields |= {"role": token.role.value, "partnership": token.partnership, "agency": token.agency}
    partnership = str(request.path_params["partnership"])
    case = str(request.path_params["case"])
    as_of = _as_of(list(request.query_params.multi_items()))
    caller = Caller(role=token.role, partnership=token.partnership, agency=token.agency)
    chronology = QUERIES["chronology"]
    ask = Ask(
        partnership=partnership,
        filters=chronology.filters(),
        day=local_date(as_of or datetime.now(UTC)),
        as_of=as_of,
        case=case,
    )
    permit(chronology, caller, bundles.views, ask)  # the chronology's readers, no other
    bundles.views.directory.case(partnership, case)
    bundle = bundles.export(partnership, case, as_of)
    _record(bundles, token, partnership, case, as_of)
    log.info(
        "bundle_served",
        role=token.role.value,
        partnership=partnership,
        events=len(bundle.events),
        checkpoint_size=split_checkpoint(bundle.checkpoint)[0].size,
    )
    return Response(
        encode_bundle(bundle),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="bundle-{partnership}-{case}.json"'},
    )


def _as_of(items: list[tuple[str, Any]]) -> datetime | None:
    """The only parameter: ``as_of``, once, as every GET reads it."""
    names = [name for name, _ in items]
    for name in names:
        if name != "as_of":
            raise BadParameter(name, "is not a parameter of the bundle", "only as_of is")
    if len(names) > 1:
        raise BadParameter("as_of", "is given more than once", "give it once")
    return as_of_instant(str(items[0][1])) if items else None


def _record(
    bundles: _Bundles, token: TokenRecord, partnership: str, case: str, as_of: datetime | None
) -> None:
    if bundles.access_log is None:
        msg = (
            "a bundle is answered only once its reading is recorded, and this service keeps"
            " no access log; rule: every read of a case's record is recorded"
        )
        raise _Unrecorded(msg)
    try:
        bundles.access_log.record(
            partnership=partnership,
            case=case,
            query=_QUERY,
            role=token.role.value,
            agency=token.agency,
            token=token.id,
            as_of=as_of,
        )
    except Exception as error:
        log.error("access_not_recorded", query=_QUERY, error=type(error).__name__)
        msg = (
            "the read of the bundle could not be recorded in the access log, so it is not"
            " answered; rule: every read of a case's record is recorded"
        )
        raise _Unrecorded(msg) from error


def _failed(status: int, error: Exception, fields: dict[str, str | None]) -> None:
    log.warning("read_failed", status=status, error=type(error).__name__, **fields)


def _operation() -> type[Operation]:
    """The route's OpenAPI operation: ``as_of``, the bundle's schema, the attachment header."""
    as_of = Parameter(
        name="as_of",
        param_in=ParamType.QUERY,
        required=False,
        schema=cast(Schema, {"type": "string"}),
        description="Only the events recorded by this instant: an aware ISO 8601 instant, or a"
        " date (the end of that day in Europe/London). Not in the future.",
    )
    answer = OpenAPIResponse(
        description="The bundle (docs/proofs.md, 'Bundles'), as an attachment",
        content={
            "application/json": OpenAPIMediaType(
                schema=cast(Schema, inline(msgspec.json.schema(Bundle)))
            )
        },
        headers={
            "Content-Disposition": OpenAPIHeader(
                schema=Schema(type=OpenAPIType.STRING),
                required=True,
                description='attachment; filename="bundle-<partnership>-<case>.json"',
            )
        },
    )
    responses = {"200": answer, **problem_responses(_PROBLEMS)}

    @dataclass
    class BundleOperation(Operation):
        def __post_init__(self) -> None:
            path = [p for p in self.parameters or [] if getattr(p, "name", None) != "as_of"]
            self.parameters = [*path, as_of]
            self.responses = dict(responses)

    return BundleOperation
