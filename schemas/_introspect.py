"""What the event types say about themselves: JSON Schema, personal data, rules.

Everything here is derived from the type annotations through ``msgspec.inspect``
and ``msgspec.json.schema``, so the published schema, the personal-data map used
for crypto-shredding and the rule quoted in a validation error cannot drift from
what the decoder enforces.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final

import msgspec
import msgspec.inspect as mi

from schemas._registry import EVENT_TYPES, LedgerEvent
from schemas._types import HAPPENED, PERSONAL_DATA, WRITE_PATTERN

__all__ = [
    "JSON_SCHEMA_DIALECT",
    "TemporalField",
    "json_schemas",
    "personal_data_fields",
    "rule_at",
    "temporal_fields",
    "write_patterns",
]

#: The JSON Schema dialect of every document :func:`json_schemas` returns.
JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"

_SCHEMA_ID_PREFIX: Final = "urn:accountability-ledger:schema:"

_PATH_SEGMENT: Final = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def _document(schema: dict[str, Any], name: str, description: str) -> dict[str, Any]:
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"{_SCHEMA_ID_PREFIX}{name}",
        "title": name,
        "description": description,
        **schema,
    }


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every event type by tag, and of the union as ``"LedgerEvent"``.

    Each is a standalone 2020-12 document; fields holding personal data carry
    ``"x-personal-data": true``.
    """
    documents = {
        tag: _document(msgspec.json.schema(cls), tag, _first_line(cls.__doc__))
        for tag, cls in EVENT_TYPES.items()
    }
    documents["LedgerEvent"] = _document(
        msgspec.json.schema(LedgerEvent),
        "LedgerEvent",
        "Any ledger event, discriminated by its `type` tag.",
    )
    return documents


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""


@functools.cache
def personal_data_fields(cls: Any) -> tuple[str, ...]:
    """The dotted paths of the fields of ``cls`` whose type is marked as personal data.

    Nested structs are joined with ``.``; the items of a list are written ``name[]``
    (``"escalation_stages[].title"``). Paths use the JSON (encoded) field names.
    """
    found: list[str] = []
    _collect(mi.type_info(cls), "", found, frozenset())
    return tuple(dict.fromkeys(found))


@functools.cache
def write_patterns(cls: Any) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The fields of ``cls`` with a pattern checked on write only, as ``(path, pattern)``.

    Paths are written as by :func:`personal_data_fields` (``escalation_stages[].title``).
    """
    found: list[tuple[str, re.Pattern[str]]] = []

    def visit(t: mi.Type, path: str, seen: frozenset[type]) -> None:
        if isinstance(t, mi.Metadata):
            pattern = (t.extra or {}).get(WRITE_PATTERN)
            if isinstance(pattern, str):
                found.append((path, re.compile(pattern)))
            visit(t.type, path, seen)
        elif isinstance(t, mi.StructType) and t.cls not in seen:
            for field in t.fields:
                visit(field.type, _join(path, field.encode_name), seen | {t.cls})
        elif isinstance(t, mi.ListType):
            visit(t.item_type, f"{path}[]", seen)
        elif isinstance(t, mi.UnionType):
            for member in t.types:
                visit(member, path, seen)

    visit(mi.type_info(cls), "", frozenset())
    return tuple(found)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _collect(t: mi.Type, path: str, found: list[str], seen: frozenset[type]) -> None:
    if isinstance(t, mi.Metadata):
        if t.extra and t.extra.get(PERSONAL_DATA):
            found.append(path)
        else:
            _collect(t.type, path, found, seen)
    elif isinstance(t, mi.StructType):
        if t.cls in seen:
            return
        for field in t.fields:
            _collect(field.type, _join(path, field.encode_name), found, seen | {t.cls})
    elif isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        _collect(t.item_type, f"{path}[]", found, seen)
    elif isinstance(t, mi.TupleType):
        for item in t.item_types:
            _collect(item, f"{path}[]", found, seen)
    elif isinstance(t, mi.DictType):
        _collect(t.value_type, f"{path}[]", found, seen)
    elif isinstance(t, mi.UnionType):
        for member in t.types:
            _collect(member, path, found, seen)


class TemporalField(msgspec.Struct, frozen=True):
    """A date or date-time field of an event type, and whether it says when something happened."""

    #: The field's attribute name (the same as its JSON name in the ledger's vocabulary).
    name: str
    #: ``True`` for :data:`~schemas.HappenedAt` fields, which are never in the future.
    happened: bool


@functools.cache
def temporal_fields(cls: Any) -> tuple[TemporalField, ...]:
    """The top-level date and date-time fields of the struct type ``cls``, in order."""
    info = mi.type_info(cls)
    if not isinstance(info, mi.StructType):
        return ()
    found: list[TemporalField] = []
    for field in info.fields:
        happened = False
        t: mi.Type = field.type
        while True:
            if isinstance(t, mi.Metadata):
                happened = happened or bool(t.extra and t.extra.get(HAPPENED))
                t = t.type
            elif isinstance(t, mi.UnionType) and len(members := _set(t)) == 1:
                t = members[0]
            else:
                break
        if isinstance(t, mi.DateType | mi.DateTimeType):
            found.append(TemporalField(field.name, happened))
    return tuple(found)


def _set(t: mi.UnionType) -> list[mi.Type]:
    """The members of a union but ``UNSET``."""
    return [m for m in t.types if not _is_unset(m)]


def rule_at(root: Any, path: str) -> str | None:
    """The rule the value at JSON ``path`` (``$.children[0].child``) of ``root`` must obey.

    Returns ``None`` when the path does not lead to a known field.
    """
    t: mi.Type = mi.type_info(root)
    description: str | None = None
    for match in _PATH_SEGMENT.finditer(path.removeprefix("$")):
        name, index = match.groups()
        t, description = _unwrap(t)
        if name is not None and name == _tag_field(t):
            return f"`{name}` is the event type tag: one of the ledger's event types"
        if isinstance(t, mi.StructType) and name is not None:
            fields = {field.encode_name: field for field in t.fields}
            if name not in fields:
                return "no such field" + (" is allowed" if t.forbid_unknown_fields else "")
            t = fields[name].type
        elif isinstance(t, mi.ListType | mi.VarTupleType) and index is not None:
            t = t.item_type
        else:
            return None
    t, description = _unwrap(t)
    return _describe(t, description)


def _tag_field(t: mi.Type) -> str | None:
    """The tag field of a tagged struct, or of a union of structs tagged alike."""
    if isinstance(t, mi.StructType):
        return t.tag_field
    if isinstance(t, mi.UnionType):
        fields = {m.tag_field if isinstance(m, mi.StructType) else None for m in t.types}
        if len(fields) == 1:
            return fields.pop()
    return None


def _unwrap(t: mi.Type) -> tuple[mi.Type, str | None]:
    """Strip ``Metadata`` and an ``UNSET`` alternative, keeping the description."""
    description: str | None = None
    while True:
        if isinstance(t, mi.Metadata):
            if t.extra_json_schema and "description" in t.extra_json_schema:
                description = str(t.extra_json_schema["description"])
            t = t.type
        elif isinstance(t, mi.UnionType):
            members = [m for m in t.types if not _is_unset(m)]
            if len(members) != 1:
                return t, description
            t = members[0]
        else:
            return t, description


def _is_unset(t: mi.Type) -> bool:
    return isinstance(t, mi.CustomType) and t.cls is msgspec.UnsetType


def _describe(t: mi.Type, description: str | None) -> str:
    return description or _constraint(t) or "see the event's JSON Schema"


def _constraint(t: mi.Type) -> str:
    if isinstance(t, mi.EnumType):
        return "one of: " + ", ".join(str(member.value) for member in t.cls)
    if isinstance(t, mi.LiteralType):
        return "one of: " + ", ".join(str(value) for value in t.values)
    if isinstance(t, mi.IntType):
        return "an integer" + _bounds(t.ge, t.le)
    if isinstance(t, mi.StrType):
        bounds = _bounds(t.min_length, t.max_length, unit=" characters")
        return "a string" + bounds if bounds else ""
    if isinstance(t, mi.ListType):
        return "a list" + _bounds(t.min_length, t.max_length, unit=" items")
    if isinstance(t, mi.DateType):
        return "a calendar date, YYYY-MM-DD"
    if isinstance(t, mi.DateTimeType):
        return "an RFC 3339 date-time with a UTC offset" if t.tz else "an RFC 3339 date-time"
    if isinstance(t, mi.BoolType):
        return "true or false"
    if isinstance(t, mi.StructType):
        fields = ", ".join(field.encode_name for field in t.fields)
        only = "only " if t.forbid_unknown_fields else ""
        return f"an object ({t.cls.__name__}) with {only}the fields {fields}"
    return ""


def _bounds(low: int | None, high: int | None, unit: str = "") -> str:
    if low is not None and high is not None:
        return f" of {low} to {high}{unit}"
    if low is not None:
        return f" of at least {low}{unit}"
    if high is not None:
        return f" of at most {high}{unit}"
    return ""
