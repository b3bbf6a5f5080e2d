"""What every ``ledger`` command shares with the shell: exit codes, errors, output formats.

Exit codes: 0 done; 1 refused or failed (the ledger or the service said no, or could
not be reached); 2 usage (an unknown command or option, a missing one, a value not of
its kind); 130 interrupted (Ctrl-C). Errors go to stderr as one line, printed
literally: a message may hold square brackets, which rich would read as markup.

An answer is printed as rows (:func:`interfaces.exports.rows`): a rich table on a
terminal, CSV (as Excel opens it) when stdout is a pipe or a file, or JSON (one object
per CSV row, the same columns) on request.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Sequence
from typing import Final, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from interfaces.exports import Row, Scalar, columns, to_csv, to_json

__all__ = ["EXIT_CODES", "Format", "err", "fail", "print_rows", "say"]

#: The exit codes, as ``ledger --help`` and docs/operations.md tell them.
EXIT_CODES: Final = (
    "Exit codes: 0 done; 1 refused or failed (the message says why);"
    " 2 usage (an unknown command or option, a missing or malformed value);"
    " 130 interrupted (Ctrl-C)."
)

#: Where messages go: stderr, so that stdout holds only the answer.
err = Console(stderr=True)


class Format(enum.StrEnum):
    """How an answer is printed."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def say(message: str) -> None:
    """Print ``message`` on stderr as it is (no markup)."""
    err.print(message, markup=False, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr, literally, and exit with ``code``."""
    err.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_rows(table: Sequence[Row], fmt: Format | None, *, title: str | None = None) -> None:
    """``table`` on stdout as ``fmt``; unset: a table on a terminal, CSV otherwise."""
    if fmt is None:
        fmt = Format.TABLE if sys.stdout.isatty() else Format.CSV
    if fmt is Format.CSV:
        sys.stdout.write(to_csv(table))
    elif fmt is Format.JSON:
        sys.stdout.buffer.write(to_json(table) + b"\n")
    else:
        _print_table(table, title)
    sys.stdout.flush()


def _shown(value: Scalar) -> str:
    """A cell of a table on a terminal (CSV also guards text that Excel takes for a formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


#: The narrowest a column may be before a table is printed one record at a time.
_MIN_COLUMN: Final = 12


def _print_table(table: Sequence[Row], title: str | None) -> None:
    """One table when its columns fit the terminal, else one small table per record."""
    out = Console()
    names = columns(table)
    if not table:
        out.print(Text(f"{title}: nothing" if title else "nothing"))
        return
    if len(names) * _MIN_COLUMN <= out.width:
        shown = Table(*names, title=title, title_justify="left")
        for row in table:
            shown.add_row(*(Text(_shown(row.get(n))) for n in names))
        out.print(shown)
        return
    for number, row in enumerate(table, 1):
        record = Table(
            "field",
            "value",
            title=f"{title or 'record'} {number} of {len(table)}",
            title_justify="left",
            show_header=False,
        )
        for name in names:
            if row.get(name) is not None:
                record.add_row(Text(name), Text(_shown(row.get(name))))
        out.print(record)
