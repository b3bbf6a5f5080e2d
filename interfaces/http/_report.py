"""``GET /partnerships/{p}/report?year=Y&format=html|pdf``: the yearly report, as a download.

For the board and the inspector of the partnership (partnership-wide figures, as the
questions with :attr:`~interfaces.queries.Access.PARTNERSHIP` access); an agency's token
is refused 403. Checked in this order: the token (401), the parameters (400: ``year``
is required, ``2025-26`` or ``2025``; ``format`` is ``html`` or ``pdf``, ``pdf`` when
left out; no other parameter), who asks (403), the partnership exists (404), the year
has begun and the partnership existed by its end (400). The report is built from the
views replayed as of the year's end (:func:`interfaces.report.build_report`) in a
worker thread, and sent as an attachment named ``report-<p>-<year>.<format>``.

The yearly report page (:mod:`interfaces.http._report_page`) downloads the same file:
it refuses whom this route refuses (:func:`permit_report`, :data:`REPORT_READERS`) and
draws it with the same function (:func:`draw_report`), so the bytes are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

import anyio.to_thread
import structlog
from litestar import Request, Response, get
from litestar.enums import ParamType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, Parameter, Schema

from interfaces.http._openapi import BEARER, problem_responses
from interfaces.http._problems import Refused, from_ledger_error, problem, refusal
from interfaces.http._reads import AsOfViews
from interfaces.report import (
    FORMATS,
    MEDIA_TYPES,
    Format,
    InvalidReportYear,
    build_report,
    file_name,
    parse_year,
    render,
)
from ledger.errors import LedgerError, LedgerUnavailable
from projections import Views
from projections.errors import UnknownEntity, ViewStoreError
from runtime.tokens import Role, TokenRecord

__all__ = [
    "REPORT_PATH",
    "REPORT_READERS",
    "BadReportParameter",
    "ReportAsked",
    "ReportFile",
    "draw_report",
    "permit_report",
    "report_parameters",
    "report_route",
]

log = structlog.get_logger()

REPORT_PATH: Final = "/partnerships/{partnership}/report"
#: The roles that may read the yearly report (partnership-wide figures).
REPORT_READERS: Final = frozenset({Role.BOARD, Role.INSPECTOR})
_YEAR_RULE: Final = (
    "year is a reporting year such as 2025-26 (1 April to 31 March) or a calendar year such as 2025"
)


class BadReportParameter(Exception):
    """Raised when the report's query has a parameter missing, unknown, twice or bad."""

    def __init__(self, field: str, message: str, rule: str) -> None:
        super().__init__(f"{field} {message}; rule: {rule}")
        self.field = field
        self.rule = rule


@dataclass(frozen=True, kw_only=True)
class ReportAsked:
    """The report's query, checked: the year as given (not yet parsed) and the format."""

    partnership: str
    year: str
    form: Format


@dataclass(frozen=True, kw_only=True)
class ReportFile:
    """A drawn report: its file name (as ``ledger report`` writes it), media type, bytes."""

    name: str
    media_type: str
    body: bytes

    def response(self) -> Response[bytes]:
        """The file as an attachment."""
        return Response(
            self.body,
            media_type=self.media_type,
            headers={"Content-Disposition": f'attachment; filename="{self.name}"'},
        )


def draw_report(
    views: Views,
    as_of_views: AsOfViews,
    partnership: str,
    year: str,
    form: Format,
    *,
    now: datetime,
) -> ReportFile:
    """The report of ``partnership`` for ``year`` (``2025-26`` or ``2025``) in ``form``,
    as the route and the page send it: the partnership known to the live ``views``
    (:class:`~projections.errors.UnknownEntity`), the year parsed and begun, then built
    from ``as_of_views`` as of its end (:class:`~interfaces.report.InvalidReportYear`)
    and rendered. The caller has checked who asks (:func:`permit_report`)."""
    views.directory.partnership(partnership)
    parsed = parse_year(year)
    built = build_report(as_of_views, partnership, parsed, now=now, live=views)
    return ReportFile(
        name=file_name(partnership, parsed, form),
        media_type=MEDIA_TYPES[form],
        body=render(built, form),
    )


def report_route(
    views: Views,
    *,
    authenticate: Callable[[Request[Any, Any, Any]], TokenRecord],
    as_of_views: AsOfViews,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> HTTPRouteHandler:
    """The report's route, answered from ``as_of_views`` (the views as of an instant),
    checking the partnership against the live ``views``."""

    async def report(request: Request[Any, Any, Any]) -> Response[Any]:
        items = list(request.query_params.multi_items())
        partnership = str(request.path_params["partnership"])
        return await anyio.to_thread.run_sync(answer, request, partnership, items)

    def answer(
        request: Request[Any, Any, Any], partnership: str, items: list[tuple[str, Any]]
    ) -> Response[Any]:
        call: dict[str, str | None] = {"query": "report", "partnership": partnership}
        try:
            token = authenticate(request)
            call |= {"role": token.role.value, "agency": token.agency}
            asked = report_parameters(partnership, items)
            permit_report(token, partnership)
            drawn = draw_report(
                views, as_of_views, partnership, asked.year, asked.form, now=clock()
            )
        except Refused as error:
            log.warning("read_refused", status=error.status, reason=error.reason, **call)
            return refusal(error)
        except BadReportParameter as error:
            log.warning("read_failed", status=400, field=error.field, **call)
            return problem(
                400,
                "invalid-query",
                "The question is not valid",
                str(error),
                field=error.field,
                rule=error.rule,
            )
        except InvalidReportYear as error:
            log.warning("read_failed", status=400, field="year", **call)
            return problem(
                400,
                "invalid-query",
                "The question is not valid",
                str(error),
                field="year",
                rule=error.rule,
            )
        except UnknownEntity as error:
            log.warning("read_failed", status=404, field=error.kind, **call)
            return problem(
                404, "not-found", "It does not exist", str(error), field=error.kind, id=error.value
            )
        except (LedgerUnavailable, ViewStoreError) as error:
            log.warning("read_failed", status=503, error=type(error).__name__, **call)
            return problem(503, "unavailable", "The ledger or its views cannot be read", str(error))
        except LedgerError as error:
            response = from_ledger_error(error)
            log.warning("read_failed", status=response.status_code, **call)
            return response
        return drawn.response()

    report.__name__ = report.__qualname__ = "read_report"
    return get(
        REPORT_PATH.replace("{partnership}", "{partnership:str}"),
        name="read-report",
        operation_id="report",
        summary="The partnership's yearly accountability report, as HTML or PDF.",
        tags=["views"],
        security=BEARER,
        operation_class=_operation(),
    )(report)


def report_parameters(partnership: str, items: list[tuple[str, Any]]) -> ReportAsked:
    """The report's query (``year``, ``format``: ``pdf`` when left out), else
    :class:`BadReportParameter` naming the parameter and its rule."""
    given: dict[str, str] = {}
    for name, value in items:
        if name not in ("year", "format"):
            raise BadReportParameter(name, "is not a parameter of the report", "year and format")
        if name in given:
            raise BadReportParameter(name, "is given twice", "each parameter once")
        given[name] = str(value)
    if "year" not in given:
        raise BadReportParameter("year", "is missing", _YEAR_RULE)
    form = given.get("format", "pdf")
    if form not in FORMATS:
        raise BadReportParameter("format", f"{form!r} is not a format", "html or pdf")
    return ReportAsked(partnership=partnership, year=given["year"], form=form)


def permit_report(token: TokenRecord, partnership: str) -> None:
    """Whether ``token`` may read ``partnership``'s yearly report, else
    :class:`~interfaces.http._problems.Refused` (403) saying why."""
    if token.partnership != partnership:
        raise Refused(
            403, f"the token is for partnership '{token.partnership}', not '{partnership}'"
        )
    if token.role not in REPORT_READERS:
        raise Refused(
            403,
            f"{'an' if token.role.value[0] in 'aeiou' else 'a'} {token.role.value} token may not"
            " read the yearly report (partnership-wide figures: the board and the inspector)",
        )


def _operation() -> type[Operation]:
    parameters = [
        Parameter(
            name="year",
            param_in=ParamType.QUERY,
            required=True,
            schema=cast(Schema, {"type": "string", "pattern": r"^[0-9]{4}(-[0-9]{2})?$"}),
            description="A reporting year, 2025-26 (1 April 2025 to 31 March 2026), or a"
            " calendar year, 2025. The report is as the ledger stood at the year's end.",
        ),
        Parameter(
            name="format",
            param_in=ParamType.QUERY,
            required=False,
            schema=cast(Schema, {"enum": list(FORMATS), "default": "pdf"}),
            description="`pdf` or `html`.",
        ),
    ]
    responses = {
        "200": OpenAPIResponse(
            description="The report, as an attachment",
            content={
                "application/pdf": OpenAPIMediaType(
                    schema=cast(Schema, {"type": "string", "format": "binary"})
                ),
                "text/html": OpenAPIMediaType(schema=cast(Schema, {"type": "string"})),
            },
        ),
        **problem_responses(
            {
                400: "A parameter is missing, unknown or breaks its rule; or the year has"
                " not begun, or the partnership did not exist by its end (`field`, `rule`)",
                401: "No valid API token",
                403: "Not the board's or the inspector's token of this partnership",
                404: "No such partnership",
                503: "The ledger or its views cannot be read",
            }
        ),
    }

    @dataclass
    class ReportOperation(Operation):
        def __post_init__(self) -> None:
            path = [p for p in self.parameters or [] if getattr(p, "name", None) == "partnership"]
            self.parameters = [*path, *parameters]
            self.responses = dict(responses)

    return ReportOperation
