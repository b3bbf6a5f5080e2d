"""What every web page shares: the templates, asking questions as the signed-in token,
the navigation, the error pages, and reading a page's ``as_of``.

See :mod:`interfaces.http._pages` for the pages themselves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from interfaces.http._forms import DATETIME_LOCAL
from interfaces.http._read_params import BadParameter, as_of_instant
from interfaces.http._reads import AccessRecorder, AsOfViews, Attest
from interfaces.http._report import REPORT_READERS
from interfaces.http._session import signed_in
from interfaces.queries import QUERIES, Ask, Caller, ReadRefused, permit
from ledger.errors import LedgerUnavailable
from projections import Views
from projections.calendar import LONDON, local_date
from projections.errors import InvalidViewQuery, UnknownEntity, ViewStoreError
from projections.recommendations import RecommendationStatus
from runtime.tokens import Role, TokenRecord, TokenStore

__all__ = [
    "DATETIME_LOCAL",
    "HERE",
    "NOTICE_KEY",
    "PARTNERSHIP_READERS",
    "RAG_ORDER",
    "PageError",
    "Pages",
    "as_of_param",
    "error_page",
    "guarded",
    "home_of",
    "http_error",
    "internal_error_page",
    "overdue_first",
    "page",
    "path_of",
    "template_config",
]

log = structlog.get_logger()

#: Red, amber, green: the order a recommendation's status is listed in.
RAG_ORDER: Final = {"red": 0, "amber": 1, "green": 2}


def overdue_first(recommendations: Iterable[RecommendationStatus]) -> list[RecommendationStatus]:
    """Recommendations as the pages list them: overdue first, then red, amber, green, the
    longest overdue, the earliest due."""
    return sorted(
        recommendations,
        key=lambda r: (
            not r.overdue,
            RAG_ORDER.get(str(r.rag), 3),
            -r.days_overdue,
            r.due,
            r.recommendation,
        ),
    )


HERE: Final = Path(__file__).parent
#: The session key of a message for the next page (a form's "recorded as ...").
NOTICE_KEY: Final = "notice"
#: The roles that record by hand (offered the forms).
WRITERS: Final = frozenset({Role.AGENCY, Role.BOARD})
#: The roles that read partnership-wide figures (the dashboard).
PARTNERSHIP_READERS: Final = frozenset({Role.BOARD, Role.INSPECTOR})


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """The pages' templates (autoescaped: Litestar's Jinja engine escapes HTML)."""
    config: TemplateConfig[JinjaTemplateEngine] = TemplateConfig(
        directory=HERE / "templates",
        engine=JinjaTemplateEngine,
        engine_callback=_filters,
    )
    return config


def _filters(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters["london"] = _london
    engine.engine.filters["yes_no"] = _yes_no


def _london(instant: datetime | None) -> str:
    return "" if instant is None else instant.astimezone(LONDON).strftime("%Y-%m-%d %H:%M")


def _yes_no(value: bool | None) -> str:
    return "not recorded" if value is None else ("yes" if value else "no")


class PageError(Exception):
    """A page that cannot be shown: rendered as an error page with its status and reason."""

    def __init__(self, status: int, title: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.title = title
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class Pages:
    views: Views
    tokens: TokenStore
    as_of_views: AsOfViews
    access_log: AccessRecorder | None
    #: What vouches for a chronology's entries (the Merkle log's), if the service keeps one.
    attest: Attest | None = None

    def ask(
        self,
        name: str,
        token: TokenRecord,
        partnership: str,
        *,
        source: Views | None = None,
        filters: Any = None,
        as_of: datetime | None = None,
        case: str | None = None,
    ) -> Any:
        """The answer of question ``name`` as the API gives it to ``token``."""
        query = QUERIES[name]
        ask = Ask(
            partnership=partnership,
            filters=filters if filters is not None else query.filters(),
            day=local_date(as_of or datetime.now(UTC)),
            as_of=as_of,
            case=case,
        )
        caller = Caller(role=token.role, partnership=token.partnership, agency=token.agency)
        ask = permit(query, caller, self.views, ask)
        return query.answer(source or self.views, ask)

    @contextmanager
    def at(self, as_of: datetime | None) -> Iterator[Views]:
        """The live views, or the views as the ledger stood at ``as_of``."""
        if as_of is None:
            yield self.views
            return
        with self.as_of_views(as_of) as past:
            yield past

    def record(
        self, token: TokenRecord, partnership: str, case: str, as_of: datetime | None
    ) -> None:
        """Record the read of ``case``'s chronology, else refuse to show it (503)."""
        unrecorded = PageError(
            503,
            "The read could not be recorded",
            "a case's chronology is shown only once its reading is recorded in the access"
            " log, and it could not be; rule: every read of a case's record is recorded",
        )
        if self.access_log is None:
            raise unrecorded
        try:
            self.access_log.record(
                partnership=partnership,
                case=case,
                query="chronology",
                role=token.role.value,
                agency=token.agency,
                token=token.id,
                as_of=as_of,
            )
        except Exception as error:
            log.error("access_not_recorded", query="chronology", error=type(error).__name__)
            raise unrecorded from error


# -- the pieces every page has -----------------------------------------------------------


@dataclass(frozen=True)
class _Link:
    label: str
    href: str
    current: bool = False


def _nav(token: TokenRecord, current: str) -> list[_Link]:
    """The pages the role may open."""
    base = f"/pages/{token.partnership}"
    links = []
    if token.role in PARTNERSHIP_READERS:
        links.append(_Link("Dashboard", f"{base}/dashboard"))
        links.append(_Link("Timeliness", f"{base}/timeliness"))
    if token.role is not Role.ADMIN:
        links.append(_Link("Cases", f"{base}/cases"))
        links.append(_Link("Challenges", f"{base}/challenges"))
        links.append(_Link("Recommendations", f"{base}/recommendations"))
    if token.role in REPORT_READERS:  # whom the report's route lets read it
        links.append(_Link("Yearly report", f"{base}/report"))
    if token.role in WRITERS:
        links.append(_Link("Record", f"{base}/forms"))
    return [dataclasses.replace(link, current=link.label == current) for link in links]


def page(
    name: str,
    token: TokenRecord | None,
    title: str,
    current: str = "",
    status: int = 200,
    **context: Any,
) -> Template:
    return Template(
        template_name=name,
        context={
            "title": title,
            "caller": token,
            "nav": _nav(token, current) if token is not None else [],
            **context,
        },
        status_code=status,
        media_type="text/html",
    )


def error_page(token: TokenRecord | None, error: PageError) -> Template:
    return page("refused.html", token, error.title, status=error.status, reason=error.reason)


def http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    """Litestar's own refusals (a CSRF token missing or wrong, no such page) as a page."""
    reason = str(error.detail)
    if error.status_code == 403 and "CSRF" in reason:
        reason = (
            "the form was not sent with this browser's CSRF token, so nothing was done;"
            " rule: every form carries the token of the page it came from (reload the page)"
        )
    log.warning("page_refused", status=error.status_code, path=request.url.path)
    title = "Not allowed" if error.status_code == 403 else "Cannot show this page"
    return page("refused.html", None, title, status=error.status_code, reason=reason)


def internal_error_page(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """Anything unforeseen on a page: a 500 page naming no detail, logged without locals."""
    log.error("page_failed", path=request.url.path, error=type(error).__name__, exc_info=error)
    return page(
        "refused.html",
        None,
        "The ledger failed",
        status=500,
        reason="an internal error stopped this page; the service's log says more",
    )


def home_of(token: TokenRecord) -> str:
    if token.role in PARTNERSHIP_READERS:
        return f"/pages/{token.partnership}/dashboard"
    return f"/pages/{token.partnership}/cases"


def guarded(
    pages: Pages, render: Callable[[TokenRecord], Response[Any] | Template]
) -> Callable[[Request[Any, Any, Any]], Response[Any] | Template | Redirect]:
    """Run ``render`` as the signed-in token; no session: the sign-in page."""

    def run(request: Request[Any, Any, Any]) -> Response[Any] | Template | Redirect:
        token, ended = signed_in(request, pages.tokens)
        if token is None:
            return Redirect("/sign-in" + (f"?ended={ended}" if ended else ""), status_code=303)
        try:
            shown = render(token)
        except PageError as error:
            log.warning("page_refused", status=error.status, role=token.role.value)
            return error_page(token, error)
        except ReadRefused as error:
            log.warning("page_refused", status=403, role=token.role.value)
            return error_page(token, PageError(403, "Not allowed", error.reason))
        except UnknownEntity as error:
            return error_page(token, PageError(404, "It does not exist", str(error)))
        except (BadParameter, InvalidViewQuery) as error:
            return error_page(token, PageError(400, "The question is not valid", str(error)))
        except (LedgerUnavailable, ViewStoreError) as error:
            log.error("page_failed", error=type(error).__name__)
            return error_page(token, PageError(503, "The ledger cannot be read", str(error)))
        if isinstance(shown, Template):
            _show_notice(request, shown)
        return shown

    return run


def _show_notice(request: Request[Any, Any, Any], shown: Template) -> None:
    """Put the session's message (a form's "recorded as ...") on ``shown``, once."""
    session = request.session if isinstance(request.session, dict) else {}
    if NOTICE_KEY in session:
        shown.context["recorded"] = session[NOTICE_KEY]
        request.set_session({k: v for k, v in session.items() if k != NOTICE_KEY})


def as_of_param(text: str | None) -> datetime | None:
    """A page's ``as_of``: empty (now), a date (its end in London), or a London
    ``date``/``time`` as a ``datetime-local`` input sends it (to the minute)."""
    if not text:
        return None
    try:
        local = datetime.strptime(text, DATETIME_LOCAL)
    except ValueError:
        return as_of_instant(text)
    # The end of the minute shown: what was recorded at 09:00:30 is shown "as of 09:00"
    # (the minute still running: as of now).
    end = local.replace(second=59, microsecond=999_999, tzinfo=LONDON)
    return as_of_instant(min(end, datetime.now(UTC)).isoformat())


def path_of(request: Request[Any, Any, Any]) -> tuple[str, str]:
    """A case page's partnership and case (path parameters are read, not declared, as the
    API's read routes do)."""
    return str(request.path_params["partnership"]), str(request.path_params["case"])
