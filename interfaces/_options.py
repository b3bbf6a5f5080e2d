"""Command-line options made from a msgspec Struct's fields (filters, commands).

Each field becomes one ``--name`` option (``date_from`` -> ``--date-from``) of the kind
its type asks for: text, a whole number, a yes/no flag (``--seen/--no-seen``), one of
a set of choices (an enum or a literal), a date, an instant, or JSON text for a nested
or list field (``--children '[...]'``). Options are never required at parse time: a
command may also take its fields from ``--json FILE``; :func:`values` gathers what was
given, and msgspec (the one place the rules live) checks it.
"""

from __future__ import annotations

import enum
import inspect
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final

import msgspec
import typer
from msgspec import inspect as mi

__all__ = ["Field", "InvalidOption", "fields_of", "parameters", "values"]

#: Kinds whose option takes text as it is.
_TEXT_KINDS: Final = frozenset({"text", "date", "instant", "choice"})
_KIND_HELP: Final = {
    "date": "A date, YYYY-MM-DD.",
    "instant": "An instant with its time zone, such as 2026-03-02T09:00:00Z.",
    "int": "A whole number.",
    "json": "JSON text",
}


class InvalidOption(ValueError):
    """Raised when an option's value is not of its kind (JSON that does not parse), or a
    required one is missing: a usage error (exit 2)."""


@dataclass(frozen=True)
class Field:
    """One field of a Struct as an option."""

    name: str
    kind: str
    required: bool
    help: str
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def parameter(self) -> str:
        """The Python name of the option's parameter (prefixed: a field may be ``case``)."""
        return f"field_{self.name}"


def _unwrap(info: mi.Type) -> tuple[mi.Type, dict[str, Any]]:
    """The type under ``Metadata`` and ``X | None`` / ``X | UNSET``, and its JSON Schema notes."""
    notes: dict[str, Any] = {}
    while True:
        if isinstance(info, mi.Metadata):
            notes = {**(info.extra_json_schema or {}), **notes}
            info = info.type
        elif isinstance(info, mi.UnionType):
            rest = [t for t in info.types if not isinstance(t, mi.NoneType)]
            if len(rest) != 1:
                return info, notes
            info = rest[0]
        else:
            return info, notes


def _field(field: msgspec.structs.FieldInfo) -> Field:
    info, notes = _unwrap(mi.type_info(field.type))
    choices: tuple[str, ...] = ()
    if isinstance(info, mi.StrType):
        kind = "text"
    elif isinstance(info, mi.BoolType):
        kind = "bool"
    elif isinstance(info, mi.IntType):
        kind = "int"
    elif isinstance(info, mi.DateType):
        kind = "date"
    elif isinstance(info, mi.DateTimeType):
        kind = "instant"
    elif isinstance(info, mi.EnumType):
        kind, choices = "choice", tuple(str(m.value) for m in info.cls)
    elif isinstance(info, mi.LiteralType):
        kind, choices = "choice", tuple(str(v) for v in info.values)
    else:
        kind = "json"
    title = str(notes.get("title", ""))
    if title.endswith("Id"):  # AgencyId -> "An agency id (lower-case letters ...)."
        words = "".join(f" {c.lower()}" if c.isupper() else c for c in title[:-2]).strip()
        described = f"{_article(words)} id: lower-case letters, digits, '-' and '_'"
    else:
        described = str(notes.get("description", "")).split(";")[0].strip()
    described = described[:1].upper() + described[1:]
    if kind == "json":
        described = f"JSON text: {_shape(info)}. {described}".strip()
    elif not described:
        described = _KIND_HELP.get(kind, "")
    if described and not described.endswith("."):
        described += "."
    return Field(
        name=field.name, kind=kind, required=field.required, help=described, choices=choices
    )


def _article(words: str) -> str:
    return f"{'an' if words[:1] in tuple('aeiou') else 'a'} {words}"


def _shape(info: mi.Type) -> str:
    """What JSON a nested field takes: ``a list of objects with child, age_band``."""
    if isinstance(info, mi.ListType):
        item, _ = _unwrap(info.item_type)
        if isinstance(item, mi.StructType):
            return "a list of objects with " + ", ".join(f.name for f in item.fields)
        return "a list"
    if isinstance(info, mi.StructType):
        return "an object with " + ", ".join(f.name for f in info.fields)
    return "a JSON value"


def fields_of(cls: type[msgspec.Struct], *, skip: Iterable[str] = ()) -> list[Field]:
    """The options of ``cls``'s fields, in order (less ``skip``)."""
    left_out = set(skip)
    return [_field(f) for f in msgspec.structs.fields(cls) if f.name not in left_out]


def parameters(fields: Iterable[Field], envvars: Mapping[str, str] | None = None) -> list[Any]:
    """One keyword-only ``inspect.Parameter`` per field, annotated for typer."""
    out = []
    for f in fields:
        help_text = f.help + (" Required." if f.required else "")
        envvar = (envvars or {}).get(f.name)
        annotation: Any
        if f.kind == "bool":
            option = typer.Option(
                f"{f.flag}/--no-{f.flag[2:]}", help=help_text, envvar=envvar, show_default=False
            )
            annotation = Annotated[bool | None, option]
        elif f.kind == "int":
            option = typer.Option(f.flag, help=help_text, envvar=envvar, show_default=False)
            annotation = Annotated[int | None, option]
        elif f.choices:
            option = typer.Option(f.flag, help=help_text, envvar=envvar, show_default=False)
            choices = enum.Enum(f"{f.name}_choice", {v: v for v in f.choices}, type=str)  # type: ignore[misc]
            annotation = Annotated[choices | None, option]
        else:
            option = typer.Option(
                f.flag,
                help=help_text,
                envvar=envvar,
                show_default=False,
                metavar={"json": "JSON", "date": "DATE", "instant": "INSTANT"}.get(f.kind),
            )
            annotation = Annotated[str | None, option]
        out.append(
            inspect.Parameter(
                f.parameter, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
            )
        )
    return out


def values(fields: Iterable[Field], given: Mapping[str, Any]) -> dict[str, Any]:
    """The fields given on the command line (by parameter name), as JSON-ready values."""
    out: dict[str, Any] = {}
    for f in fields:
        value = given.get(f.parameter)
        if value is None:
            continue
        if isinstance(value, enum.Enum):
            value = value.value
        if f.kind == "json":
            try:
                value = json.loads(value)
            except ValueError as error:
                raise InvalidOption(f"{f.flag}: not JSON text ({error})") from None
        out[f.name] = value
    return out
