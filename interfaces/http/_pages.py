"""The web pages that ``ledger serve`` serves beside the API: server-rendered HTML.

Jinja2 templates (``templates/``) through Litestar's template engine, a stylesheet
(``static/``) shipped in the package: no front-end build, no script, nothing from
another host. Routes:

| route | page |
|---|---|
| ``GET /`` | the signed-in role's first page (else the sign-in) |
| ``GET /sign-in``, ``POST /sign-in`` | sign in with an API token; ``POST /sign-out`` |
| ``GET /pages/{partnership}/dashboard?as_of=DATE`` | board, inspector: the dashboard |
| ``GET /pages/{partnership}/cases`` | the cases the role may open |
| ``GET /pages/{partnership}/cases/{case}?as_of=T`` | a case's chronology and key moments |
| ``GET /pages/{partnership}/cases/{case}/chronology.csv?as_of=T`` | the page's entries, as CSV |
| ``GET /pages/{partnership}/report?year=Y&format=F`` | board, inspector: the yearly report |
| ``GET /pages/{partnership}/report/download?year=Y&format=F`` | its file (``_report_page``) |
| ``GET``/``POST /pages/{partnership}/forms/{Tag}`` | the forms (see ``_form_pages``) |

Pages ask the questions of :data:`interfaces.queries.QUERIES` with the API's permission
checks (:func:`~interfaces.queries.permit`), as the token signed in (see
:mod:`interfaces.http._session`), so a role sees on a page what the API lets it read
and nothing more; a refusal is a 403 page saying why, and a page asked without a session
sends the browser to the sign-in. Reading a case's chronology, on the page or as CSV, is
recorded in the access log first, as the API's read is (not recorded: not shown, 503).

With a Merkle log, the case page says what vouches for the entries it shows ("Verified
against checkpoint N, witnessed by X, Y", or that no checkpoint covers them yet, or that no
witness has cosigned it yet), and its CSV carries the API's ``Ledger-Attestation`` header.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import structlog
from litestar import Request, Response, Router, get, post
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router

from interfaces import exports
from interfaces.http._challenge_page import challenge_route
from interfaces.http._dashboard import sections
from interfaces.http._form_pages import form_routes, forms_for
from interfaces.http._page_kit import (
    DATETIME_LOCAL,
    HERE,
    PageError,
    Pages,
    as_of_param,
    error_page,
    guarded,
    home_of,
    http_error,
    internal_error_page,
    page,
    path_of,
)
from interfaces.http._reads import AccessRecorder, AsOfViews, Attest, attestation_of
from interfaces.http._recommendations_page import recommendations_route
from interfaces.http._report_page import report_page_routes
from interfaces.http._session import middleware, signed_in, start_session
from interfaces.http._timeliness_page import timeliness_route
from interfaces.queries import QUERIES
from ledger.application import Ledger
from projections import Views
from projections.calendar import LONDON, local_date
from projections.chronology import Chronology
from runtime.tokens import InvalidToken, Role, TokenRecord, TokenStore
from schemas.wire import HTTP_ATTESTATION

__all__ = ["page_routes"]

log = structlog.get_logger()


def page_routes(
    ledger: Ledger,
    views: Views,
    tokens: TokenStore,
    *,
    as_of_views: AsOfViews,
    access_log: AccessRecorder | None,
    secret: str,
    wait_s: float = 5.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    attest: Attest | None = None,
) -> list[Router]:
    """The pages, their forms (recording through ``ledger``, then waiting at most
    ``wait_s`` for the views to show it) and their stylesheet, behind the session and
    CSRF middleware; ``clock`` is the yearly report's now; ``attest`` says what vouches for
    a case's chronology (:meth:`runtime.log.MerkleLog.attestation`)."""
    pages = Pages(
        views=views,
        tokens=tokens,
        as_of_views=as_of_views,
        access_log=access_log,
        attest=attest,
    )
    handlers = [
        _home(pages),
        _sign_in_form(pages),
        _sign_in(pages),
        _sign_out(),
        _dashboard(pages),
        _cases(pages),
        _case(pages),
        _case_csv(pages),
        challenge_route(pages),
        timeliness_route(pages),
        recommendations_route(pages),
        *report_page_routes(pages, clock=clock),
        *form_routes(pages, ledger, wait_s=wait_s),
    ]
    router = Router(
        path="/",
        route_handlers=handlers,
        middleware=middleware(secret),
        exception_handlers={HTTPException: http_error, Exception: internal_error_page},
        response_headers={"Cache-Control": "no-store"},
        include_in_schema=False,
    )
    static = create_static_files_router(
        path="/static", directories=[HERE / "static"], include_in_schema=False
    )
    return [router, static]


# -- the routes --------------------------------------------------------------------------


def _home(pages: Pages) -> Any:
    @get("/", sync_to_thread=True, name="page-home")
    def home(request: Request[Any, Any, Any]) -> Redirect | Template:
        token, ended = signed_in(request, pages.tokens)
        if token is None:
            return Redirect("/sign-in" + (f"?ended={ended}" if ended else ""), status_code=303)
        if token.role is Role.ADMIN:
            return error_page(
                token,
                PageError(
                    403,
                    "Not allowed",
                    "an admin token opens no pages (it registers partnerships and agencies)",
                ),
            )
        return Redirect(home_of(token), status_code=303)

    return home


_ENDED: Final = {
    "revoked": "Your session ended: the token it was opened with has been revoked.",
    "signed-out": "You have signed out.",
    "expired": "Your session ended: it is 8 hours since you signed in. Sign in again.",
}


def _sign_in_form(pages: Pages) -> Any:
    @get("/sign-in", sync_to_thread=True, name="page-sign-in")
    def sign_in_form(request: Request[Any, Any, Any]) -> Template:
        token, _ = signed_in(request, pages.tokens)
        ended = request.query_params.get("ended")
        return page("sign_in.html", token, "Sign in", notice=_ENDED.get(ended or ""))

    return sign_in_form


def _sign_in(pages: Pages) -> Any:
    @post("/sign-in", name="page-sign-in-post", status_code=303)
    async def sign_in(request: Request[Any, Any, Any]) -> Redirect | Template:
        form = await request.form()
        presented = str(form.get("token", "")).strip()
        try:
            if not presented:
                raise InvalidToken("no token was given")
            token = pages.tokens.authenticate(presented)
        except InvalidToken as error:
            log.warning("sign_in_refused", reason=str(error))
            return page(
                "sign_in.html",
                None,
                "Sign in",
                status=401,
                error=f"The token was not accepted: {error}.",
            )
        start_session(request, token)
        log.info("signed_in", role=token.role.value, partnership=token.partnership)
        return Redirect("/", status_code=303)

    return sign_in


def _sign_out() -> Any:
    @post("/sign-out", name="page-sign-out", status_code=303)
    async def sign_out(request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/sign-in?ended=signed-out", status_code=303)

    return sign_out


def _dashboard(pages: Pages) -> Any:
    @get("/pages/{partnership:str}/dashboard", sync_to_thread=True, name="page-dashboard")
    def dashboard(request: Request[Any, Any, Any]) -> Any:
        partnership = str(request.path_params["partnership"])

        def render(token: TokenRecord) -> Template:
            when = as_of_param(request.query_params.get("as_of"))
            pages.ask("partnership", token, partnership)  # its token's, and known: else 403, 404
            day = local_date(when or datetime.now(UTC))
            with pages.at(when) as source:

                def ask(name: str) -> Any:
                    return pages.ask(name, token, partnership, source=source, as_of=when)

                shown = sections(
                    day=day,
                    by_quarter=ask("opt-outs-by-quarter"),
                    repeat=ask("repeat-refusers"),
                    performance=ask("timeliness-by-rule"),
                    open_challenges=ask("open-challenges"),
                    recommendations=ask("recommendations"),
                    themes=ask("recurring-themes"),
                )
            return page(
                "dashboard.html",
                token,
                f"Partnership dashboard: {partnership}",
                current="Dashboard",
                partnership=partnership,
                as_of=when,
                as_of_value="" if when is None else day.isoformat(),
                s=shown,
            )

        return guarded(pages, render)(request)

    return dashboard


def _cases(pages: Pages) -> Any:
    @get("/pages/{partnership:str}/cases", sync_to_thread=True, name="page-cases")
    def cases(request: Request[Any, Any, Any]) -> Any:
        partnership = str(request.path_params["partnership"])

        def render(token: TokenRecord) -> Template:
            after = request.query_params.get("after")
            query = QUERIES["cases"]
            filters = query.filters(after=after or None, limit=100)
            listed = pages.ask("cases", token, partnership, filters=filters)
            more = len(listed) == 100
            return page(
                "cases.html",
                token,
                f"Cases: {partnership}",
                current="Cases",
                partnership=partnership,
                cases=listed,
                next_after=listed[-1].case if more else None,
            )

        return guarded(pages, render)(request)

    return cases


def _case(pages: Pages) -> Any:
    @get("/pages/{partnership:str}/cases/{case:str}", sync_to_thread=True, name="page-case")
    def case_page(request: Request[Any, Any, Any]) -> Any:
        partnership, case = path_of(request)

        def render(token: TokenRecord) -> Template:
            when = as_of_param(request.query_params.get("as_of"))
            summary = pages.ask("case", token, partnership, case=case)
            chronology: Chronology = pages.ask(
                "chronology", token, partnership, case=case, as_of=when
            )
            with pages.at(when) as source:
                moments = pages.ask(
                    "key-moments", token, partnership, case=case, as_of=when, source=source
                )
            pages.record(token, partnership, case, when)
            explanations = {
                e.explains_sequence: e for e in chronology.entries if e.explains_sequence
            }
            csv = f"/pages/{partnership}/cases/{case}/chronology.csv"
            if when is not None:
                csv += f"?as_of={when.isoformat().replace('+00:00', 'Z')}"
            return page(
                "case.html",
                token,
                f"Case {case}",
                current="Cases",
                partnership=partnership,
                case=summary,
                chronology=chronology,
                explanations=explanations,
                moments=moments,
                as_of=when,
                as_of_value=""
                if when is None
                else when.astimezone(LONDON).strftime(DATETIME_LOCAL),
                csv_href=csv,
                forms=dict(forms_for(token)),
                attested=pages.attest is not None,
                attestation=attestation_of(pages.attest, chronology),
            )

        return guarded(pages, render)(request)

    return case_page


def _case_csv(pages: Pages) -> Any:
    @get(
        "/pages/{partnership:str}/cases/{case:str}/chronology.csv",
        sync_to_thread=True,
        name="page-case-csv",
    )
    def case_csv(request: Request[Any, Any, Any]) -> Any:
        partnership, case = path_of(request)

        def render(token: TokenRecord) -> Response[bytes]:
            when = as_of_param(request.query_params.get("as_of"))
            chronology = pages.ask("chronology", token, partnership, case=case, as_of=when)
            pages.record(token, partnership, case, when)
            body = exports.to_csv(exports.rows(chronology)).encode("utf-8")
            name = f"chronology-{partnership}-{case}"  # the API's name for the same CSV
            headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
            attestation = attestation_of(pages.attest, chronology)
            if attestation is not None:
                headers[HTTP_ATTESTATION] = attestation.sentence()
            return Response(body, media_type="text/csv", headers=headers)

        return guarded(pages, render)(request)

    return case_csv
