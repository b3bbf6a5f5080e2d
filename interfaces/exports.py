"""A view's answer as flat rows, and those rows as CSV (opens in Excel) or JSON.

:func:`rows` flattens the msgspec Structs the query API returns (``projections``):
nested fields become dotted column names (``stages.1.due_on``, 1-based for list
items), enums their values, dates and datetimes ISO 8601 strings, and lists of
plain values one cell joined with ``"; "``. A chronology is one row per entry.
:func:`review_rows` gives a chronology in the column layout of review chronologies.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Final, TypeAlias

import msgspec

from projections.calendar import LONDON
from projections.chronology import Chronology

__all__ = ["REVIEW_COLUMNS", "Row", "cell", "columns", "review_rows", "rows", "to_csv", "to_json"]

Scalar: TypeAlias = str | int | float | bool | None
Row: TypeAlias = dict[str, Scalar]

#: The columns of a review chronology, in order.
REVIEW_COLUMNS: Final = ("date", "time", "sequence", "source", "agency", "event", "action taken")
#: A text cell starting with one of these is a formula to Excel (OWASP "CSV injection").
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_encode = msgspec.json.Encoder().encode


def _scalar(value: object) -> Scalar | object:
    if value is None or value is msgspec.UNSET:
        return None
    if isinstance(value, enum.Enum):
        return _scalar(value.value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def _flatten(value: object, prefix: str, out: Row) -> None:
    value = _scalar(value)
    if isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            _flatten(getattr(value, name), f"{prefix}{name}.", out)
    elif isinstance(value, dict):
        for key in sorted(value):
            _flatten(value[key], f"{prefix}{key}.", out)
    elif isinstance(value, list | tuple):
        items = [_scalar(v) for v in value]
        if all(v is None or isinstance(v, str | int | float | bool) for v in items):
            out[prefix[:-1]] = "; ".join("" if v is None else str(v) for v in items)
        else:
            for n, item in enumerate(items, 1):
                _flatten(item, f"{prefix}{n}.", out)
    elif value is None or isinstance(value, str | int | float | bool):
        out[prefix[:-1]] = value
    else:
        raise TypeError(f"{prefix[:-1]}: cannot export a {type(value).__name__}")


def rows(answer: msgspec.Struct | Sequence[msgspec.Struct]) -> list[Row]:
    """One flat row per record of ``answer`` (a chronology: one per entry)."""
    records: Sequence[object]
    if isinstance(answer, Chronology):
        records = answer.entries
    elif isinstance(answer, msgspec.Struct):
        records = [answer]
    else:
        records = answer
    out: list[Row] = []
    for record in records:
        row: Row = {}
        _flatten(record, "", row)
        out.append(row)
    return out


def _words(tag: str) -> str:
    """``ActionRecorded`` -> ``Action recorded``."""
    text = "".join(f" {c.lower()}" if c.isupper() else c for c in tag).strip()
    return text[:1].upper() + text[1:]


def review_rows(chronology: Chronology) -> list[Row]:
    """The chronology in the review layout: date and time in Europe/London, event, action."""
    out: list[Row] = []
    for e in chronology.entries:
        local = e.occurred_at.astimezone(LONDON)
        values: tuple[Scalar, ...] = (
            local.date().isoformat(),
            local.strftime("%H:%M"),
            e.sequence,
            e.source,
            e.agency,
            _words(e.event_type),
            e.what,
        )
        out.append(dict(zip(REVIEW_COLUMNS, values, strict=True)))
    return out


def columns(table: Sequence[Row]) -> list[str]:
    """Every column of ``table`` in first-seen order (a new one after its row's previous)."""
    found: list[str] = []
    seen: set[str] = set()
    for row in table:
        at = 0
        for key in row:
            if key in seen:
                at = found.index(key) + 1
            else:
                found.insert(at, key)
                seen.add(key)
                at += 1
    return found


def cell(value: Scalar) -> str:
    """A value as CSV text: empty for none, ``true``/``false``, a formula-like text quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def to_csv(table: Sequence[Row]) -> str:
    """``table`` as CSV with a UTF-8 byte order mark and a header row (RFC 4180 line ends)."""
    names = columns(table)
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(names)
    for row in table:
        writer.writerow([cell(row.get(name)) for name in names])
    return buffer.getvalue()


def to_json(table: Sequence[Row]) -> bytes:
    """``table`` as a JSON array of objects, each with every column (missing: null)."""
    names = columns(table)
    return _encode([{name: row.get(name) for name in names} for row in table])
