"""The commands as data: their contract with the events they record, their decoding, the docs.

Each command in :mod:`schemas.commands` is the public contract of a call (the HTTP API's
body, the CLI's, the keyword method's); these tests keep it from drifting from the event
it records, from the keyword method that builds it, and from the catalogue in
``docs/events.md``.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from hostile_scenario import baseline, scenario
from hostile_support import COMMANDS, as_json
from ledger_scenario import FixedClock, written

import schemas
from ledger._commands._routes import ROUTES
from ledger.application import Ledger
from schemas import InvalidCommand
from schemas.commands import COMMAND_TYPES, DEFAULT_SOURCE, BaseCommand

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"
BEGIN, END = "<!-- commands:begin -->", "<!-- commands:end -->"

#: Event fields the ledger stamps itself, never a command's: the caller's identity is
#: ``recorded_by``, the clock ``recorded_at``, the type's version ``schema_version``.
STAMPED = frozenset({"recorded_at", "recorded_by", "schema_version"})
#: The method name of each command: its tag in snake case.
METHODS = {re.sub(r"(?<!^)(?=[A-Z])", "_", tag).lower(): cls for tag, cls in COMMAND_TYPES.items()}


def _fields(cls: type[msgspec.Struct]) -> dict[str, mi.Field]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return {field.name: field for field in info.fields}


def _without_unset(t: mi.Type) -> mi.Type:
    if isinstance(t, mi.UnionType):
        members = tuple(m for m in t.types if not isinstance(m, mi.UnsetType))
        return members[0] if len(members) == 1 else mi.UnionType(types=members)
    return t


class TestEachCommandMatchesTheEventItRecords:
    @pytest.mark.parametrize("tag", sorted(COMMAND_TYPES))
    def test_its_fields_are_the_events_fields_but_the_stamped_ones_with_the_same_types(
        self, tag: str
    ) -> None:
        cls = COMMAND_TYPES[tag]
        event = _fields(cls.records)
        command = _fields(cls)
        ident = cls.records.aggregate_kind
        assert set(command) - {"partnership", ident} == set(event) - STAMPED
        for name, field in command.items():
            if name in ("partnership", ident) and name not in event:
                id_type = getattr(schemas, f"{name.title()}Id")
                assert field.type == mi.type_info(id_type), f"{tag}.{name}"
                assert field.required, f"{tag}.{name}"
                continue
            expected = event[name].type
            if name in cls.by_recorder or name == "occurred_at":  # optional here, not there
                assert not field.required, f"{tag}.{name}"
                assert _without_unset(field.type) == expected, f"{tag}.{name}"
            else:
                assert field.type == expected, f"{tag}.{name}"
                if not event[name].required:  # optional there: optional alike here
                    assert not field.required, f"{tag}.{name}"
                    assert field.default == event[name].default, f"{tag}.{name}"

    @pytest.mark.parametrize("tag", sorted(COMMAND_TYPES))
    def test_its_tag_is_its_name_and_it_is_frozen_and_refuses_unknown_fields(
        self, tag: str
    ) -> None:
        cls = COMMAND_TYPES[tag]
        config = cls.__struct_config__
        assert cls.__name__ == tag
        assert config.tag == tag
        assert config.tag_field == "type"
        assert config.frozen
        assert config.forbid_unknown_fields
        assert not tag.endswith("ed")  # imperative, not an event's past tense

    def test_each_event_type_but_none_is_recorded_by_exactly_one_command(self) -> None:
        recorded = sorted(schemas.tag_of(cls.records) for cls in COMMAND_TYPES.values())
        assert recorded == sorted(schemas.EVENT_TYPES)

    def test_the_dispatch_table_routes_every_command(self) -> None:
        assert set(ROUTES) == set(COMMAND_TYPES.values())
        for cls, route in ROUTES.items():
            assert route.event is cls.records
            assert set(route.by_recorder) <= set(route.fields)


class TestEachKeywordMethodBuildsItsCommand:
    def test_every_keyword_method_has_a_command_and_every_command_a_method(self) -> None:
        assert set(METHODS) == set(COMMANDS)

    @pytest.mark.parametrize("method", COMMANDS)
    def test_its_parameters_and_defaults_are_the_commands_fields_and_defaults(
        self, method: str
    ) -> None:
        cls = METHODS[method]
        parameters = inspect.signature(getattr(Ledger, method)).parameters
        fields = _fields(cls)
        assert set(parameters) - {"self", "recorded_by"} == set(fields)
        for name, field in fields.items():
            default = parameters[name].default
            if field.required:
                assert default is inspect.Parameter.empty, f"{method}({name})"
            elif name == "occurred_at":
                assert default is None
            else:  # msgspec reports an UNSET default as no default
                given = msgspec.UNSET if field.default is msgspec.NODEFAULT else field.default
                assert default == given, f"{method}({name})"

    @pytest.mark.parametrize("method", COMMANDS)
    def test_it_records_the_event_of_its_command(self, method: str) -> None:
        ledger = Ledger(clock=FixedClock())
        receipt = getattr(ledger, method)(**baseline(method, scenario(ledger)))
        assert receipt.event_type == schemas.tag_of(METHODS[method].records)


class TestDecodingACommand:
    def _valid(self, method: str = "record_action") -> dict[str, Any]:
        ledger = Ledger(clock=FixedClock())
        body: dict[str, Any] = json.loads(as_json(method, baseline(method, scenario(ledger))))
        return body

    @pytest.mark.parametrize(
        ("path", "field"),
        [
            ((), "name"),
            (("source",), "source.name"),
        ],
    )
    def test_an_unknown_field_is_refused_naming_its_path(
        self, path: tuple[str, ...], field: str
    ) -> None:
        body = self._valid()
        holder = body
        for step in path:
            holder = holder[step]
        holder["name"] = "Jane Smith"
        with pytest.raises(InvalidCommand) as info:
            schemas.decode_command(json.dumps(body).encode())
        assert info.value.field == field
        assert "unknown field" in str(info.value)
        assert "Jane Smith" not in str(info.value)

    def test_an_unknown_field_in_a_list_item_is_refused_naming_its_index(self) -> None:
        body = self._valid("open_case")
        body["children"].append({**body["children"][0], "name": "Jane Smith"})
        with pytest.raises(InvalidCommand) as info:
            schemas.decode_command(json.dumps(body).encode())
        assert info.value.field == "children[1].name"

    def test_recorded_by_in_the_body_is_refused_it_comes_from_the_callers_identity(
        self,
    ) -> None:
        body = self._valid()
        body["recorded_by"] = {"agency": "la", "actor": "p-1"}
        with pytest.raises(InvalidCommand) as info:
            schemas.decode_command(json.dumps(body).encode())
        assert info.value.field == "recorded_by"

    def test_an_unknown_type_or_none_is_refused_naming_the_type_field(self) -> None:
        for body in ({**self._valid(), "type": "ActionRecorded"}, {"partnership": "p"}):
            with pytest.raises(InvalidCommand) as info:
                schemas.decode_command(json.dumps(body).encode())
            assert info.value.field == "type"
            assert "the command tag: one of the commands" in str(info.value)

    def test_a_missing_field_is_refused_naming_it(self) -> None:
        body = self._valid()
        del body["action"]
        with pytest.raises(InvalidCommand) as info:
            schemas.decode_command(json.dumps(body).encode())
        assert info.value.field == "action"
        assert "RecordAction" in str(info.value)

    def test_decoding_as_one_type_refuses_another(self) -> None:
        with pytest.raises(InvalidCommand):
            schemas.decode_command_as(json.dumps(self._valid()).encode(), schemas.commands.OpenCase)

    def test_a_minimal_command_takes_the_defaults_of_the_keyword_method(self) -> None:
        command = schemas.decode_command(
            b'{"type": "RecordAction", "partnership": "p", "case": "c", "action": "home_visit"}'
        )
        assert command.source == DEFAULT_SOURCE
        assert command.occurred_at is msgspec.UNSET

    def test_an_invalid_command_is_a_ledger_error_and_a_value_error(self) -> None:
        assert issubclass(InvalidCommand, schemas.LedgerError)
        assert issubclass(InvalidCommand, ValueError)
        from ledger.errors import InvalidCommand as LedgerInvalidCommand

        assert LedgerInvalidCommand is InvalidCommand


class TestExecutingACommand:
    def test_the_recorder_agency_fills_a_by_agency_not_given(self) -> None:
        ledger = Ledger(clock=FixedClock())
        sequences = scenario(ledger)
        kwargs = baseline("accept_recommendation", sequences)
        body = json.loads(as_json("accept_recommendation", kwargs))
        del body["by_agency"]
        before = written(ledger)
        command = schemas.decode_command(json.dumps(body).encode())
        receipt = ledger.execute(command, recorded_by=kwargs["recorded_by"])
        assert receipt.sequence == before + 1
        stored = list(ledger.events.get(receipt.aggregate_id))[-1]
        assert stored.fact.by_agency == kwargs["recorded_by"]["agency"]


def catalogue() -> str:
    """The command catalogue of ``docs/events.md``, from the command types themselves."""
    lines = [
        "| command | records | aggregate | Python method | defaults to the recording agency |",
        "|---|---|---|---|---|",
    ]
    for method, cls in sorted(METHODS.items(), key=lambda m: _order(m[1])):
        tag = cls.__struct_config__.tag
        recorder = ", ".join(f"`{f}`" for f in cls.by_recorder) or "-"
        lines.append(
            f"| `{tag}` | `{schemas.tag_of(cls.records)}` | {cls.records.aggregate_kind} "
            f"| `{method}` | {recorder} |"
        )
    return "\n".join(lines)


def _order(cls: type[BaseCommand]) -> int:
    return list(schemas.EVENT_TYPES.values()).index(cls.records)


class TestTheCommandCatalogue:
    def test_docs_events_md_lists_every_command_and_the_event_it_records(self) -> None:
        text = DOCS.read_text()
        assert BEGIN in text, f"add {BEGIN} ... {END} to {DOCS}"
        assert END in text, f"add {BEGIN} ... {END} to {DOCS}"
        found = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
        assert found == catalogue(), f"replace the table in {DOCS} with:\n{catalogue()}"
