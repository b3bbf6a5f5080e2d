"""``ledger import escalations|chronology FILE``: a partnership's spreadsheet, taken in.

The work is :mod:`interfaces.imports`; this module reads the file, opens the ledger on
the data dir, shows a progress bar while writing a large file and prints the report:
one line per line of the file, a rich table on a terminal and plain text into a pipe
or file. Exit codes as every command: 0 done (also when everything was imported
before), 1 refused (any line, or the file as a whole: nothing was written) or
failed, 2 usage.

An import runs on the data dir only: it checks every line against the ledger's state
before it writes the first, which the HTTP API (one command a request) cannot do.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from interfaces._shell import err, fail, say
from interfaces.imports import MAX_BYTES, ImportRefused, Outcome
from ledger import Ledger
from ledger.errors import LedgerError
from runtime.settings import Settings

__all__ = ["import_app"]

import_app = typer.Typer(
    help="Take in a partnership's escalation log or chronology (CSV) as backdated events;"
    " every line is checked first, and nothing is written if any is refused.",
    no_args_is_help=True,
)

#: Below this many events to write, no progress bar is worth showing.
_BAR_FROM: Final = 200

FileArgument = Annotated[
    Path,
    typer.Argument(
        metavar="FILE.csv",
        help="The CSV file (UTF-8, with or without a byte order mark); see docs/import.md.",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
]
PartnershipOption = Annotated[
    str,
    typer.Option(
        "--partnership",
        envvar="LEDGER_PARTNERSHIP",
        help="The partnership it is imported into (or LEDGER_PARTNERSHIP).",
        show_default=False,
    ),
]
ActorOption = Annotated[
    str,
    typer.Option(
        "--as-actor",
        envvar="LEDGER_ACTOR",
        help="The pseudonymous person importing it, act_... (or LEDGER_ACTOR).",
        show_default=False,
    ),
]
AgencyOption = Annotated[
    str,
    typer.Option(
        "--as-agency",
        envvar="LEDGER_AGENCY",
        help="The agency recording the challenges, such as the partnership's business unit's"
        " (or LEDGER_AGENCY).",
        show_default=False,
    ),
]
CaseOption = Annotated[
    str,
    typer.Option("--case", help="The case the chronology is of.", show_default=False),
]
CheckOption = Annotated[
    bool,
    typer.Option("--check", help="Check every line and print the report; write nothing."),
]


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_BYTES + 1)
    except OSError as error:
        fail(f"{path}: {error.strerror or error}")
    return data


@contextmanager
def _ledger() -> Iterator[Ledger]:
    """The ledger of the data dir, refused when a remote service is named (``LEDGER_URL``).

    Beside a ``ledger serve`` on the same data dir the import shares its embedded server,
    as every local command does ("data dir in use" is not an answer): the service's views
    take the imported events from the stream like any others.
    """
    settings = Settings.from_env()
    url = os.environ.get("LEDGER_URL")
    if url:
        fail(
            f"ledger import runs on the data dir, not through a service ({url}): it checks"
            " every line against the ledger before writing the first, which the HTTP API"
            " cannot; unset LEDGER_URL and import on the service's data dir"
        )
    from runtime.service import open_service

    with open_service(settings) as service:
        yield service.ledger


def _run(work: Callable[[Ledger, Callable[[int, int], None] | None], Outcome]) -> None:
    try:
        with _ledger() as ledger:
            if err.is_terminal:
                from interfaces._progress import progress_bar

                with progress_bar(err, "importing") as bar:
                    task = bar.add_task("importing", total=None, visible=False)

                    def advance(done: int, total: int) -> None:
                        bar.update(task, completed=done, total=total, visible=total >= _BAR_FROM)

                    outcome = work(ledger, advance)
            else:
                outcome = work(ledger, None)
    except ImportRefused as error:
        fail(f"{error}; nothing was written")
    except LedgerError as error:
        fail(str(error))
    _report(outcome)
    if outcome.refused:
        fail(f"{len(outcome.problems)} problem(s); nothing was written")
    written = len(outcome.written)
    if outcome.checked_only:
        say("every line can be imported; nothing was written (--check)")
    else:
        say(f"{written} event(s) recorded" if written else "nothing new to record")


def _on_terminal() -> bool:
    """Whether the report goes to a terminal (a table) or a pipe or file (plain lines)."""
    return sys.stdout.isatty()


def _report(outcome: Outcome) -> None:
    """One row per line of the file: a table on a terminal, plain lines otherwise."""
    lines = [(str(r.line), r.status, r.detail) for r in outcome.lines]
    if _on_terminal():
        table = Table("line", "status", "detail", title="import", title_justify="left")
        for line, status, detail in lines:
            style = "red" if status == "refused" else ""
            table.add_row(Text(line), Text(status, style=style), Text(detail))
        Console().print(table)
        return
    for report in outcome.lines:
        if report.problems:
            sys.stdout.writelines(f"{problem}\n" for problem in report.problems)
        else:
            detail = f": {report.detail}" if report.detail else ""
            sys.stdout.write(f"line {report.line}: {report.status}{detail}\n")
    sys.stdout.flush()


@import_app.command("escalations")
def escalations(
    file: FileArgument,
    partnership: PartnershipOption,
    as_agency: AgencyOption,
    as_actor: ActorOption,
    check: CheckOption = False,
) -> None:
    """An escalation log: date, from agency, to agency, matter, stage, response date, outcome."""
    from interfaces.imports import import_escalations
    from schemas import RecordedBy

    data = _read(file)
    _run(
        lambda ledger, advance: import_escalations(
            ledger,
            data,
            file_name=file.name,
            partnership=partnership,
            recorded_by=RecordedBy(agency=as_agency, actor=as_actor),
            check_only=check,
            advance=advance,
        )
    )


@import_app.command("chronology")
def chronology(
    file: FileArgument,
    case: CaseOption,
    partnership: PartnershipOption,
    as_actor: ActorOption,
    check: CheckOption = False,
) -> None:
    """A case's chronology in the review columns, each line recorded as the agency it names."""
    from interfaces.imports import import_chronology

    data = _read(file)
    _run(
        lambda ledger, advance: import_chronology(
            ledger,
            data,
            file_name=file.name,
            partnership=partnership,
            case=case,
            actor=as_actor,
            check_only=check,
            advance=advance,
        )
    )
