"""The partnership's yearly accountability report, as HTML and PDF (``ledger report``).

The report is a rendering of the questions the API answers, so it lives with the other
interfaces (beside the CLI and the HTTP API, which both serve it), not in a layer of
its own: :func:`build_report` asks :data:`interfaces.queries.QUERIES` of the views as
they stood at the end of the year (:mod:`interfaces.report._figures` says what counts),
:func:`render_html` and :func:`render_pdf` draw the same sections, and
:func:`write_report` writes both files, readable by their owner only. See
``docs/report.md``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

from interfaces.report._figures import YearReport, assemble, recorded_after
from interfaces.report._year import InvalidReportYear, ReportYear, parse_year
from projections import Views
from projections.errors import UnknownEntity

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "Format",
    "InvalidReportYear",
    "ReportYear",
    "YearReport",
    "build_report",
    "file_name",
    "parse_year",
    "render",
    "render_html",
    "render_pdf",
    "report_instant",
    "write_report",
]

Format = Literal["html", "pdf"]
FORMATS: Final[tuple[Format, ...]] = ("html", "pdf")
MEDIA_TYPES: Final[dict[Format, str]] = {"html": "text/html", "pdf": "application/pdf"}


def report_instant(year: ReportYear, now: datetime) -> tuple[datetime, bool]:
    """The instant a report of ``year`` is as of, and whether the year is over: its end,
    or ``now`` while it runs; refused for a year that has not begun."""
    if year.start > now:
        msg = (
            f"year {year.label!r} begins on {year.first_day.isoformat()}, after today;"
            " rule: a report covers a year that has begun"
        )
        raise InvalidReportYear(msg)
    end = year.end
    return (end, True) if end <= now else (now, False)


def build_report(
    views_at: Callable[[datetime], AbstractContextManager[Views]],
    partnership: str,
    year: ReportYear,
    *,
    now: datetime,
    live: Views | None = None,
) -> YearReport:
    """The year's figures from the views as they stood at its end (``views_at``: the
    views as of an instant, such as :meth:`projections.as_of.PastViews.at`).

    With the ``live`` views (as they are now), the report also says how many opt-outs,
    challenges and clocks of the year's days were recorded after it ended, and so are
    not in its figures.

    The caller checks first that the partnership exists now; one established after the
    year ended is refused here (:class:`InvalidReportYear`).
    """
    as_of, complete = report_instant(year, now)
    with views_at(as_of) as views:
        try:
            views.directory.partnership(partnership)
        except UnknownEntity:
            msg = (
                f"partnership {partnership!r} was not established by {as_of.isoformat()};"
                f" rule: a report covers a year the partnership existed in (year {year.label!r})"
            )
            raise InvalidReportYear(msg) from None
        late = None
        if live is not None and complete:
            late = recorded_after(live, views, partnership, year, as_of=as_of)
        return assemble(views, partnership, year, as_of=as_of, complete=complete, late=late)


def render_html(report: YearReport) -> bytes:
    """The report as an HTML document (UTF-8)."""
    from interfaces.report._html import render_html as html  # Jinja2 only when drawing

    return html(report)


def render_pdf(report: YearReport) -> bytes:
    """The report as a PDF document."""
    from interfaces.report._pdf import render_pdf as pdf  # fpdf2 only when drawing

    return pdf(report)


def render(report: YearReport, form: Format) -> bytes:
    """The report in ``form``."""
    return render_html(report) if form == "html" else render_pdf(report)


def file_name(partnership: str, year: ReportYear, form: Format) -> str:
    """``report-<partnership>-<year>.<html|pdf>``."""
    return f"report-{partnership}-{year.label}.{form}"


def write_report(
    out_dir: Path, partnership: str, year: ReportYear, form: Format, data: bytes
) -> Path:
    """Write one form of the report into ``out_dir`` (made 0700 if new), the file 0600.

    The report holds no child's data, but its counts say which agency failed whom and
    when: it is kept as the rest of the data dir is, readable by its owner only.
    """
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = out_dir / file_name(partnership, year, form)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(data)
    finally:
        os.close(fd)
    return path
