"""A GET's query string: its common parameters, its question's filters, and page cursors.

Every GET takes ``as_of``, ``after`` and ``format``; a list also ``cursor`` and ``limit``;
the rest are the question's filters (:attr:`Query.filters`), decoded with msgspec
(``strict=False``: ``"3"`` is 3, ``"true"`` true). An unknown or repeated parameter, or a
value that breaks its rule, is refused with :class:`BadParameter` naming it. A cursor is
opaque: base64url of the question's fingerprint (its path and filters), the first page's
``as_of`` and where the next page starts.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Final

import msgspec

from interfaces.queries import Query
from ledger.errors import LedgerError
from projections.calendar import LONDON
from schemas import EARLIEST_YEAR

__all__ = [
    "COMMON",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "PAGING",
    "Asked",
    "BadParameter",
    "as_of_instant",
    "filter_names",
    "formats",
    "next_cursor",
    "parameter_schemas",
    "parameters_of",
    "parse",
]

#: The parameters every GET takes besides its filters.
COMMON: Final = ("as_of", "after", "format")
#: The parameters of a list's pages.
PAGING: Final = ("cursor", "limit")
#: The filters of a keyset-paged question that ``cursor`` and ``limit`` set.
_KEYSET_FIELDS: Final = ("after", "limit")
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
_WHOLE: Final = re.compile(r"[0-9]{1,18}")
_DAY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_AT_FIELD: Final = re.compile(r" - at `\$\.(?P<field>[A-Za-z0-9_]+)`$")
_AS_OF_RULE: Final = (
    "an aware ISO 8601 instant (2026-03-02T09:00:00Z, or with an offset) or a date"
    " (2026-03-02: the end of that day in Europe/London), not in the future"
)
_CURSOR_RULE: Final = "pass the next cursor of the previous page unchanged, with the same filters"
_encode = msgspec.json.Encoder().encode


class BadParameter(LedgerError, ValueError):
    """Raised when a query-string parameter is unknown, repeated or breaks its rule (400)."""

    def __init__(self, field: str, what: str, rule: str) -> None:
        super().__init__(f"{field} {what}; rule: {rule}")
        self.field = field
        self.rule = rule


class _Cursor(msgspec.Struct, frozen=True, array_like=True):
    """What a ``next`` cursor holds: the question it pages, its as-of, and where it is."""

    question: str
    as_of: datetime | None
    offset: Annotated[int, msgspec.Meta(ge=0)] = 0
    key: str | None = None


_decode_cursor = msgspec.json.Decoder(_Cursor).decode


@dataclass(frozen=True, kw_only=True)
class Asked:
    """A request's query string, decoded and checked."""

    filters: Any
    as_of: datetime | None
    after: int | None
    format: str
    limit: int
    offset: int
    key: str | None
    question: str


def filter_names(query: Query) -> tuple[str, ...]:
    """The filters a question takes from the query string (a keyset's are the paging's)."""
    names: tuple[str, ...] = query.filters.__struct_fields__
    if query.keyset is not None:
        names = tuple(n for n in names if n not in _KEYSET_FIELDS)
    return names


def formats(query: Query) -> tuple[str, ...]:
    """The ``format`` values ``query`` offers (``review``: the chronology's review layout)."""
    return ("json", "csv", "review") if query.review_layout else ("json", "csv")


def parameters_of(query: Query) -> tuple[str, ...]:
    """Every query-string parameter ``query``'s route takes."""
    return COMMON + (PAGING if query.is_list else ()) + filter_names(query)


def parse(
    query: Query,
    path: dict[str, Any],
    items: Sequence[tuple[str, str]],
    now: datetime | None = None,
) -> Asked:
    """The query string ``items`` decoded for ``query``, else :class:`BadParameter`."""
    allowed = parameters_of(query)
    raw: dict[str, str] = {}
    for name, value in items:
        if name not in allowed:
            raise BadParameter(  # a caller's text: named, but never more than 64 characters
                name[:64], "is not a parameter of this question", f"one of {', '.join(allowed)}"
            )
        if name in raw:
            raise BadParameter(name, "is given more than once", "each parameter at most once")
        raw[name] = str(value)
    fmt = raw.pop("format", "json")
    if fmt not in formats(query):
        raise BadParameter(
            "format", f"{fmt!r} is not offered", f"one of {', '.join(formats(query))}"
        )
    as_of = _instant(raw.pop("as_of"), now or datetime.now(UTC)) if "as_of" in raw else None
    after = _whole("after", raw.pop("after"), 1, None) if "after" in raw else None
    limit = _whole("limit", raw.pop("limit", str(DEFAULT_LIMIT)), 1, MAX_LIMIT)
    cursor = _cursor(raw.pop("cursor")) if "cursor" in raw else None
    try:
        filters = msgspec.convert(raw, query.filters, strict=False)
    except msgspec.ValidationError as error:
        message = str(error)
        found = _AT_FIELD.search(message)
        field = found["field"] if found else "filters"
        choices = parameter_schemas(query).get(field, {}).get("enum")
        rule = f"one of {', '.join(choices)}" if choices else _AT_FIELD.sub("", message)
        raise BadParameter(field, "breaks its rule", rule) from None
    question = _fingerprint(query, path, filters)
    offset, key = 0, None
    if cursor is not None:
        if cursor.question != question:
            raise BadParameter("cursor", "was given for another question or filters", _CURSOR_RULE)
        if as_of is not None and as_of != cursor.as_of:
            raise BadParameter("as_of", "differs from the cursor's", _CURSOR_RULE)
        as_of, offset, key = cursor.as_of, cursor.offset, cursor.key
    return Asked(
        filters=filters,
        as_of=as_of,
        after=after,
        format=fmt,
        limit=limit,
        offset=offset,
        key=key,
        question=question,
    )


def _whole(field: str, text: str, low: int, high: int | None) -> int:
    value = int(text) if _WHOLE.fullmatch(text) else None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise BadParameter(field, "is not a whole number in range", f"a whole number {bounds}")
    return value


def as_of_instant(text: str, now: datetime | None = None) -> datetime:
    """``as_of`` as every GET reads it (an aware instant, or a date: the end of that day in
    London), else :class:`BadParameter` naming ``as_of`` and its rule."""
    return _instant(text, now or datetime.now(UTC))


def _instant(text: str, now: datetime) -> datetime:
    """``as_of``: an aware instant, or a date meaning the end of that day in London."""
    if _DAY.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise BadParameter("as_of", "is not a calendar date", _AS_OF_RULE) from None
        today = now.astimezone(LONDON).date()
        if day.year < EARLIEST_YEAR or day > today:
            raise BadParameter("as_of", "is out of range", _AS_OF_RULE)
        end = datetime.combine(day + timedelta(days=1), time(), LONDON) - timedelta(microseconds=1)
        return min(end.astimezone(UTC), now)
    try:
        instant = msgspec.convert(text, datetime)
    except msgspec.ValidationError:
        raise BadParameter("as_of", "is not an ISO 8601 instant or date", _AS_OF_RULE) from None
    if instant.tzinfo is None:
        raise BadParameter("as_of", "has no time zone", _AS_OF_RULE)
    if instant.year < EARLIEST_YEAR or instant > now:
        raise BadParameter("as_of", "is out of range", _AS_OF_RULE)
    return instant.astimezone(UTC)


def _fingerprint(query: Query, path: dict[str, Any], filters: Any) -> str:
    """Names one question with its path and filters (not its page)."""
    text = _encode([query.name, sorted(path.items()), msgspec.to_builtins(filters)])
    return hashlib.sha256(text).hexdigest()[:16]


def next_cursor(
    question: str, as_of: datetime | None, *, offset: int = 0, key: str | None = None
) -> str:
    data = _encode(_Cursor(question, as_of, offset, key))
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _cursor(text: str) -> _Cursor:
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        return _decode_cursor(data)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise BadParameter("cursor", "is not a cursor this service gave", _CURSOR_RULE) from None


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """``schema`` with its ``#/$defs/...`` references replaced by the definitions."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


@functools.cache
def parameter_schemas(query: Query) -> dict[str, dict[str, Any]]:
    """Each filter's JSON Schema as a query parameter (never null: leave it out instead)."""
    document = msgspec.json.schema(query.filters)
    defs = document.get("$defs", {})
    properties = defs[query.filters.__name__].get("properties", {})
    out: dict[str, dict[str, Any]] = {}
    for name in filter_names(query):
        schema = _inline(properties[name], defs)
        options = [s for s in schema.get("anyOf", []) if s != {"type": "null"}]
        if options and len(options) == 1:
            schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **options[0]}
        if schema.get("default", ...) is None:
            del schema["default"]
        out[name] = schema
    return out
