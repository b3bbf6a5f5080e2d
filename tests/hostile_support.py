"""Hostile input for every command, derived from the commands' signatures and the event types.

A plain module (not a conftest) shared by the in-memory property test and the one on NATS.

* :data:`COMMANDS` is every public command method of the command mixins, found by
  introspection, so a new command is swept without a change here;
* :func:`~hostile_scenario.baseline` is a valid call of each command on
  :func:`~hostile_scenario.scenario` (a test checks that every command and every one of
  its parameters has one, so none can be left out);
* :func:`targets` lists every value a caller gives, down to the fields of nested objects
  (``recorded_by.agency``, ``children[0].child``), each with its msgspec type, taken
  from the event type the command records (:func:`event_type_of`);
* :func:`hostile_values` gives, for one target, values of that type that must be refused:
  a trailing newline, control characters, lone surrogates, bidirectional controls,
  separators, a byte order mark and noncharacters, out-of-range and
  wrong-typed numbers, unknown fields, impossible dates (an offset with seconds, a
  future instant written at a far western offset, a due date more than 50 years ahead).
"""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import json
from collections.abc import Iterator
from typing import Any, Final, NamedTuple

import msgspec
import msgspec.inspect as mi
from hostile_scenario import baseline
from ledger_scenario import CHILD, T0

import schemas
from ledger._commands import (
    CaseCommands,
    ChallengeCommands,
    PartnershipCommands,
    ReviewCommands,
)
from ledger.application import Ledger, Receipt
from ledger.errors import InvalidCommand, LedgerError, RuleViolation
from schemas import YEARS_AHEAD, Event
from schemas.commands import COMMAND_TYPES, BaseCommand

#: The parameters every command has, which are not fields of its event.
ROUTING: Final = frozenset({"partnership", "case", "challenge", "review"})
_MIXINS: Final = (PartnershipCommands, CaseCommands, ChallengeCommands, ReviewCommands)

#: Every public command, by name.
COMMANDS: Final[tuple[str, ...]] = tuple(
    sorted(
        name
        for mixin in _MIXINS
        for name, member in vars(mixin).items()
        if callable(member) and not name.startswith("_")
    )
)


def parameters(command: str) -> list[str]:
    """The keyword parameters of ``command``, in order."""
    signature = inspect.signature(getattr(Ledger, command))
    return [name for name in signature.parameters if name != "self"]


# -- what each value a caller gives must be --------------------------------------------


class _Captured(Exception):
    def __init__(self, event_type: type[Event]) -> None:
        super().__init__(event_type.__name__)
        self.event_type = event_type


class _Probe(*_MIXINS):  # type: ignore[misc]
    """The command methods alone, with an ``execute`` that only says which event they record."""

    def execute(self, command: Any, *, recorded_by: Any) -> Any:
        raise _Captured(type(command).records)


def event_type_of(command: str) -> type[Event]:
    """The event type ``command`` records, asked of the command itself."""
    try:
        getattr(_Probe(), command)(**baseline(command, {"case_opened": 1}))
    except _Captured as captured:
        return captured.event_type
    raise AssertionError(f"{command} did not execute a command")


class Target(NamedTuple):
    """One value a caller gives: the command, its path in the call, and its msgspec type."""

    command: str
    path: tuple[str | int, ...]
    type: mi.Type

    @property
    def field(self) -> str:
        """The path as an error's ``field`` names it: ``recorded_by.agency``, ``children[0].x``."""
        out = ""
        for step in self.path:
            out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
        return out

    def __str__(self) -> str:
        return f"{self.command}:{self.field}"


#: ``UNSET``'s type; as a target's type it marks "an unknown field here".
UNKNOWN: Final = mi.CustomType(cls=msgspec.UnsetType)
_ID_TYPE: Final = mi.type_info(schemas.Id)
FREE_TEXT: Final = mi.type_info(schemas.FreeText)


def targets() -> Iterator[Target]:
    """Every value every command takes, nested fields and an unknown field of each object."""
    for command in COMMANDS:
        info = mi.type_info(event_type_of(command))
        assert isinstance(info, mi.StructType)
        fields = {field.name: field.type for field in info.fields}
        for name in parameters(command):
            kind = _ID_TYPE if name in ROUTING and name not in fields else fields[name]
            yield from _expand(command, (name,), kind)


def _expand(command: str, path: tuple[str | int, ...], t: mi.Type) -> Iterator[Target]:
    yield Target(command, path, t)
    inner = strip(t)
    if isinstance(inner, mi.ListType) and isinstance(strip(inner.item_type), mi.StructType):
        yield from _expand(command, (*path, 0), inner.item_type)
    elif isinstance(inner, mi.StructType):
        for field in inner.fields:
            yield from _expand(command, (*path, field.name), field.type)
        yield Target(command, (*path, "name"), UNKNOWN)


def strip(t: mi.Type) -> mi.Type:
    """``t`` without its metadata and its ``UNSET`` alternative."""
    while True:
        if isinstance(t, mi.Metadata):
            t = t.type
        elif isinstance(t, mi.UnionType):
            members = [m for m in t.types if m != UNKNOWN]
            if len(members) != 1:
                return t
            t = members[0]
        else:
            return t


def _extras(t: mi.Type) -> Iterator[dict[str, Any]]:
    """The ``Meta.extra`` of ``t`` and of what it wraps."""
    if isinstance(t, mi.Metadata):
        if t.extra:
            yield t.extra
        yield from _extras(t.type)
    elif isinstance(t, mi.UnionType):
        for member in t.types:
            yield from _extras(member)


def happened(t: mi.Type) -> bool:
    """Whether ``t`` says when something happened (:data:`schemas.HappenedAt`)."""
    return any(extra.get(schemas.HAPPENED) for extra in _extras(t))


def get(kwargs: dict[str, Any], path: tuple[str | int, ...]) -> Any:
    value: Any = kwargs
    for step in path:
        value = value[step]
    return value


def put(kwargs: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A deep copy of ``kwargs`` with ``value`` at ``path`` (dicts and lists are copied)."""
    out = copy.deepcopy(kwargs)
    holder: Any = out
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    return out


# -- hostile values ------------------------------------------------------------------

#: C0 and C1 controls and DEL, one of each kind (the property test draws from all of them);
#: multi-line free text alone may hold tab, LF and CR.
CONTROLS: Final = ("\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\x9f")
MULTILINE_ALLOWED: Final = frozenset("\t\n\r")
SURROGATES: Final = ("\ud800", "\udfff")
#: Characters no text holds besides the controls (``schemas.REFUSED_IN_TEXT``): one of
#: each kind, the astral noncharacters included.
INVISIBLE: Final = ("\u202e", "\u2067", "\u2028", "\ufeff", "\ufdd0", "\uffff", "\U0010fffe")
INT64_MAX: Final = 2**63 - 1


class Hostile(NamedTuple):
    """A value that must be refused, and the error that must refuse it."""

    value: Any
    error: type[LedgerError]
    what: str


def hostile_values(target: Target, base: Any) -> list[Hostile]:
    """Values of ``target``'s type that a command must refuse (``base`` is a valid value)."""
    if target.type is UNKNOWN:
        return [Hostile("Jane Smith", InvalidCommand, "an unknown field")]
    t = strip(target.type)
    bad = InvalidCommand
    if isinstance(t, mi.StrType | mi.EnumType | mi.LiteralType):
        text = str(base)
        controls = [c for c in CONTROLS if not (multiline(target) and c in MULTILINE_ALLOWED)]
        out = [Hostile(text + c, bad, f"a trailing {c!r}") for c in controls]
        out += [Hostile(text[:1] + c + text[1:], bad, f"an inner {c!r}") for c in controls[3:]]
        out += [Hostile(text + s, bad, f"a lone surrogate {s!r}") for s in SURROGATES]
        out += [Hostile(text[:1] + c + text[1:], bad, f"an inner {c!r}") for c in INVISIBLE]
        out += [Hostile(7, bad, "an integer"), Hostile(True, bad, "a bool")]
        out += [Hostile([text], bad, "a list")]
        return out
    if isinstance(t, mi.BoolType):
        return [Hostile(1, bad, "an integer"), Hostile("true", bad, "a string")]
    if isinstance(t, mi.IntType):
        low = t.ge if t.ge is not None else -(2**63)
        high = t.le if t.le is not None else INT64_MAX
        return [
            Hostile(high + 1, bad, "one above the bound"),
            Hostile(low - 1, bad, "one below the bound"),
            Hostile(2**63, bad, "2**63"),
            Hostile(2**64 + 1, bad, "beyond 64 bits"),
            Hostile(-(2**63) - 1, bad, "below -2**63"),
            Hostile(True, bad, "a bool"),
            Hostile(str(base), bad, "digits in a string"),
            Hostile(float(base), bad, "a float"),
        ]
    if isinstance(t, mi.DateTimeType):
        out = [
            Hostile(base.replace(tzinfo=None), bad, "a naive date-time"),
            Hostile(base.replace(year=1), bad, "the year 1"),
            Hostile(base.replace(year=1899), bad, "the year 1899"),
            Hostile("yesterday", bad, "words"),
        ]
        seconds = dt.timezone(dt.timedelta(hours=1, seconds=30))
        out.append(Hostile(base.astimezone(seconds), bad, "an offset with seconds"))
        if happened(target.type):
            west = dt.timezone(-dt.timedelta(hours=12))
            ahead = (T0 + dt.timedelta(minutes=6)).astimezone(west)
            out += [
                Hostile(T0 + dt.timedelta(minutes=6), RuleViolation, "6 minutes ahead"),
                Hostile(ahead, RuleViolation, "6 minutes ahead, written at -12:00"),
                Hostile(base.replace(year=2099), RuleViolation, "the year 2099"),
            ]
        else:
            out.append(Hostile(_beyond(base), RuleViolation, "51 years ahead"))
        return out
    if isinstance(t, mi.DateType):
        return [
            Hostile(base.replace(year=1), bad, "the year 1"),
            Hostile(base.replace(year=1899), bad, "the year 1899"),
            Hostile(_beyond(base), RuleViolation, "51 years ahead"),
            Hostile(7, bad, "an integer"),
        ]
    if isinstance(t, mi.ListType):
        return [
            Hostile(None, bad, "None"),
            Hostile("abc", bad, "a string"),
            Hostile(5, bad, "an integer"),
            Hostile({"child": CHILD}, bad, "a mapping"),
            Hostile([], bad, "an empty list"),
        ]
    if isinstance(t, mi.StructType):
        return [
            Hostile(42, bad, "an integer"),
            Hostile("abc", bad, "a string"),
            Hostile([], bad, "a list"),
        ]
    raise AssertionError(f"{target}: no hostile values for {t!r}")


def _beyond(base: Any) -> Any:
    """``base`` in the year more than :data:`schemas.YEARS_AHEAD` after T0."""
    return base.replace(year=T0.year + YEARS_AHEAD + 1)


def multiline(target: Target) -> bool:
    """Whether the target is multi-line free text (which may hold tab, LF and CR)."""
    t = target.type
    return t == FREE_TEXT or (isinstance(t, mi.UnionType) and FREE_TEXT in t.types)


def hostile_call(target: Target, kwargs: dict[str, Any], hostile: Hostile) -> dict[str, Any]:
    """``kwargs`` with the hostile value at the target (a new key for an unknown field)."""
    return put(kwargs, target.path, hostile.value)


def is_personal(target: Target) -> bool:
    """Whether the target's value is free text, which an error must never quote."""
    return any(extra.get(schemas.PERSONAL_DATA) for extra in _extras(target.type))


# -- the same calls as JSON commands ---------------------------------------------------


def command_type(method: str) -> type[BaseCommand]:
    """The command struct a keyword method builds: its name in CamelCase."""
    return COMMAND_TYPES["".join(word.capitalize() for word in method.split("_"))]


def as_json(method: str, kwargs: dict[str, Any]) -> bytes:
    """The keyword call as a JSON command, without ``recorded_by`` (the caller's identity).

    ``ensure_ascii`` writes a lone surrogate as its ``\\udxxx`` escape, as a hostile client
    could; ``allow_nan`` is off: NaN is not JSON.
    """
    body = {k: v for k, v in kwargs.items() if k != "recorded_by"}
    tag = command_type(method).__struct_config__.tag
    # Dates are written by ``isoformat``, which keeps an offset's seconds (msgspec would
    # drop them) and writes a naive date-time without an offset, as a client could.
    plain = msgspec.to_builtins(body, builtin_types=(dt.datetime, dt.date))
    return json.dumps({"type": tag, **plain}, allow_nan=False, default=_isoformat).encode()


def _isoformat(value: object) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def send(ledger: Ledger, method: str, kwargs: dict[str, Any]) -> Receipt:
    """Decode the keyword call as a JSON command and execute it as ``recorded_by``."""
    command = schemas.decode_command(as_json(method, kwargs))
    return ledger.execute(command, recorded_by=kwargs["recorded_by"])
