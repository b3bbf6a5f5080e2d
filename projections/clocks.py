"""Statutory clocks as data: the rules format, its loader and a pure matcher.

A :class:`ClockRule` says which events start a clock, which stop it, and how long
it may run. The rules ship in ``projections/rules.toml``; a partnership adds its
own local timescales in a file of the same format (:func:`load_rules`), without code.

Semantics, for the view that runs the clocks (the caller):

* A :class:`Trigger` matches an event of its ``event`` tag whose fields equal every
  ``where`` value (an enum by its value; a field left unset never matches). The
  instant is the trigger's ``at`` field, ``occurred_at`` unless it names another
  (``became_aware_at``); a trigger whose ``at`` or ``key`` field is unset does not match.
  When one event fits several triggers of a rule, the first that matches counts, once.
* A clock is identified by its rule, its aggregate and its key: the ``key`` field of
  the event (``recommendation``), or ``""`` when the rule has none, so that one
  aggregate runs one clock of that rule at a time.
* A start while a clock with the same identity is already open does not restart
  it, and a stop with no open clock is ignored; the caller enforces both, as it
  alone knows which clocks are open. Apply an event's stops before its starts, so a
  rule whose start and stop are the same event (later review conferences) closes
  the running clock and opens the next.
* ``limit`` is a number of ``unit``; or ``"partnership:<setting>"``, the
  partnership's own setting (:data:`PARTNERSHIP_SETTINGS`); or ``"event:<field>"``, a
  date on the start event that is itself the due date (``unit`` must then be
  ``calendar_days``); a start event whose due date is unset starts no clock, as it
  has no limit. See :func:`limit_for` and :func:`due_for`.
* ``responsible`` is the agency answerable for the clock: ``"recorder"``, the agency
  that recorded the start event, or an agency field (typed ``AgencyId``) of every start
  event (``owner``), falling back to the recorder when that field is unset.
* ``where``, ``key`` and ``responsible`` never name a field marked as personal data,
  and a ``where`` value must be one the field can hold (an enum or ``Literal`` member,
  an integer within the field's bounds, text matching its pattern and length).
* A rule applies only to partnerships of the ``nations`` it lists.

Rules are checked when loaded, and every problem is an :class:`InvalidRules` whose
``field`` names the entry (``rule[3].limit``).
"""

from __future__ import annotations

import enum
import functools
import importlib.resources
import re
import tomllib
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Final, Literal

import msgspec
import msgspec.inspect as mi

from projections.calendar import Unit, WorkingCalendar, due_date, local_date
from projections.errors import InvalidRules
from schemas import (
    EVENT_TYPES,
    AgencyId,
    Event,
    Nation,
    PartnershipEstablished,
    anchored,
    personal_data_fields,
    tag_of,
)

__all__ = [
    "PACKAGED_RULES",
    "PARTNERSHIP_SETTINGS",
    "ClockRule",
    "ClockStart",
    "ClockStop",
    "RuleIndex",
    "RuleSet",
    "Trigger",
    "decode_rules",
    "due_for",
    "limit_for",
    "load_rules",
]

#: Where the packaged rules live, as named in error messages.
PACKAGED_RULES: Final = "projections/rules.toml"


@functools.cache
def _fields(cls: type[Event]) -> dict[str, tuple[mi.Type, ...]]:
    """Each field of an event type and the types it may hold (constraints and unset peeled off)."""
    info = mi.type_info(cls)
    if not isinstance(info, mi.StructType):
        raise TypeError(f"{cls.__qualname__} is not a struct")
    return {field.name: _flatten(field.type) for field in info.fields}


def _flatten(t: mi.Type) -> tuple[mi.Type, ...]:
    if isinstance(t, mi.Metadata):
        return _flatten(t.type)
    if isinstance(t, mi.UnionType):
        return tuple(member for each in t.types for member in _flatten(each))
    return (t,)


#: The partnership settings a ``"partnership:<setting>"`` limit may name.
PARTNERSHIP_SETTINGS: Final[frozenset[str]] = frozenset(
    name
    for name, types in _fields(PartnershipEstablished).items()
    if name != "schema_version" and any(isinstance(t, mi.IntType) for t in types)
)

_RuleName = Annotated[str, msgspec.Meta(pattern=anchored(r"[a-z][a-z0-9_]{0,63}"))]
_LIMIT: Final = re.compile(r"^(?P<kind>partnership|event):(?P<name>[a-z][a-z0-9_]*)$")
_AT_PATH: Final = re.compile(r"^(?P<problem>.*) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_MISSING: Final = re.compile(
    r"^Object (?:missing required|contains unknown) field `(?P<name>[^`]+)`$"
)
_INDEX: Final = re.compile(r"^\.rule\[(?P<index>\d+)\]")


def _title(t: mi.Type) -> str | None:
    extra = t.extra_json_schema if isinstance(t, mi.Metadata) else None
    return None if extra is None else extra.get("title")


#: The JSON Schema title that marks an agency identifier field (``AgencyId``).
_AGENCY_TITLE: Final = _title(mi.type_info(AgencyId))


class Trigger(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Events of one type whose fields equal ``where``, timed by their ``at`` field."""

    event: str
    where: dict[str, str | int | bool] = msgspec.field(default_factory=dict)
    at: str = "occurred_at"

    def matches(self, event: Event) -> bool:
        """Whether ``event`` is of this trigger's type and has every ``where`` value."""
        return tag_of(type(event)) == self.event and all(
            _equals(getattr(event, name, msgspec.UNSET), value)
            for name, value in self.where.items()
        )


class ClockRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One statutory or local timescale: what starts and stops it, and its limit."""

    name: _RuleName
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    start: Annotated[list[Trigger], msgspec.Meta(min_length=1)]
    stop: Annotated[list[Trigger], msgspec.Meta(min_length=1)]
    limit: int | str
    unit: Unit
    nations: Annotated[list[Nation], msgspec.Meta(min_length=1)]
    responsible: str = "recorder"
    key: str | None = None
    #: Events after which the clock no longer applies (a case closed, a recommendation
    #: rejected): an open clock is closed as "not applicable", neither met nor missed.
    cancel: list[Trigger] = msgspec.field(default_factory=list)
    #: Whether a start while the clock is open restarts it (the initial conference runs
    #: from the last strategy discussion); otherwise the first start stands.
    restart: bool = False
    note: str = ""


class ClockStart(msgspec.Struct, frozen=True, kw_only=True):
    """An event started ``rule``'s clock ``key`` at ``at``, answerable by ``responsible``."""

    rule: ClockRule
    key: str
    at: datetime
    responsible: str


class ClockStop(msgspec.Struct, frozen=True, kw_only=True):
    """An event stopped ``rule``'s clock ``key`` at ``at``."""

    rule: ClockRule
    key: str
    at: datetime


class RuleSet(msgspec.Struct, frozen=True, kw_only=True):
    """The rules in force, in order, and which of them an event starts or stops."""

    rules: list[ClockRule]

    def rule(self, name: str) -> ClockRule:
        """The rule called ``name``; raises :class:`KeyError` if there is none."""
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def starts(self, event: Event, *, nation: Nation) -> list[ClockStart]:
        """The clocks ``event`` starts in a partnership of ``nation``."""
        return RuleIndex(self).starts(event, nation=nation)

    def stops(self, event: Event, *, nation: Nation) -> list[ClockStop]:
        """The clocks ``event`` stops in a partnership of ``nation``."""
        return RuleIndex(self).stops(event, nation=nation)

    def cancels(self, event: Event, *, nation: Nation) -> list[ClockStop]:
        """The clocks ``event`` makes no longer applicable in a partnership of ``nation``."""
        return RuleIndex(self).cancels(event, nation=nation)


Side = Literal["start", "stop", "cancel"]


def _triggers(rule: ClockRule, side: Side) -> list[Trigger]:
    return rule.start if side == "start" else rule.stop if side == "stop" else rule.cancel


class RuleIndex:
    """Which clocks an event starts, stops or cancels, fast enough for a rebuild.

    Whether a trigger fits an event depends only on the event's type and the few
    fields the triggers' ``where`` tables name (``action``, ``outcome``, ...), so
    the fitting (rule, trigger) pairs are worked out once per combination of those
    values and nation, and remembered. Gives the same answers as the rule set.
    """

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        fields: dict[str, set[str]] = {}
        for rule in rules.rules:
            for trigger in (*rule.start, *rule.stop, *rule.cancel):
                fields.setdefault(trigger.event, set()).update(trigger.where)
        self._fields = {tag: tuple(sorted(names)) for tag, names in fields.items()}
        self._memo: dict[tuple[object, ...], tuple[list[_Fit], list[_Fit], list[_Fit]]] = {}

    def handles(self, tag: str) -> bool:
        """Whether any rule starts, stops or cancels on events tagged ``tag``."""
        return tag in self._fields

    def marks(
        self, event: Event, *, nation: Nation
    ) -> tuple[list[ClockStart], list[ClockStop], list[ClockStop]]:
        """The clocks ``event`` starts, stops and cancels, from one lookup of its fits
        (the rebuild's path: most events fit nothing and cost one dictionary lookup)."""
        starts, stops, cancels = self._fits(event, nation)
        if not (starts or stops or cancels):
            return [], [], []
        return self._starts(event, starts), _stops(event, stops), _stops(event, cancels)

    def starts(self, event: Event, *, nation: Nation) -> list[ClockStart]:
        return self._starts(event, self._fits(event, nation)[0])

    def stops(self, event: Event, *, nation: Nation) -> list[ClockStop]:
        return _stops(event, self._fits(event, nation)[1])

    def cancels(self, event: Event, *, nation: Nation) -> list[ClockStop]:
        return _stops(event, self._fits(event, nation)[2])

    @staticmethod
    def _starts(event: Event, fits: list[_Fit]) -> list[ClockStart]:
        found: list[ClockStart] = []
        for rule, key, at in _timed(event, fits):
            if not _has_limit(rule, event):
                continue
            agency = getattr(event, rule.responsible, msgspec.UNSET)
            if rule.responsible == "recorder" or not isinstance(agency, str):
                agency = event.recorded_by.agency
            found.append(ClockStart(rule=rule, key=key, at=at, responsible=agency))
        return found

    def _fits(self, event: Event, nation: Nation) -> tuple[list[_Fit], list[_Fit], list[_Fit]]:
        tag = tag_of(type(event))
        names = self._fields.get(tag)
        if names is None:
            return [], [], []
        memo_key = (tag, nation, *(getattr(event, name, msgspec.UNSET) for name in names))
        fits = self._memo.get(memo_key)
        if fits is None:
            fits = self._memo[memo_key] = (
                self._fitting(event, nation, "start"),
                self._fitting(event, nation, "stop"),
                self._fitting(event, nation, "cancel"),
            )
        return fits

    def _fitting(self, event: Event, nation: Nation, side: Side) -> list[_Fit]:
        found: list[_Fit] = []
        for rule in self.rules.rules:
            if nation not in rule.nations:
                continue
            for trigger in _triggers(rule, side):
                if trigger.matches(event):
                    found.append((rule, trigger))
        return found


_Fit = tuple[ClockRule, Trigger]


def _stops(event: Event, fits: list[_Fit]) -> list[ClockStop]:
    return [ClockStop(rule=rule, key=key, at=at) for rule, key, at in _timed(event, fits)]


def _has_limit(rule: ClockRule, start_event: Event) -> bool:
    """Whether ``start_event`` holds the date an ``"event:<field>"`` limit names (or needs none)."""
    if not isinstance(rule.limit, str) or not rule.limit.startswith("event:"):
        return True
    return isinstance(getattr(start_event, rule.limit.removeprefix("event:"), None), date)


def _timed(event: Event, fits: list[_Fit]) -> list[tuple[ClockRule, str, datetime]]:
    """Each fitting rule once (its first fitting trigger), with its key and instant."""
    found: list[tuple[ClockRule, str, datetime]] = []
    done: set[str] = set()
    for rule, trigger in fits:
        if rule.name in done:
            continue
        at = getattr(event, trigger.at, msgspec.UNSET)
        key = "" if rule.key is None else getattr(event, rule.key, msgspec.UNSET)
        if isinstance(at, datetime) and key is not msgspec.UNSET:
            found.append((rule, str(key), at))
            done.add(rule.name)
    return found


class _RulesFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A rules file: a TOML array of tables, ``[[rule]]``."""

    rule: list[ClockRule] = msgspec.field(default_factory=list)


def limit_for(
    rule: ClockRule, start_event: Event, partnership_settings: Mapping[str, int]
) -> int | date:
    """The limit of ``rule``'s clock started by ``start_event``: a count of its unit, or a date.

    A ``"partnership:"`` limit missing from ``partnership_settings`` raises :class:`KeyError`.
    """
    if isinstance(rule.limit, int):
        return rule.limit
    kind, _, name = rule.limit.partition(":")
    if kind == "partnership":
        return partnership_settings[name]
    value = getattr(start_event, name, None)
    if isinstance(value, datetime):
        return local_date(value)
    if isinstance(value, date):
        return value
    raise TypeError(f"{type(start_event).__name__} has no date {name!r} for rule {rule.name!r}")


def due_for(
    start: ClockStart,
    start_event: Event,
    partnership_settings: Mapping[str, int],
    calendar: WorkingCalendar,
) -> date:
    """The last day on which the clock ``start`` opened is met."""
    limit = limit_for(start.rule, start_event, partnership_settings)
    if isinstance(limit, date):
        return limit
    return due_date(local_date(start.at), limit, start.rule.unit, calendar)


def decode_rules(data: bytes | str, *, source: str = "rules") -> RuleSet:
    """Decode and check one rules file's TOML text; ``source`` names it in errors."""
    try:
        decoded = msgspec.toml.decode(data, type=_RulesFile)
    except msgspec.ValidationError as error:
        failure = _translate(error, data, source)
    except msgspec.DecodeError as error:
        failure = InvalidRules(f"invalid rules in {source}: not valid TOML ({error})")
    else:
        _check(decoded.rule, source)
        return RuleSet(rules=list(decoded.rule))
    # Raised outside the handler, so msgspec's message is not chained a second time.
    raise failure


def load_rules(extra: Path | None = None) -> RuleSet:
    """The packaged rules, with a partnership's own rules file ``extra`` applied.

    A rule in ``extra`` named like a packaged rule replaces it in place (a local
    timescale that is shorter, or a nation's own); the others are appended in order.
    """
    packaged = importlib.resources.files("projections").joinpath("rules.toml").read_bytes()
    rules = decode_rules(packaged, source=PACKAGED_RULES).rules
    if extra is None:
        return RuleSet(rules=rules)
    try:
        text = extra.read_bytes()
    except OSError as error:
        raise InvalidRules(
            f"cannot read the rules file {extra}: {error.strerror or error}"
        ) from error
    position = {rule.name: index for index, rule in enumerate(rules)}
    for rule in decode_rules(text, source=str(extra)).rules:
        if rule.name in position:
            rules[position[rule.name]] = rule
        else:
            position[rule.name] = len(rules)
            rules.append(rule)
    return RuleSet(rules=rules)


def _equals(value: object, expected: str | int | bool) -> bool:
    if value is msgspec.UNSET:
        return False
    if isinstance(value, enum.Enum):
        value = value.value
    return isinstance(value, bool) == isinstance(expected, bool) and value == expected


def _translate(error: msgspec.ValidationError, data: bytes | str, source: str) -> InvalidRules:
    problem, path = str(error), ""
    if match := _AT_PATH.match(problem):
        problem, path = match["problem"], match["path"]
    if missing := _MISSING.match(problem):
        path = f"{path}.{missing['name']}"
    field = path.removeprefix(".") or None
    named = ""
    if index := _INDEX.match(path):
        named = _name_at(data, int(index["index"]))
    return InvalidRules(
        f"invalid rules in {source}: {field or 'file'}{named}: {problem}", field=field
    )


def _name_at(data: bytes | str, index: int) -> str:
    """`` (rule 'name')`` for the ``index``-th rule of a file that failed to decode, if named."""
    try:
        text = data.decode() if isinstance(data, bytes) else data
        name = tomllib.loads(text)["rule"][index]["name"]
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, LookupError, TypeError):
        return ""
    return f" (rule {name!r})" if isinstance(name, str) else ""


def _check(rules: list[ClockRule], source: str) -> None:
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        problem = next(_problems(rule, seen), None)
        if problem is not None:
            field, what = f"rule[{index}].{problem[0]}", problem[1]
            raise InvalidRules(
                f"invalid rules in {source}: {field} (rule {rule.name!r}): {what}", field=field
            )
        seen.add(rule.name)


def _problems(rule: ClockRule, seen: set[str]) -> Iterator[tuple[str, str]]:
    """Each problem of ``rule`` as (field within the rule, what is wrong): its name, the
    form of its limit, then each trigger in file order."""
    if rule.name in seen:
        yield "name", "another rule in this file has the same name"
    yield from _limit_problems(rule)
    for side, triggers in (("start", rule.start), ("stop", rule.stop), ("cancel", rule.cancel)):
        for number, trigger in enumerate(triggers):
            yield from _trigger_problems(rule, trigger, side, f"{side}[{number}]")


def _trigger_problems(
    rule: ClockRule, trigger: Trigger, side: str, at: str
) -> Iterator[tuple[str, str]]:
    cls = EVENT_TYPES.get(trigger.event)
    if cls is None:
        yield f"{at}.event", f"there is no event type {trigger.event!r}"
        return
    fields = _fields(cls)
    for name, value in trigger.where.items():
        if name not in fields:
            yield f"{at}.where.{name}", f"{trigger.event} has no field {name!r}"
        elif name in _personal(cls) or not _accepts(fields[name], value):
            yield f"{at}.where.{name}", f"{trigger.event}.{name} can never equal {value!r}"
    if not any(isinstance(t, mi.DateTimeType) for t in fields.get(trigger.at, ())):
        yield f"{at}.at", f"{trigger.event} has no instant field {trigger.at!r}"
    if rule.key is not None and rule.key in _personal(cls):
        yield "key", f"{trigger.event}.{rule.key} is personal data, which never keys a clock"
    elif rule.key is not None and not _is_id(cls, rule.key):
        yield "key", f"{trigger.event} has no identifier field {rule.key!r}"
    if side != "start":
        return
    if rule.responsible in _personal(cls):
        yield "responsible", f"{trigger.event}.{rule.responsible} is personal data, not an agency"
    elif rule.responsible != "recorder" and not _is_agency(cls, rule.responsible):
        yield "responsible", f"{trigger.event} has no agency field {rule.responsible!r}"
    if isinstance(rule.limit, str) and rule.limit.startswith("event:"):
        name = rule.limit.removeprefix("event:")
        if not any(isinstance(t, mi.DateType | mi.DateTimeType) for t in fields.get(name, ())):
            yield "limit", f"{trigger.event} has no date field {name!r}"


def _limit_problems(rule: ClockRule) -> Iterator[tuple[str, str]]:
    if isinstance(rule.limit, int):
        if rule.limit < 1:
            yield "limit", "a limit must be a positive number of days or months"
        return
    match = _LIMIT.fullmatch(rule.limit)
    if match is None:
        yield "limit", 'a limit is a number, "partnership:<setting>" or "event:<field>"'
    elif match["kind"] == "partnership" and match["name"] not in PARTNERSHIP_SETTINGS:
        known = ", ".join(sorted(PARTNERSHIP_SETTINGS))
        yield "limit", f"there is no partnership setting {match['name']!r} (known: {known})"
    elif match["kind"] == "event" and rule.unit != "calendar_days":
        yield "unit", 'an "event:" limit is a due date, so its unit must be "calendar_days"'


@functools.cache
def _personal(cls: type[Event]) -> frozenset[str]:
    return frozenset(path.split(".")[0] for path in personal_data_fields(cls))


def _is_id(cls: type[Event], name: str) -> bool:
    """Whether ``name`` is a string field of ``cls`` (callers refuse personal data first)."""
    return any(isinstance(t, mi.StrType) for t in _fields(cls).get(name, ()))


def _is_agency(cls: type[Event], name: str) -> bool:
    """Whether ``name`` is an agency identifier field (``AgencyId``) of ``cls``."""
    info = mi.type_info(cls)
    for field in info.fields if isinstance(info, mi.StructType) else ():
        if field.name == name:
            members = field.type.types if isinstance(field.type, mi.UnionType) else (field.type,)
            return _is_id(cls, name) and any(_title(m) == _AGENCY_TITLE for m in members)
    return False


def _accepts(types: tuple[mi.Type, ...], value: str | int | bool) -> bool:
    """Whether a field of ``types`` can ever hold ``value`` (so a ``where`` on it can match)."""
    for t in types:
        if isinstance(t, mi.EnumType) and value in {member.value for member in t.cls}:
            return not isinstance(value, bool)
        if isinstance(t, mi.LiteralType) and any(_equals(v, value) for v in t.values):
            return True
        if isinstance(t, mi.StrType) and isinstance(value, str) and _text_fits(t, value):
            return True
        if isinstance(t, mi.IntType) and type(value) is int and _int_fits(t, value):
            return True
        if isinstance(t, mi.BoolType) and isinstance(value, bool):
            return True
    return False


def _text_fits(t: mi.StrType, value: str) -> bool:
    return (
        (t.min_length is None or len(value) >= t.min_length)
        and (t.max_length is None or len(value) <= t.max_length)
        and (t.pattern is None or re.search(t.pattern, value) is not None)
    )


def _int_fits(t: mi.IntType, value: int) -> bool:
    return (
        (t.ge is None or value >= t.ge)
        and (t.gt is None or value > t.gt)
        and (t.le is None or value <= t.le)
        and (t.lt is None or value < t.lt)
    )
