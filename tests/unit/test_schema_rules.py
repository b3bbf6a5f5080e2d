"""The static rules of the vocabulary, as msgspec and the published JSON Schemas state them.

Patterns anchor at the true end in both (Python's ``$`` also matches before a final
newline; ECMA-262's does not), every object refuses unknown fields, every integer fits
a signed 64-bit store, and no text holds a control character.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Annotated, Any, TypeVar

import jsonschema
import msgspec
import msgspec.inspect as mi
import pytest
from test_schemas import SAMPLES

import schemas
from schemas import EVENT_TYPES, Event, InvalidEvent, decode_event, encode_event, json_schemas
from schemas._introspect import rule_at
from schemas._types import LINE_PATTERN, REFUSED_IN_TEXT, TEXT_PATTERN

E = TypeVar("E", bound=Event)
VALIDATOR = jsonschema.Draft202012Validator
INT64 = (-(2**63), 2**63 - 1)


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object in a JSON Schema document, with where it is."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


def _patterns() -> dict[str, str]:
    return {
        f"{name}{where}": node["pattern"]
        for name, document in json_schemas().items()
        for where, node in _walk(document)
        if isinstance(node.get("pattern"), str)
    }


def _string_fields(event: Event) -> Iterator[tuple[list[str | int], str]]:
    """The JSON path and value of every string in the event's JSON but its tag."""

    def walk(value: Any, path: list[str | int]) -> Iterator[tuple[list[str | int], str]]:
        if isinstance(value, str):
            yield path, value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from walk(item, [*path, key])
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(item, [*path, index])

    document = json.loads(encode_event(event))
    document.pop("type")
    yield from walk(document, [])


def _with(event: Event, path: list[str | int], value: Any) -> dict[str, Any]:
    document: Any = json.loads(encode_event(event))
    holder = document
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    return dict(document)


def _accepts(typed: Any, value: str) -> bool:
    try:
        msgspec.json.decode(msgspec.json.encode(value), type=typed)
    except msgspec.ValidationError:
        return False
    return True


def _name(event: Event) -> str:
    return schemas.tag_of(type(event))


class TestPatternsAnchorAtTheTrueEnd:
    def test_every_published_pattern_is_anchored_by_the_one_helper(self) -> None:
        patterns = _patterns()
        assert patterns
        for where, pattern in patterns.items():
            assert pattern.startswith("^(?:"), where
            assert pattern.endswith(r")$(?!\n)"), where

    def test_the_anchor_means_the_same_in_python_and_in_the_json_schema_validator(self) -> None:
        pattern = schemas.anchored("[a-z]{1,3}")
        schema = {"type": "string", "pattern": pattern}
        for value, valid in (("ab", True), ("ab\n", False), ("\nab", False), ("ab\n\n", False)):
            assert bool(re.search(pattern, value)) is valid, repr(value)
            assert VALIDATOR(schema).is_valid(value) is valid, repr(value)
            typed = Annotated[str, msgspec.Meta(pattern=pattern)]
            assert _accepts(typed, value) is valid, repr(value)

    @pytest.mark.parametrize("event", SAMPLES, ids=_name)
    def test_a_trailing_newline_on_any_string_but_free_text_is_refused_by_both_readers(
        self, event: Event
    ) -> None:
        tag = _name(event)
        validator = VALIDATOR(json_schemas()[tag])
        refused = 0
        # Date-times are format-checked, which jsonschema does not do without a plugin.
        dates = {field.name for field in schemas.temporal_fields(type(event))}
        for path, value in _string_fields(event):
            if path[0] in dates:
                continue
            where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
            multiline = "line feed" in (rule_at(type(event), where) or "")
            changed = _with(event, path, value + "\n")
            assert validator.is_valid(changed) is multiline, f"{tag} {where}"
            if multiline:
                assert decode_event(json.dumps(changed).encode())
                continue
            with pytest.raises(InvalidEvent) as info:  # identifiers on decode, text on write
                schemas.validate(decode_event(json.dumps(changed).encode()))
            assert info.value.field == where
            refused += 1
        assert refused >= 4  # at least the common fields: agency, actor, source kind, reference


class TestUnknownFieldsAreRefused:
    def test_every_object_in_every_published_schema_refuses_additional_properties(
        self,
    ) -> None:
        for name, document in json_schemas().items():
            for where, node in _walk(document):
                if node.get("type") == "object":
                    assert node.get("additionalProperties") is False, f"{name}{where}"

    def test_every_struct_of_the_vocabulary_forbids_unknown_fields(self) -> None:
        seen: set[type] = set()

        def visit(t: mi.Type) -> None:
            if isinstance(t, mi.StructType):
                if t.cls in seen:
                    return
                seen.add(t.cls)
                assert t.forbid_unknown_fields, t.cls.__name__
                for field in t.fields:
                    visit(field.type)
            elif isinstance(t, mi.Metadata):
                visit(t.type)
            elif isinstance(t, mi.UnionType):
                for member in t.types:
                    visit(member)
            elif isinstance(t, mi.ListType):
                visit(t.item_type)

        for cls in EVENT_TYPES.values():
            visit(mi.type_info(cls))
        assert {"RecordedBy", "Source", "ChildSubject", "EscalationStage"} <= {
            c.__name__ for c in seen
        }

    @pytest.mark.parametrize("event", SAMPLES, ids=_name)
    def test_an_unknown_field_in_any_object_of_any_event_is_refused_with_its_path(
        self, event: Event
    ) -> None:
        document = json.loads(encode_event(event))
        for where, node in _walk(document):
            if not isinstance(node, dict) or not node:
                continue
            node["date_of_birth"] = "2019-01-01"
            with pytest.raises(InvalidEvent) as info:
                decode_event(json.dumps(document).encode())
            del node["date_of_birth"]
            json_path = "$" + re.sub(r"/(\d+)", r"[\1]", where).replace("/", ".")
            assert info.value.field == f"{json_path}.date_of_birth"
            assert "no such field is allowed" in str(info.value)


class TestIntegersFitTheStores:
    def test_every_integer_field_of_every_event_is_bounded_within_a_signed_64_bit_integer(
        self,
    ) -> None:
        found: list[str] = []

        def visit(t: mi.Type, path: str) -> None:
            if isinstance(t, mi.IntType):
                assert t.ge is not None, f"{path} has no lower bound"
                assert t.le is not None, f"{path} has no upper bound"
                assert INT64[0] <= t.ge <= t.le <= INT64[1], path
                found.append(path)
            elif isinstance(t, mi.Metadata):
                visit(t.type, path)
            elif isinstance(t, mi.UnionType):
                for member in t.types:
                    visit(member, path)
            elif isinstance(t, mi.ListType):
                visit(t.item_type, f"{path}[]")
            elif isinstance(t, mi.StructType):
                for field in t.fields:
                    visit(field.type, f"{path}.{field.name}")

        for tag, cls in EVENT_TYPES.items():
            visit(mi.type_info(cls), tag)
        assert "LateRecordingExplained.event_sequence" in found
        assert "CaseClosed.schema_version" in found

    def test_the_largest_stream_sequence_is_the_largest_signed_64_bit_integer(self) -> None:
        late = _sample(schemas.LateRecordingExplained)
        top = _with(late, ["event_sequence"], 2**63 - 1)
        assert decode_event(json.dumps(top).encode())
        for value in (2**63, 2**64, 0):
            with pytest.raises(InvalidEvent) as info:
                decode_event(json.dumps(_with(late, ["event_sequence"], value)).encode())
            assert info.value.field == "$.event_sequence"


def _text_refused(event: Event, where: str) -> InvalidEvent:
    """The write path's refusal of ``event`` (text rules are checked on write, not decode)."""
    with pytest.raises(InvalidEvent) as info:
        schemas.validate(event)
    assert info.value.field == where
    return info.value


class TestTextHoldsNoControlCharacters:
    @pytest.mark.parametrize(
        ("value", "valid"),
        [
            ("Seen.\nWell.\tCalm.\r\n", True),
            ("Seen\x00", False),
            ("Seen\x1b[31m", False),
            ("Seen\x7f", False),
            ("Seen\x85", False),
            ("Seen ünd gut — ✓ 𝄞", True),
        ],
    )
    def test_free_text_may_hold_tab_and_newlines_but_no_other_control(
        self, value: str, valid: bool
    ) -> None:
        action = msgspec.structs.replace(_sample(schemas.ActionRecorded), note=value)
        document = json.loads(encode_event(action))
        assert VALIDATOR(json_schemas()["ActionRecorded"]).is_valid(document) is valid
        if valid:
            assert schemas.validate(action) == action
        else:
            error = _text_refused(action, "$.note")
            assert value not in str(error)
            assert "control character" in str(error)

    @pytest.mark.parametrize("value", ["minute\n4", "minute\t4", "minute 4\n", "a\x00", "a\x9f"])
    def test_single_line_text_holds_no_newline_tab_or_other_control(self, value: str) -> None:
        source = schemas.Source(kind=schemas.SourceKind.EMAIL, reference=value)
        action = msgspec.structs.replace(_sample(schemas.ActionRecorded), source=source)
        document = json.loads(encode_event(action))
        assert not VALIDATOR(json_schemas()["ActionRecorded"]).is_valid(document)
        _text_refused(action, "$.source.reference")

    def test_an_organisation_name_in_a_list_is_checked_with_its_index(self) -> None:
        established = _sample(schemas.PartnershipEstablished)
        stages = [*established.escalation_stages]
        stages.append(msgspec.structs.replace(stages[0], stage=len(stages) + 1, title="Chair\n"))
        changed = msgspec.structs.replace(established, escalation_stages=stages)
        _text_refused(changed, f"$.escalation_stages[{len(stages) - 1}].title")

    @pytest.mark.parametrize(
        ("char", "kind"),
        [
            ("\u202a", "a bidirectional control (U+202A)"),
            ("\u202e", "a bidirectional control (U+202E)"),
            ("\u2066", "a bidirectional control (U+2066)"),
            ("\u2069", "a bidirectional control (U+2069)"),
            ("\u2028", "a line or paragraph separator (U+2028)"),
            ("\u2029", "a line or paragraph separator (U+2029)"),
            ("\ufeff", "a byte order mark (U+FEFF)"),
            ("\ufdd0", "a noncharacter (U+FDD0)"),
            ("\ufdef", "a noncharacter (U+FDEF)"),
            ("\ufffe", "a noncharacter (U+FFFE)"),
            ("\uffff", "a noncharacter (U+FFFF)"),
            ("\U0001fffe", "a noncharacter (U+1FFFE)"),
            ("\U0008ffff", "a noncharacter (U+8FFFF)"),
            ("\U0010ffff", "a noncharacter (U+10FFFF)"),
        ],
    )
    @pytest.mark.parametrize("path", ["$.note", "$.source.reference"])
    def test_bidi_controls_separators_bom_and_noncharacters_are_refused_by_kind(
        self, char: str, kind: str, path: str
    ) -> None:
        value = f"Seen {char}by the school"
        action = _sample(schemas.ActionRecorded)
        if path == "$.note":
            action = msgspec.structs.replace(action, note=value)
        else:
            source = schemas.Source(kind=schemas.SourceKind.EMAIL, reference=value)
            action = msgspec.structs.replace(action, source=source)
        document = json.loads(encode_event(action))
        assert not VALIDATOR(json_schemas()["ActionRecorded"]).is_valid(document)
        error = _text_refused(action, path)
        assert f"holds {kind}; rule:" in str(error)
        assert "bidirectional override or isolate" in str(error)  # the rule
        assert "by the school" not in str(error)

    def test_the_text_patterns_refuse_exactly_the_refused_code_points(self) -> None:
        """Every code point but the surrogates, against both patterns (1.1 million each)."""
        refused = {point for first, last in REFUSED_IN_TEXT for point in range(first, last + 1)}
        line, text = re.compile(LINE_PATTERN), re.compile(TEXT_PATTERN)
        wrong = [
            (kind, hex(point))
            for point in range(0x110000)
            if not 0xD800 <= point <= 0xDFFF
            for kind, pattern, allowed in (
                ("line", line, point not in refused),
                ("text", text, point not in refused or point in (0x09, 0x0A, 0x0D)),
            )
            if bool(pattern.search(chr(point))) is not allowed
        ]
        assert wrong == []

    @pytest.mark.parametrize(
        "value",
        [
            "\u0915\u094d\u200d\u0937",  # Devanagari: a virama and a zero-width joiner
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: a non-joiner
            "\u200fseen at 10\u200e",  # right-to-left and left-to-right marks
            "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # an emoji sequence joined by ZWJ
        ],
    )
    def test_joiners_and_directional_marks_that_real_scripts_need_are_allowed(
        self, value: str
    ) -> None:
        source = schemas.Source(kind=schemas.SourceKind.EMAIL, reference=value)
        action = msgspec.structs.replace(_sample(schemas.ActionRecorded), note=value, source=source)
        document = json.loads(encode_event(action))
        assert VALIDATOR(json_schemas()["ActionRecorded"]).is_valid(document)
        assert schemas.validate(action) == action

    def test_stored_history_decodes_whatever_its_text_holds(self) -> None:
        """Text rules hold on write; replaying what was once accepted must never fail."""
        action = msgspec.structs.replace(_sample(schemas.ActionRecorded), note="Seen\x00")
        assert decode_event(encode_event(action)) == action

    def test_a_lone_surrogate_built_in_python_is_an_invalid_event_naming_its_path(
        self,
    ) -> None:
        broken = msgspec.structs.replace(_sample(schemas.ActionRecorded), note="Seen \ud800 alone")
        with pytest.raises(InvalidEvent) as info:
            schemas.validate(broken)
        assert info.value.field == "$.note"
        assert "surrogate" in str(info.value)
        assert info.value.__cause__ is None
        assert info.value.__context__ is None


def _sample(cls: type[E]) -> E:
    return next(event for event in SAMPLES if isinstance(event, cls))
