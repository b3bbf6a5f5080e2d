"""A command type as a form, and a form's values as the command's JSON (no I/O)."""

from __future__ import annotations

import msgspec
import pytest

from interfaces.http._form_pages import FORMS
from interfaces.http._forms import fields_of, to_json
from ledger.errors import InvalidCommand
from schemas import COMMAND_TYPES, decode_command_as
from schemas.commands.case import RecordAction
from schemas.commands.challenge import RespondToChallenge
from schemas.commands.review import IssueRecommendation


class TestFields:
    @pytest.mark.parametrize("tag", FORMS)
    def test_every_form_is_made_from_its_command_type_without_a_template_of_its_own(
        self, tag: str
    ) -> None:
        cls = COMMAND_TYPES[tag]
        made = fields_of(cls)
        names = {f.name for f in made}
        assert names.isdisjoint({"partnership", "source", *cls.by_recorder})
        info = msgspec.inspect.type_info(cls)
        assert isinstance(info, msgspec.inspect.StructType)
        required = {f.name for f in info.fields if f.required} - {"partnership"}
        assert {f.name for f in made if f.required} == required
        assert all(f.label and f.hint for f in made)

    def test_types_become_their_inputs(self) -> None:
        kinds = {f.name: f.kind for f in fields_of(RecordAction)}
        assert kinds["action"] == "select"
        assert kinds["seen"] == "yesno"
        assert kinds["note"] == "textarea"
        assert kinds["occurred_at"] == "datetime-local"
        assert {f.name: f.kind for f in fields_of(IssueRecommendation)}["due"] == "date"
        stage = next(f for f in fields_of(RespondToChallenge) if f.name == "stage")
        assert (stage.kind, stage.minimum, stage.maximum) == ("number", 1, 5)


class TestValues:
    def test_a_london_time_in_summer_is_an_instant_an_hour_ahead_of_utc(self) -> None:
        data = to_json(
            RecordAction,
            "p",
            {"case": "c1", "action": "home_visit", "occurred_at": "2025-07-01T09:30"},
        )
        command = decode_command_as(data, RecordAction)
        assert command.occurred_at.isoformat() == "2025-07-01T09:30:00+01:00"

    def test_empty_fields_are_left_out_and_yes_no_are_booleans(self) -> None:
        data = to_json(
            RecordAction, "p", {"case": "c1", "action": "home_visit", "seen": "no", "note": " "}
        )
        command = decode_command_as(data, RecordAction)
        assert command.seen is False
        assert command.note is msgspec.UNSET

    @pytest.mark.parametrize(
        ("field", "value"), [("stage", "two"), ("stage", "9"), ("challenge", "")]
    )
    def test_a_value_that_is_not_one_is_refused_by_the_apis_decoder_naming_the_field(
        self, field: str, value: str
    ) -> None:
        posted = {"challenge": "ch1", "stage": "1", "response": "r", field: value}
        with pytest.raises(InvalidCommand) as refused:
            decode_command_as(to_json(RespondToChallenge, "p", posted), RespondToChallenge)
        assert refused.value.field == field
