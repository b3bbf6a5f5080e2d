"""Encoding and decoding ledger events, and translating msgspec's errors into ours.

One module-level decoder for the union of all events and one encoder, reused
for every message (msgspec's performance advice); one cached decoder per event
class for typed decoding. Every failure to decode is raised as
:class:`schemas.errors.InvalidEvent`, from msgspec's own error, with the JSON path
of the offending value and the rule it broke. Messages never quote the offending
value, since it may be personal data.
"""

from __future__ import annotations

import re
from typing import Any, Final, TypeVar, cast

import msgspec

from schemas._base import Event
from schemas._introspect import rule_at, write_patterns
from schemas._registry import EVENT_TYPES, LedgerEvent
from schemas._types import refused_character
from schemas.errors import InvalidEvent

__all__ = [
    "decode_event",
    "decode_event_as",
    "describe_decode_error",
    "encode_event",
    "payload_tag",
    "validate",
]

E = TypeVar("E", bound=Event)

_DECODER: Final[msgspec.json.Decoder[Any]] = msgspec.json.Decoder(LedgerEvent)
_ENCODER: Final = msgspec.json.Encoder()
_DECODERS: Final[dict[type[Event], msgspec.json.Decoder[Any]]] = {}

_AT_PATH: Final = re.compile(r"^(?P<problem>.*) - at `(?P<path>\$[^`]*)`$", re.DOTALL)
_MISSING: Final = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")
_QUOTED_VALUE: Final = re.compile(r"^(?P<head>Invalid (?:enum )?value) .*$", re.DOTALL)
_UNKNOWN: Final = re.compile(r"^Object contains unknown field `(?P<name>.*)`$", re.DOTALL)
#: A field name that may be shown in an error; any other name (a "Jane Smith" sent as a
#: key) may be personal data and is left out.
_SHOWN_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SURROGATES: Final = re.compile("[\ud800-\udfff]")


class _Tagged(msgspec.Struct):
    """Just the tag of a payload, to name the event type in an error message."""

    type: str | msgspec.UnsetType = msgspec.UNSET


_TAG_DECODER: Final = msgspec.json.Decoder(_Tagged)


def decode_event(data: bytes) -> Event:
    """Decode and validate a JSON payload as whichever ledger event its ``type`` names.

    Raises :class:`InvalidEvent` if it is not valid JSON or not a valid event.
    """
    try:
        return cast(Event, _DECODER.decode(data))
    except msgspec.DecodeError as error:  # ValidationError is a DecodeError
        failure = _translate(error, _event_type_of(data))
    except RecursionError:
        failure = _too_deep()
    # Raised outside the handler, so neither cause nor context chains msgspec's own
    # message, which quotes the offending value (a name, a note) into any traceback.
    raise failure


def decode_event_as(data: bytes, cls: type[E]) -> E:
    """Decode and validate a JSON payload as the event type ``cls``.

    Raises :class:`InvalidEvent` if it is not valid JSON or not a valid ``cls``
    (including a payload tagged as another type).
    """
    decoder = _DECODERS.get(cls)
    if decoder is None:
        decoder = _DECODERS.setdefault(cls, msgspec.json.Decoder(cls))
    try:
        return cast(E, decoder.decode(data))
    except msgspec.DecodeError as error:
        failure = _translate(error, cls)
    except RecursionError:
        failure = _too_deep()
    raise failure  # outside the handler: see decode_event


def encode_event(event: Event) -> bytes:
    """Encode an event as compact JSON, its ``type`` tag included."""
    return _ENCODER.encode(event)


def validate(event: E) -> E:
    """Check an event built in Python against every constraint of its type.

    msgspec checks constraints only when decoding, so this round-trips the event
    through JSON and returns the decoded, validated copy. Raises :class:`InvalidEvent`.
    """
    try:
        data = encode_event(event)
    except UnicodeEncodeError:
        failure = _unencodable_text(event)
    except RecursionError:
        failure = _nested_too_deeply(event)
    except (TypeError, msgspec.EncodeError) as error:
        raise InvalidEvent(
            f"invalid {type(event).__name__} event: a field holds a value that cannot be "
            f"encoded ({error})"
        ) from error
    else:
        checked = decode_event_as(data, type(event))
        _check_write_patterns(checked)
        return checked
    raise failure  # outside the handler: the codec's message quotes the text


def _check_write_patterns(event: Event) -> None:
    """Raise :class:`InvalidEvent` for a value breaking a write-only pattern (free text)."""
    for path, pattern in write_patterns(type(event)):
        if "[" in path:
            found = _values_at(event, path, "$")
        else:  # a field or a field of a field, the common case: no walk
            value: object = event
            for name in path.split("."):
                value = getattr(value, name, msgspec.UNSET)
            found = [(f"$.{path}", value)]
        for where, value in found:
            if not isinstance(value, str) or (value.isascii() and value.isprintable()):
                continue  # printable ASCII holds no control character: no regex needed
            if not pattern.search(value):
                rule = rule_at(type(event), where)
                raise InvalidEvent(
                    f"invalid {type(event).__name__} event: {where}: holds "
                    f"{refused_character(value, pattern.pattern)}; rule: {rule}",
                    field=where,
                )


def _values_at(value: object, path: str, where: str) -> list[tuple[str, object]]:
    """The values at a dotted ``path`` (``a.b[].c``) under ``value``, with their JSON paths."""
    if not path:
        return [(where, value)]
    head, _, rest = path.partition(".")
    name, is_list = (head[:-2], True) if head.endswith("[]") else (head, False)
    child = getattr(value, name, msgspec.UNSET)
    if child is msgspec.UNSET:
        return []
    if not is_list:
        return _values_at(child, rest, f"{where}.{name}")
    if not isinstance(child, list | tuple):
        return []
    return [
        found
        for index, item in enumerate(child)
        for found in _values_at(item, rest, f"{where}.{name}[{index}]")
    ]


def _top_level_failing(event: Event, error: type[Exception]) -> str:
    """The JSON path of the first top-level field whose encoding raises ``error``, or ``$``."""
    for name in event.__struct_fields__:
        try:
            _ENCODER.encode(getattr(event, name))
        except error:
            return f"$.{name}"
        except Exception:  # noqa: BLE001, S112 - another field's problem: look on
            continue
    return "$"


def _nested_too_deeply(event: Event) -> InvalidEvent:
    """The error for a value nested too deeply to encode (a list of lists of lists ...)."""
    path = _top_level_failing(event, RecursionError)
    return InvalidEvent(
        f"invalid {type(event).__name__} event: {path}: nested too deeply; rule: "
        f"{rule_at(type(event), path) or 'see the event type'}",
        field=path,
    )


def _unencodable_text(event: Event) -> InvalidEvent:
    """The error for text that is not Unicode scalar values (a lone surrogate)."""
    try:
        path = _surrogate_path(msgspec.to_builtins(event), "$") or "$"
    except RecursionError:
        path = _top_level_failing(event, UnicodeEncodeError)
    rule = "text is Unicode characters; a lone surrogate (U+D800-U+DFFF) is not one"
    return InvalidEvent(
        f"invalid {type(event).__name__} event: {path}: holds a lone surrogate; rule: {rule}",
        field=path,
    )


def _surrogate_path(value: object, path: str) -> str | None:
    """The JSON path of the first string under ``value`` holding a lone surrogate."""
    if isinstance(value, str):
        return path if _SURROGATES.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            key_text = str(key)
            if _SURROGATES.search(key_text):
                return path  # a field name: the object holding it is the path
            if found := _surrogate_path(item, f"{path}.{key_text}"):
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if found := _surrogate_path(item, f"{path}[{index}]"):
                return found
    return None


def payload_tag(data: bytes) -> str | None:
    """The ``type`` tag a JSON payload names, if it names one, to name its type in an error."""
    try:
        tag = _TAG_DECODER.decode(data).type
    except (msgspec.DecodeError, RecursionError):
        return None
    return tag if isinstance(tag, str) else None


def _event_type_of(data: bytes) -> type[Event] | None:
    tag = payload_tag(data)
    return EVENT_TYPES.get(tag) if tag is not None else None


def _too_deep() -> InvalidEvent:
    return InvalidEvent("invalid event payload: JSON nested too deeply")


def _translate(error: msgspec.DecodeError, cls: type[Event] | None) -> InvalidEvent:
    """Build our error from msgspec's: which field, what is wrong, which rule applies."""
    message, path = describe_decode_error(error, cls, LedgerEvent, "event")
    return InvalidEvent(message, field=path)


def describe_decode_error(
    error: msgspec.DecodeError, cls: type[msgspec.Struct] | None, union: Any, noun: str
) -> tuple[str, str | None]:
    """The message and JSON path of a decoding failure: which field, what, which rule.

    ``cls`` is the type the payload was decoded as (or names), ``union`` the union it
    was decoded as when ``cls`` is not known, and ``noun`` what it is (``event``,
    ``command``). The message never quotes the offending value.
    """
    what = f"invalid {cls.__name__} {noun}" if cls is not None else f"invalid {noun} payload"
    problem = str(error)
    if not isinstance(error, msgspec.ValidationError):
        return f"{what}: {problem}", None
    path = "$"
    if match := _AT_PATH.match(problem):
        problem, path = match["problem"], match["path"]
    if missing := _MISSING.match(problem):
        path, problem = f"{path}.{missing['name']}", "required field is missing"
    elif unknown := _UNKNOWN.match(problem):
        name = unknown["name"]
        if _SHOWN_NAME.fullmatch(name):
            path, problem = f"{path}.{name}", "unknown field"
        else:
            problem = "holds an unknown field (its name is not shown: it may be personal data)"
    if quoted := _QUOTED_VALUE.match(problem):
        problem = quoted["head"]
    rule = rule_at(cls if cls is not None else union, path)
    message = f"{what}: {path}: {problem}"
    if rule:
        message += f"; rule: {rule}"
    return message, path
