"""The Litestar app: health, readiness, and one POST per command type.

Routes: ``GET /health`` (the process is live), ``GET /ready`` (the stream answers),
and ``POST /commands/{Tag}`` for every tag of :data:`schemas.COMMAND_TYPES`, whose body
is that command as JSON (``type`` may be left out). A command is answered 201 with its
:class:`~ledger.application.Receipt` (``sequence``, ``recorded_at`` ...).

Each command request is checked in this order (the bearer token here, the rest in
:func:`interfaces.http._send.send`, which the pages' forms call too), and nothing is
written on any refusal:
the bearer token (401), the role may send the command (:data:`MAY_SEND`, 403), the body
decodes (400), it is for the token's partnership and names no other agency where it
names the recording one (``by_agency``, ``from_agency``, ``lead_agency``: 403); then the
ledger's own checks (400, 404, 409, 503). ``recorded_by`` is the token's agency and
actor, never the body's. Refusals are logged with the role, partnership, agency and
command tag, never the body. :meth:`Ledger.execute` blocks, so it runs on a thread of
:class:`~interfaces.http._commands.CommandThreads`, never on the event loop; the app
(:class:`LedgerApp`) answers a command by :class:`~interfaces.http._commands.CommandPath`
before Litestar routes it (the same checks and answers for a fraction of the CPU).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

import msgspec
import structlog
from litestar import Litestar, Request, Response, get, post
from litestar.enums import ParamType
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)
from litestar.router import Router

import schemas
from consumers.feed import AgencyFeed
from interfaces.http._bundle import BundleExporter, bundle_route
from interfaces.http._chronology_path import ChronologyPath
from interfaces.http._commands import (
    CommandHandler,
    CommandPath,
    CommandThreads,
    Overloaded,
    authenticate,
    command_handler,
    overloaded,
)
from interfaces.http._events import access_log_routes, event_routes
from interfaces.http._log import log_routes
from interfaces.http._openapi import (
    BEARER,
    SECURITY_COMPONENTS,
    inline,
    problem_responses,
    with_problems,
)
from interfaces.http._page_kit import template_config
from interfaces.http._pages import page_routes
from interfaces.http._problems import (
    from_http_exception,
    from_ledger_error,
    internal_error,
    problem,
)
from interfaces.http._reads import AccessRecorder, AsOfViews, Reads, read_routes
from interfaces.http._report import report_route
from interfaces.http._whoami import whoami_route
from ledger.application import Ledger, Receipt
from ledger.errors import LedgerUnavailable
from projections import Views
from projections.as_of import PastViews
from runtime.access_log import AccessLog
from runtime.log import MerkleLog
from runtime.readiness import ReadyState
from runtime.tokens import TokenRecord, TokenStore
from schemas.commands import BaseCommand
from schemas.wire import HDR_SIGNATURE

__all__ = ["COMMAND_PATH", "LedgerApp", "create_app"]

log = structlog.get_logger()

#: The path of a command's route; ``{tag}`` is its ``type`` tag.
COMMAND_PATH: Final = "/commands/{tag}"
#: A command is a few kilobytes at most (its texts are bounded by the schemas).
_MAX_BODY: Final = 1 << 20
#: The problems a command route answers with, as its OpenAPI operation documents them.
_COMMAND_PROBLEMS: Final = {
    400: "The body is not valid JSON or not a valid command (`field`, `rule`), or the "
    "signature is malformed or does not verify",
    401: "No valid API token",
    403: "The token may not send this command, or not for this partnership or agency; or the "
    "signature is by another agency's, an unknown or a revoked key, or is missing where the "
    "partnership requires one",
    404: "The partnership, case, challenge or review does not exist",
    409: "Another writer came first, or a rule of the ledger refuses it (`rule`)",
    413: "The body is larger than a command can be",
    503: "The ledger cannot be reached, or too many commands wait already (`Retry-After`)",
}
_READY_PROBLEMS: Final = {503: "Not ready: the stream does not answer or the views lag"}
#: The worker threads the read routes block in (AnyIO's default limit for its own), the
#: chronology's direct path's too.
_READ_THREADS: Final = 40


class Ready(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The answer of ``/health`` and ``/ready`` (with the stream's last sequence and, when
    the app has a readiness check, the views' lowest position and their lag)."""

    status: str
    last_sequence: int | None = None
    views_position: int | None = None
    lag: int | None = None


def create_app(
    ledger: Ledger,
    tokens: TokenStore,
    *,
    debug: bool = False,
    readiness: Callable[[], ReadyState] | None = None,
    views: Views | None = None,
    access_log: AccessRecorder | None = None,
    read_wait_s: float = 5.0,
    as_of_views: AsOfViews | None = None,
    feed: AgencyFeed | None = None,
    pages_secret: str | None = None,
    clock: Callable[[], datetime] | None = None,
    merkle_log: MerkleLog | None = None,
    bundles: BundleExporter | None = None,
) -> Litestar:
    """The HTTP API over ``ledger``, letting in the callers ``tokens`` knows.

    With ``views``, one GET per question of :data:`interfaces.queries.QUERIES` too (see
    :mod:`interfaces.http._reads`) and the yearly report (:mod:`interfaces.http._report`):
    ``access_log`` records the reads of a case's chronology (without one they are
    refused, 503), ``read_wait_s`` bounds the wait of a read ``after`` a sequence, and
    ``as_of_views`` gives the views as of an instant (by default a
    :class:`~projections.as_of.PastViews` of ``ledger``, closed with the app).

    ``readiness`` decides ``/ready`` (``ledger serve`` passes a
    :class:`runtime.readiness.Readiness`: the stream answers and the views are caught up);
    without it ``/ready`` asks only that the stream answers.

    With an :class:`~runtime.access_log.AccessLog` as ``access_log``, the board's
    ``GET /partnerships/{p}/access-log`` too; with ``feed``, the agencies' Server-Sent
    Events ``GET /partnerships/{p}/events`` (see :mod:`interfaces.http._events`).

    With ``views``, the web pages too (:mod:`interfaces.http._pages`: sign-in, the
    dashboard, the case page), their CSRF tokens signed with ``pages_secret`` (``ledger
    serve`` keeps one in the data dir; without it, a key of this app's own).

    With ``merkle_log``, the Merkle log's checkpoints, proofs and cosignatures too
    (:mod:`interfaces.http._log`), and a case's chronology says what vouches for it (the
    ``Ledger-Attestation`` header, the case page's line). With ``views`` and ``bundles``
    (``ledger serve`` passes :meth:`runtime.service.Service.bundle`), a case's inspector's
    bundle (:mod:`interfaces.http._bundle`), read as its chronology is.

    ``clock`` is the yearly report's now (the route's and the page's; UTC now by
    default): a year not over is reported as of it.
    """

    @get("/health", sync_to_thread=False, tags=["service"], security=[])
    def health() -> Ready:
        """The process is live."""
        return Ready(status="live")

    @get(
        "/ready",
        sync_to_thread=True,
        tags=["service"],
        security=[],
        operation_class=with_problems(_READY_PROBLEMS),
    )
    def ready() -> Response[Any]:
        """The stream answers and the views are caught up: 200, else a 503 problem with
        the lag, the views' positions and any stopped worker."""
        if readiness is not None:
            state = readiness()
            if not state.ready:
                return problem(503, "not-ready", "Not ready", state.reason, **_figures(state))
            return Response(
                Ready(
                    status="ready",
                    last_sequence=state.stream_position,
                    views_position=state.views_position,
                    lag=state.lag,
                )
            )
        try:
            last = ledger.recorder.max_notification_id()
        except LedgerUnavailable as error:
            return from_ledger_error(error)
        return Response(Ready(status="ready", last_sequence=last))

    documents = schemas.command_schemas()
    threads = CommandThreads()
    commands = {
        tag: command_handler(ledger, tokens, tag, cls) for tag, cls in schemas.COMMAND_TYPES.items()
    }
    handlers: list[HTTPRouteHandler | Router] = [health, ready]
    handlers += [
        _command_route(threads, commands[tag], tag, cls, documents[tag])
        for tag, cls in schemas.COMMAND_TYPES.items()
    ]
    authenticate = functools.partial(_authenticate, tokens)
    on_shutdown: list[Callable[[], None]] = [threads.close]
    chronology_path: ChronologyPath | None = None
    attest = merkle_log.attestation if merkle_log is not None else None
    if views is not None:
        if as_of_views is None:
            past = PastViews(ledger, rules=views.rules)
            as_of_views = past.at
            on_shutdown.append(past.close)
        read_threads = CommandThreads(_READ_THREADS, what="reads")
        on_shutdown.append(read_threads.close)
        read_state = Reads(
            views=views,
            authenticate=authenticate,
            last_sequence=ledger.recorder.max_notification_id,
            access_log=access_log,
            wait_s=read_wait_s,
            as_of_views=as_of_views,
            attest=attest,
            threads=read_threads,
        )
        handlers += read_routes(read_state)
        chronology_path = ChronologyPath(read_state, _header_authenticator(tokens), read_threads)
        now = clock or _utc_now
        handlers.append(
            report_route(views, authenticate=authenticate, as_of_views=as_of_views, clock=now)
        )
        if bundles is not None:
            handlers.append(
                bundle_route(views, bundles, authenticate=authenticate, access_log=access_log)
            )
        handlers += page_routes(
            ledger,
            views,
            tokens,
            as_of_views=as_of_views,
            access_log=access_log,
            secret=pages_secret or secrets.token_hex(32),
            wait_s=read_wait_s,
            clock=now,
            attest=attest,
        )
    if isinstance(access_log, AccessLog):
        handlers += access_log_routes(access_log, authenticate)
    handlers.append(whoami_route(authenticate, ledger.subject_prefix))
    if feed is not None:
        handlers += event_routes(feed, authenticate)
    if merkle_log is not None:
        handlers += log_routes(merkle_log, authenticate)
    app = LedgerApp(
        route_handlers=handlers,
        exception_handlers={
            HTTPException: from_http_exception,
            Exception: internal_error,
        },
        openapi_config=OpenAPIConfig(
            title="Accountability ledger",
            version="1",
            path="/schema",
            components=SECURITY_COMPONENTS,
        ),
        request_max_body_size=_MAX_BODY,
        template_config=template_config(),
        on_shutdown=on_shutdown,
        debug=debug,
    )
    app.command_path = CommandPath(commands, threads, _MAX_BODY)
    app.chronology_path = chronology_path
    return app


class LedgerApp(Litestar):
    """The Litestar app, with the commands' and the chronology's direct paths in front of
    its router."""

    #: Answers ``POST /commands/{Tag}`` before Litestar routes it (set by :func:`create_app`).
    command_path: CommandPath | None = None
    #: Answers a case's chronology as JSON before Litestar routes it (with views).
    chronology_path: ChronologyPath | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        direct = self.command_path.route(scope) if self.command_path is not None else None
        if direct is None and self.chronology_path is not None:
            direct = self.chronology_path.route(scope)
        if direct is not None:
            await direct(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _figures(state: ReadyState) -> dict[str, Any]:
    """A readiness check's figures as problem-details members."""
    return {
        "last_sequence": state.stream_position,
        "views_position": state.views_position,
        "lag": state.lag,
        "max_lag": state.max_lag,
        "positions": state.positions or None,
        "failed_workers": state.failed_workers or None,
    }


def _command_route(
    threads: CommandThreads,
    handle: CommandHandler,
    tag: str,
    cls: type[BaseCommand],
    document: dict[str, Any],
) -> HTTPRouteHandler:
    """The POST route of command ``tag``, whose body's JSON Schema is ``document``: its
    OpenAPI operation, and what answers a request :class:`CommandPath` leaves to Litestar."""

    async def record(request: Request[Any, Any, Any]) -> Response[Any]:
        data = await request.body()
        authorization = request.headers.get("authorization")
        signature = request.headers.get(HDR_SIGNATURE)
        try:
            response: Response[Any] = await threads.run(handle, authorization, signature, data)
        except Overloaded as error:
            return overloaded(error)
        return response

    summary = (cls.__doc__ or tag).strip().splitlines()[0]
    return post(
        COMMAND_PATH.format(tag=tag),
        name=f"command-{tag}",
        operation_id=tag,
        summary=summary,
        tags=["commands"],
        status_code=201,
        operation_class=_operation_for(document),
        responses={201: ResponseSpec(data_container=Receipt, description="Recorded")},
        security=BEARER,
    )(_named(record, tag))


def _named(fn: Any, tag: str) -> Any:
    fn.__name__ = f"record_{tag}"
    fn.__qualname__ = fn.__name__
    return fn


def _header_authenticator(tokens: TokenStore) -> Callable[[str | None], TokenRecord]:
    """The caller's token record from an ``Authorization`` header's value, else 401."""
    return functools.partial(authenticate, tokens)


def _authenticate(tokens: TokenStore, request: Request[Any, Any, Any]) -> TokenRecord:
    """The caller's token record from ``Authorization: Bearer <token>``, else 401."""
    return authenticate(tokens, request.headers.get("authorization"))


def _operation_for(document: dict[str, Any]) -> type[Operation]:
    """An Operation whose request body is the command's published JSON Schema, and whose
    responses are the receipt and every problem a command can meet.

    The handler reads the raw body, so that the ledger's own decoder names the field and
    rule of a bad value; Litestar would not know the body's schema, so it is set here:
    the document of :func:`schemas.command_schemas` with its ``$defs`` inlined
    (:func:`~interfaces.http._openapi.inline`).
    """
    body = inline(document)
    problems = problem_responses(_COMMAND_PROBLEMS)

    @dataclass
    class CommandOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                content={"application/json": OpenAPIMediaType(schema=cast(Schema, body))},
                required=True,
            )
            self.responses = {**(self.responses or {}), **problems}
            self.parameters = [*(self.parameters or []), _SIGNATURE_PARAMETER]

    return CommandOperation


#: The detached signature a command may carry (docs/proofs.md, "Signatures").
_SIGNATURE_PARAMETER: Final = Parameter(
    name=HDR_SIGNATURE,
    param_in=ParamType.HEADER,
    required=False,
    schema=Schema(type=OpenAPIType.STRING, pattern=r"^ed25519 [^ ]+ [^ ]+ [A-Za-z0-9+/]{86}==$"),
    description=(
        "The recording agency's detached Ed25519 signature over what the command asserts: "
        "`ed25519 <agency> <key_id> <base64 signature>` (docs/proofs.md). Checked against the "
        "partnership's keys and stored with the event; required once the partnership requires "
        "signatures, unless the service holds a key for the agency. A signed command states "
        "`occurred_at`."
    ),
)
