"""The yearly report page: choose a year and a format, download the report.

``GET /pages/{partnership}/report?year=Y&other_year=Y&format=pdf|html`` (board,
inspector) is a form sent by GET: a choice of the partnership's reporting years (from the
one it was established in to the one running now, newest first) and a free field taking
any year ``ledger report --year`` takes (``2025-26`` or ``2025``; given, it replaces the
choice), read by :func:`interfaces.report.parse_year`. A bad year is shown beside its
field with the rule, 400. With a good one the page links to

``GET /pages/{partnership}/report/download?year=Y&format=pdf|html``, which answers the
file as an attachment: the same file, by the same function
(:func:`~interfaces.http._report.draw_report`), as the API's
``GET /partnerships/{p}/report``, under the name ``ledger report`` writes. Both refuse
whom the API refuses (:func:`~interfaces.http._report.permit_report`: a 403 page saying
why), and, as every page, are sent with ``Cache-Control: no-store``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.response import Template

from interfaces.http._page_kit import PageError, Pages, guarded, page
from interfaces.http._problems import Refused
from interfaces.http._report import (
    BadReportParameter,
    draw_report,
    permit_report,
    report_parameters,
)
from interfaces.report import FORMATS, InvalidReportYear, ReportYear, parse_year, report_instant
from projections.calendar import local_date
from runtime.tokens import TokenRecord

__all__ = ["report_page_routes"]

_LABELS: Final = {"pdf": "PDF", "html": "HTML"}


@dataclass(frozen=True, kw_only=True)
class _Link:
    href: str
    label: str
    name: str


def report_page_routes(pages: Pages, *, clock: Callable[[], datetime]) -> list[Any]:
    """The report page and its download, with ``clock`` as the report's now."""
    return [_report_page(pages, clock), _download(pages, clock)]


def _permitted(token: TokenRecord, partnership: str) -> None:
    try:
        permit_report(token, partnership)
    except Refused as error:
        raise PageError(error.status, "Not allowed", error.reason) from None


def reporting_years(established: date, today: date) -> list[str]:
    """The reporting years (April to March) from the one holding ``established`` to the
    one holding ``today``, newest first: ``2026-27``, ``2025-26`` ..."""
    first = established.year if established.month >= 4 else established.year - 1
    last = today.year if today.month >= 4 else today.year - 1
    return [f"{y}-{(y + 1) % 100:02d}" for y in range(last, first - 1, -1)]


def _check(year: ReportYear, established: datetime, now: datetime) -> None:
    """Refuse a year the report route would refuse for the date alone: not begun, or
    over before the partnership was established."""
    report_instant(year, now)
    if established > year.end:
        msg = (
            f"year {year.label!r} ended on {year.last_day.isoformat()}, before the partnership"
            f" was established ({local_date(established).isoformat()}); rule: a report covers"
            " a year the partnership existed in"
        )
        raise InvalidReportYear(msg)


def _report_page(pages: Pages, clock: Callable[[], datetime]) -> Any:
    @get("/pages/{partnership:str}/report", sync_to_thread=True, name="page-report")
    def report_page(request: Request[Any, Any, Any]) -> Any:
        partnership = str(request.path_params["partnership"])
        given = {k: str(v).strip() for k, v in request.query_params.items()}

        def render(token: TokenRecord) -> Template:
            _permitted(token, partnership)
            summary = pages.views.directory.partnership(partnership)
            now = clock()
            years = reporting_years(local_date(summary.established_at), local_date(now))
            over = [y for y in years if parse_year(y).end <= now]
            chosen = given.get("year") or (over or years)[0]
            other = given.get("other_year", "")
            form = given.get("format") or "pdf"
            errors: dict[str, str] = {}
            if form not in FORMATS:
                errors["format"] = f"format {form!r} is not a format; rule: pdf or html"
            field = "other_year" if other else "year"
            year: ReportYear | None = None
            try:
                year = parse_year(other or chosen)
                _check(year, summary.established_at, now)
            except InvalidReportYear as error:
                errors[field] = str(error)
            links: list[_Link] = []
            if year is not None and not errors:
                base = f"/pages/{partnership}/report/download"
                ordered = [form, *(f for f in FORMATS if f != form)]
                links = [
                    _Link(
                        href=f"{base}?{urlencode({'year': year.label, 'format': f})}",
                        label=_LABELS[f],
                        name=f"report-{partnership}-{year.label}.{f}",
                    )
                    for f in ordered
                ]
            return page(
                "report.html",
                token,
                f"Yearly report: {partnership}",
                current="Yearly report",
                status=400 if errors else 200,
                partnership=partnership,
                years=years,
                chosen=chosen,
                other=other,
                form=form,
                formats=[(f, _LABELS[f]) for f in FORMATS],
                errors=errors,
                year=None if errors else year,  # the links' year
                links=links,
            )

        return guarded(pages, render)(request)

    return report_page


def _download(pages: Pages, clock: Callable[[], datetime]) -> Any:
    @get(
        "/pages/{partnership:str}/report/download",
        sync_to_thread=True,
        name="page-report-download",
    )
    def download(request: Request[Any, Any, Any]) -> Any:
        partnership = str(request.path_params["partnership"])
        items = list(request.query_params.multi_items())

        def render(token: TokenRecord) -> Response[bytes]:
            try:  # in the API's order: the parameters, who asks, the partnership, the year
                asked = report_parameters(partnership, items)
                _permitted(token, partnership)
                drawn = draw_report(
                    pages.views,
                    pages.as_of_views,
                    partnership,
                    asked.year,
                    asked.form,
                    now=clock(),
                )
            except (BadReportParameter, InvalidReportYear) as error:
                raise PageError(400, "The question is not valid", str(error)) from None
            return drawn.response()

        return guarded(pages, render)(request)

    return download
