"""Reading a partnership's CSV file: limits, encoding, the header, and cells as values.

A file is refused as a whole (:class:`ImportRefused`) when it is too big, not UTF-8
(with or without a byte order mark, as Excel's "CSV UTF-8" writes it) or holds a NUL
byte. Everything else is a :class:`Problem` of a line and a column, so one report
names every bad cell at once. Line numbers are the spreadsheet's row numbers: the
header is line 1 (a cell holding a line break counts as one row).

Cells are text and stay text: one that looks like a formula (``=``, ``+``, ``-``,
``@``) is never evaluated, and the ``'`` the ledger's own exports put before such a
cell (:func:`interfaces.exports.cell`) is taken off again.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from typing import Final

from schemas.errors import LedgerError

__all__ = [
    "MAX_BYTES",
    "MAX_ROWS",
    "ImportInterrupted",
    "ImportRefused",
    "Problem",
    "Sheet",
    "parse_date",
    "parse_time",
    "read_sheet",
    "token",
]

#: The largest file taken in: 5 MiB is some 40,000 rows of an escalation log.
MAX_BYTES: Final = 5 * 1024 * 1024
#: The most rows (after the header) one import takes; split a longer file.
MAX_ROWS: Final = 10_000
_FORMULA_START: Final = ("=", "+", "-", "@")
_SPACES: Final = re.compile(r"[\s_\-]+")
_UK_DATE: Final = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TIME: Final = re.compile(r"(\d{1,2}):(\d{2})")


class ImportRefused(LedgerError, ValueError):
    """Raised when a file cannot be taken in at all: too big, not UTF-8, not CSV."""


class ImportInterrupted(LedgerError):
    """Raised when writing stops part-way (another writer changed the ledger since the check)."""


@dataclass(frozen=True, order=True)
class Problem:
    """What is wrong with one cell (or line) of the file, and the rule it breaks."""

    line: int
    column: str
    text: str

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.column else f"line {self.line}"
        return f"{where}: {self.text}"


@dataclass
class Sheet:
    """The rows of a file under its known column names, with their line numbers."""

    name: str
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def token(text: str) -> str:
    """A spelling reduced for comparison: ``Partially-Upheld `` -> ``partially_upheld``."""
    return _SPACES.sub("_", text.strip().casefold()).strip("_")


def _cell(text: str) -> str:
    """A cell's text, trimmed, without the quote an export put before a formula-like text."""
    text = text.strip()
    if text.startswith("'") and text[1:].startswith(_FORMULA_START):
        return text[1:]
    return text


def _decode(data: bytes, name: str) -> str:
    if len(data) > MAX_BYTES:
        msg = f"{name} is over {MAX_BYTES:,} bytes (rule: a file imported is at most that)"
        raise ImportRefused(msg)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        msg = (
            f"{name} is not UTF-8 at byte {error.start:,} (rule: save the file as"
            " 'CSV UTF-8', with or without a byte order mark)"
        )
        raise ImportRefused(msg) from None
    if "\x00" in text:
        msg = f"{name} holds a NUL character (rule: a file imported is CSV text, not a workbook)"
        raise ImportRefused(msg)
    return text


def read_sheet(
    data: bytes,
    name: str,
    *,
    required: Sequence[str],
    optional: Sequence[str],
    aliases: Mapping[str, str],
) -> Sheet:
    """The rows of ``data`` keyed by column name (``required`` and ``optional`` ones).

    Header names are compared as :func:`token` spells them (``Response Date`` is
    ``response date``); ``aliases`` maps other accepted spellings onto them. An unknown,
    repeated or missing column is a problem of line 1, so is more than
    :data:`MAX_ROWS` rows. Blank rows are passed over.
    """
    text = _decode(data, name)
    sheet = Sheet(name)
    known = {token(c): c for c in (*required, *optional)} | {
        token(a): c for a, c in aliases.items()
    }
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            sheet.problems.append(Problem(1, "", "the file is empty (rule: line 1 is the header)"))
            return sheet
        columns = _header(header, known, required, sheet)
        for number, cells in enumerate(reader, 2):
            if number - 1 > MAX_ROWS:
                sheet.problems.append(
                    Problem(
                        number, "", f"the file has more than {MAX_ROWS:,} rows (rule: split it)"
                    )
                )
                break
            values = [_cell(c) for c in cells]
            if not any(values):
                continue
            if len(values) > len(columns) and any(values[len(columns) :]):
                sheet.problems.append(
                    Problem(
                        number,
                        "",
                        f"has {len(values)} cells, the header {len(columns)}"
                        " (rule: every cell is under a named column)",
                    )
                )
                continue
            row = {c: v for c, v in zip(columns, values, strict=False) if c}
            sheet.rows.append((number, row))
    except csv.Error as error:
        raise ImportRefused(f"{name} is not CSV: {error}") from None
    return sheet


def _header(
    header: list[str], known: Mapping[str, str], required: Sequence[str], sheet: Sheet
) -> list[str]:
    """The column name under each position of the header ('' for a refused one)."""
    columns: list[str] = []
    for text in header:
        cell = _cell(text)
        name = known.get(token(cell), "")
        if not name and cell:
            expected = ", ".join(dict.fromkeys(known.values()))
            sheet.problems.append(
                Problem(1, cell, f"is not a column of this file (rule: the columns are {expected})")
            )
        elif name in columns:
            sheet.problems.append(Problem(1, cell, "is given twice (rule: each column once)"))
            name = ""
        columns.append(name)
    for name in required:
        if name not in columns:
            sheet.problems.append(Problem(1, name, "is missing (rule: the column is required)"))
    return columns


def parse_date(text: str) -> date:
    """``2024-03-05`` or ``05/03/2024`` (day first, as in the UK); ValueError otherwise."""
    found = _UK_DATE.fullmatch(text)
    try:
        if found:
            day, month, year = (int(g) for g in found.groups())
            return date(year, month, day)
        if len(text) == 10 and text[4] == "-":
            return date.fromisoformat(text)
    except ValueError:
        pass
    msg = (
        f"'{text[:20]}' is not a calendar date"
        " (rule: a date is written 2024-03-05 or 05/03/2024, day first)"
    )
    raise ValueError(msg)


def parse_time(text: str) -> time:
    """``09:30`` (24-hour clock); ValueError otherwise."""
    found = _TIME.fullmatch(text)
    if found:
        return time(int(found[1]), int(found[2]))
    msg = f"'{text[:20]}' is not a time (rule: a time is written 09:30, on the 24-hour clock)"
    raise ValueError(msg)
