"""``ledger report --partnership P --year Y --out DIR``: the yearly report, as HTML and PDF.

Asked of a service (``--url``/``LEDGER_URL``, or the ``ledger serve`` running on the data
dir) through ``GET /partnerships/{p}/report`` with the token in ``LEDGER_TOKEN`` (a
board's or an inspector's); else built here from the data dir, as the service builds it
(:func:`interfaces.report.build_report`: the views brought up to date, then replayed as
of the year's end). Writes ``report-<P>-<Y>.html`` and ``.pdf`` into ``DIR``, each 0600,
and prints their paths. A progress bar shows the steps on a terminal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from interfaces._progress import progress_bar
from interfaces._query_cli import PartnershipOption, TokenOption, UrlOption, remote_client
from interfaces._shell import err, fail, say
from interfaces.report import (
    FORMATS,
    Format,
    InvalidReportYear,
    ReportYear,
    build_report,
    parse_year,
    render,
    write_report,
)
from ledger.errors import LedgerError
from runtime.settings import Settings

__all__ = ["report"]

YearOption = Annotated[
    str,
    typer.Option(
        "--year",
        metavar="YEAR",
        help="2025-26: the reporting year 1 April 2025 to 31 March 2026; 2025: the calendar"
        " year. The report is as the ledger stood at the year's end.",
        show_default=False,
    ),
]
OutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        metavar="DIR",
        help="The directory to write report-<P>-<YEAR>.html and .pdf into (made if missing).",
        show_default=False,
    ),
]


def report(
    *,
    partnership: PartnershipOption,
    year: YearOption,
    out: OutOption,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Write the partnership's yearly accountability report as HTML and PDF."""
    try:
        asked = parse_year(year)
    except InvalidReportYear as error:
        fail(f"--year: {error}", 2)
    try:
        written = _write(partnership, asked, out, url, token)
    except LedgerError as error:
        fail(str(error))
    for path in written:
        typer.echo(str(path))


def _write(
    partnership: str, year: ReportYear, out: Path, url: str | None, token: str | None
) -> list[Path]:
    settings = Settings.from_env()
    client = remote_client(settings, url, token)
    # Both forms are had before either is written: a refusal writes nothing.
    drawn: dict[Format, bytes] = {}
    with progress_bar(err, "report") as progress:
        if client is not None:
            task = progress.add_task("report", total=len(FORMATS))
            with client:
                for form in FORMATS:
                    drawn[form] = client.report(partnership, year.label, form)
                    progress.advance(task)
            return [write_report(out, partnership, year, f, drawn[f]) for f in FORMATS]
        from projections.as_of import PastViews
        from runtime.service import open_service

        task = progress.add_task("report", total=2 + len(FORMATS))
        with open_service(settings, role="projector") as service:
            views = service.views
            views.runner(service.ledger).catch_up()
            views.directory.partnership(partnership)  # unknown: an error, not an empty report
            progress.advance(task)
            past = PastViews(service.ledger, rules=views.rules)
            try:
                built = build_report(past.at, partnership, year, now=datetime.now(UTC), live=views)
            finally:
                past.close()
            progress.advance(task)
        for form in FORMATS:
            drawn[form] = render(built, form)
            progress.advance(task)
    written = [write_report(out, partnership, year, f, drawn[f]) for f in FORMATS]
    say(f"the yearly report {year.label} of {partnership}, as of {built.as_of:%Y-%m-%d %H:%M} UTC")
    return written
