"""A command type as an HTML form, and a form's values as the command's JSON.

The fields come from the command type itself (``msgspec.inspect``), so a new command
needs no new template: a string is a text input (free text of more than 200 characters
a text area), an enum a ``<select>`` of its values, a boolean a yes/no ``<select>``, an
integer a number input with its bounds, a date a date input, an instant a
``datetime-local`` input read as Europe/London time. A field with a default is
optional. The page may offer a type's known values (the partnership's agencies for an
``AgencyId``) as a ``<select>`` (``names`` is the type's title). What the page fills
itself is not a field: ``partnership`` (the page's), ``source`` (the agency's case
record), and the fields that default to the recording agency (``by_recorder``). Each
field's hint is its type's published rule.

:func:`to_json` turns the posted values into the command's JSON for
:func:`schemas.decode_command_as`, the API's decoder: empty fields are left out, so a
required one left empty is refused as missing, and a value that cannot be converted
(a number that is not one) is passed on as text for the decoder to refuse naming the
field and its rule.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

import msgspec
from msgspec import inspect

from projections.calendar import LONDON
from schemas.commands import BaseCommand

__all__ = ["DATETIME_LOCAL", "FormField", "fields_of", "to_json"]

DATETIME_LOCAL: Final = "%Y-%m-%dT%H:%M"
#: Filled by the page, never asked.
_NOT_ASKED: Final = frozenset({"partnership", "source", "type"})
#: Free text longer than this is a text area.
_LONG_TEXT: Final = 200
_ONE_OF: Final = "One of the values listed."
_OCCURRED_HINT: Final = "When it happened, London time; leave empty for now. Not in the future."


@dataclass(frozen=True)
class FormField:
    """One input of a form."""

    name: str
    label: str
    kind: str  # text, textarea, select, yesno, number, date, datetime-local
    required: bool
    hint: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    default: str = ""
    #: The title of the field's type (``AgencyId``, ``CaseId`` ...), if it has one.
    names: str = ""


def fields_of(cls: type[BaseCommand]) -> list[FormField]:
    """The form fields of command type ``cls``, required ones first."""
    info = inspect.type_info(cls)
    assert isinstance(info, inspect.StructType)
    asked = [f for f in info.fields if f.name not in _NOT_ASKED | set(cls.by_recorder)]
    made = [_field(f) for f in asked]
    return sorted(made, key=lambda f: (not f.required, f.name == "occurred_at"))


def _field(field: inspect.Field) -> FormField:
    kind_of, hint, names = field.type, "", ""
    if isinstance(kind_of, inspect.Metadata):
        hint = str((kind_of.extra_json_schema or {}).get("description", ""))
        names = str((kind_of.extra_json_schema or {}).get("title", ""))
        kind_of = kind_of.type
    label = field.name.replace("_", " ").capitalize()
    base = FormField(
        name=field.name, label=label, kind="text", required=field.required, hint=hint, names=names
    )
    if isinstance(kind_of, inspect.EnumType):
        values = tuple(str(m.value) for m in kind_of.cls)
        return replace(base, kind="select", choices=values, hint=hint or _ONE_OF)
    if isinstance(kind_of, inspect.LiteralType):
        values = tuple(map(str, kind_of.values))
        return replace(base, kind="select", choices=values, hint=hint or _ONE_OF)
    if isinstance(kind_of, inspect.BoolType):
        return replace(base, kind="yesno", choices=("yes", "no"), hint=hint or "Yes or no.")
    if isinstance(kind_of, inspect.IntType):
        default = field.default
        return replace(
            base,
            kind="number",
            hint=hint or _bounds(kind_of.ge, kind_of.le),
            minimum=kind_of.ge,
            maximum=kind_of.le,
            default=str(default) if isinstance(default, int) else "",
        )
    if isinstance(kind_of, inspect.DateType):
        return replace(base, kind="date", hint="A date (day, month, year).")
    if isinstance(kind_of, inspect.DateTimeType):
        words = _OCCURRED_HINT if field.name == "occurred_at" else "London time."
        return replace(base, kind="datetime-local", hint=words)
    if isinstance(kind_of, inspect.StrType):
        long = (kind_of.max_length or 0) > _LONG_TEXT
        return replace(base, kind="textarea" if long else "text", max_length=kind_of.max_length)
    raise TypeError(f"field {field.name} of type {kind_of!r} has no form input")


def _bounds(low: int | None, high: int | None) -> str:
    return f"A whole number from {low} to {high}." if low is not None else "A whole number."


def to_json(cls: type[BaseCommand], partnership: str, posted: Mapping[str, str]) -> bytes:
    """The JSON of command ``cls`` from a form's ``posted`` values."""
    body: dict[str, Any] = {"partnership": partnership}
    for field in fields_of(cls):
        text = posted.get(field.name, "").strip()
        if not text:
            continue
        body[field.name] = _value(field, text)
    return msgspec.json.encode(body)


def _value(field: FormField, text: str) -> Any:
    if field.kind == "yesno":
        return {"yes": True, "no": False}.get(text, text)
    if field.kind == "number":
        return int(text) if text.lstrip("-").isdigit() else text
    if field.kind == "datetime-local":
        try:
            local = datetime.strptime(text, DATETIME_LOCAL)
        except ValueError:
            return text  # the decoder refuses it, naming the field
        return local.replace(tzinfo=LONDON).isoformat()
    return text


def choice_label(value: str | enum.Enum) -> str:
    """An enum value in words."""
    text = value.value if isinstance(value, enum.Enum) else value
    return str(text).replace("_", " ").capitalize()
