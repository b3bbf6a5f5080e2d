"""For all hostile input: every command refuses it with a LedgerError and writes nothing.

The commands, their parameters and the type of every value they take come from the
command methods and the event types themselves (``hostile_support``), so a new command
or field is swept without a change here. Each refusal must be the right error, name the
value's path, quote no free text, leave the stream's last sequence where it was, and
leave the ledger working: the valid call is accepted right after.
"""

from __future__ import annotations

from typing import Any

import msgspec.inspect as mi
import pytest
from hostile_scenario import baseline, has_baseline, scenario
from hostile_support import (
    COMMANDS,
    MULTILINE_ALLOWED,
    ROUTING,
    UNKNOWN,
    Hostile,
    Target,
    event_type_of,
    get,
    hostile_call,
    hostile_values,
    is_personal,
    multiline,
    parameters,
    strip,
    targets,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from ledger_scenario import FixedClock, written

from ledger.application import Ledger
from ledger.errors import InvalidCommand, LedgerError

TARGETS = list(targets())
TEXT_TARGETS = [
    t for t in TARGETS if isinstance(strip(t.type), mi.StrType | mi.EnumType | mi.LiteralType)
]
INT_TARGETS = [t for t in TARGETS if isinstance(strip(t.type), mi.IntType)]
UNKNOWN_TARGETS = [t for t in TARGETS if t.type is UNKNOWN]


def _fresh() -> tuple[Ledger, dict[str, int]]:
    ledger = Ledger(clock=FixedClock())
    return ledger, scenario(ledger)


def _value_at(target: Target, kwargs: dict[str, Any]) -> Any:
    if target.path[-1] == "name":  # the unknown field: no valid value to start from
        return None
    return get(kwargs, target.path)


def _refused(target: Target, hostile: Hostile) -> None:
    """The hostile call is refused as it must be, and the valid call then succeeds."""
    ledger, sequences = _fresh()
    valid = baseline(target.command, sequences)
    call = hostile_call(target, valid, hostile)
    before = written(ledger)
    with pytest.raises(LedgerError) as info:
        getattr(ledger, target.command)(**call)
    error = info.value
    assert type(error) is hostile.error, f"{target} with {hostile.what}: {error!r}"
    assert getattr(error, "field", None) == target.field, f"{target} with {hostile.what}: {error}"
    if is_personal(target) and isinstance(hostile.value, str):
        assert hostile.value not in str(error)
    assert written(ledger) == before, f"{target} with {hostile.what} wrote an event"
    getattr(ledger, target.command)(**valid)  # the ledger keeps working
    assert written(ledger) == before + 1


def _cases() -> list[Any]:
    ledger, sequences = _fresh()
    out = []
    for target in TARGETS:
        base = _value_at(target, baseline(target.command, sequences))
        for hostile in hostile_values(target, base):
            out.append(pytest.param(target, hostile, id=f"{target}-{hostile.what}"))
    ledger.close()
    return out


class TestTheSweepCoversEveryCommand:
    def test_every_command_method_of_the_ledger_is_swept(self) -> None:
        public = {
            name
            for name in dir(Ledger)
            if not name.startswith("_") and hasattr(getattr(Ledger, name), "__code__")
        }
        # ``execute`` takes any command struct: it is swept in test_hostile_commands.py.
        commands = {name for name in public if "recorded_by" in parameters(name)} - {"execute"}
        assert commands == set(COMMANDS)
        assert len(COMMANDS) == 32

    @pytest.mark.parametrize("command", COMMANDS)
    def test_every_command_has_a_valid_call_with_every_parameter_given(self, command: str) -> None:
        assert has_baseline(command), f"add {command} to hostile_support._BASELINES"
        ledger, sequences = _fresh()
        kwargs = baseline(command, sequences)
        assert set(kwargs) == set(parameters(command))
        before = written(ledger)
        receipt = getattr(ledger, command)(**kwargs)
        assert receipt.sequence == before + 1

    @pytest.mark.parametrize("command", COMMANDS)
    def test_every_parameter_but_the_routing_ones_is_a_field_of_the_event(
        self, command: str
    ) -> None:
        fields = set(event_type_of(command).__struct_fields__)
        assert set(parameters(command)) - ROUTING <= fields


class TestEveryHostileValueIsRefused:
    @pytest.mark.parametrize(("target", "hostile"), _cases())
    def test_each_hostile_value_of_each_field_of_each_command(
        self, target: Target, hostile: Hostile
    ) -> None:
        _refused(target, hostile)


class TestForAllHostileValues:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(target=st.sampled_from(TEXT_TARGETS), data=st.data())
    def test_a_control_character_or_lone_surrogate_anywhere_in_any_text_is_refused(
        self, target: Target, data: st.DataObject
    ) -> None:
        """Drawn anywhere in a valid value, not only where the table above puts them."""
        ledger, sequences = _fresh()
        base = str(_value_at(target, baseline(target.command, sequences)))
        ledger.close()
        allowed = MULTILINE_ALLOWED if multiline(target) else frozenset()
        bad = data.draw(
            st.characters(codec=None, categories=("Cc", "Cs")).filter(lambda c: c not in allowed)
        )
        at = data.draw(st.integers(0, len(base)))
        _refused(target, Hostile(base[:at] + bad + base[at:], InvalidCommand, "drawn"))

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(target=st.sampled_from(INT_TARGETS), data=st.data())
    def test_any_integer_outside_its_bounds_is_refused(
        self, target: Target, data: st.DataObject
    ) -> None:
        t = strip(target.type)
        assert isinstance(t, mi.IntType)
        assert t.ge is not None
        assert t.le is not None
        value = data.draw(st.integers(max_value=t.ge - 1) | st.integers(min_value=t.le + 1))
        _refused(target, Hostile(value, InvalidCommand, "out of bounds"))

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        target=st.sampled_from(UNKNOWN_TARGETS),
        name=st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True),
        value=st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    )
    def test_any_unknown_field_in_any_object_is_refused_with_its_path(
        self, target: Target, name: str, value: object
    ) -> None:
        known = strip(_parent_type(target))
        assume(not (isinstance(known, mi.StructType) and name in known.cls.__struct_fields__))
        renamed = Target(target.command, (*target.path[:-1], name), target.type)
        _refused(renamed, Hostile(value, InvalidCommand, "an unknown field"))


def _parent_type(target: Target) -> mi.Type:
    """The type of the object an unknown-field target sits in."""
    parent = target.path[:-1]
    return next(t.type for t in TARGETS if t.command == target.command and t.path == parent)
