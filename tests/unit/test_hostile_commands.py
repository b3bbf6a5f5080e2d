"""For all hostile input, sent as JSON commands to ``Ledger.execute``: refused, nothing written.

The sibling of ``test_hostile_input.py``: the same targets and hostile values
(``hostile_support``), but each call is sent the way the HTTP API will send it: the
keyword arguments less ``recorded_by`` become a JSON command tagged with its type,
decoded by :func:`schemas.decode_command` and run by :meth:`Ledger.execute` with
``recorded_by`` as the caller's identity. A hostile value is refused by the decoder or
by ``execute``, with the same error type and field path as the keyword method's, and
nothing is written either way.
"""

from __future__ import annotations

from typing import Any

import pytest
from hostile_scenario import baseline, scenario
from hostile_support import (
    COMMANDS,
    Hostile,
    Target,
    as_json,
    command_type,
    get,
    hostile_call,
    hostile_values,
    is_personal,
    send,
    targets,
)
from ledger_scenario import FixedClock, written

import schemas
from ledger.application import Ledger
from ledger.errors import InvalidCommand, LedgerError


def _fresh() -> tuple[Ledger, dict[str, int]]:
    ledger = Ledger(clock=FixedClock())
    return ledger, scenario(ledger)


def _refused_as_json(target: Target, hostile: Hostile) -> None:
    ledger, sequences = _fresh()
    valid = baseline(target.command, sequences)
    call = hostile_call(target, valid, hostile)
    before = written(ledger)
    with pytest.raises(LedgerError) as info:
        send(ledger, target.command, call)
    error = info.value
    assert type(error) is hostile.error, f"{target} with {hostile.what}: {error!r}"
    # A lone surrogate is not Unicode text: its JSON is refused as malformed, which the
    # decoder cannot place at a field.
    in_body = target.path[0] != "recorded_by"
    field = None if in_body and _holds_surrogate(hostile.value) else target.field
    assert getattr(error, "field", None) == field, f"{target} with {hostile.what}: {error}"
    if is_personal(target) and isinstance(hostile.value, str):
        assert hostile.value not in str(error)
    assert written(ledger) == before, f"{target} with {hostile.what} wrote an event"
    send(ledger, target.command, valid)  # the ledger keeps working
    assert written(ledger) == before + 1


def _holds_surrogate(value: object) -> bool:
    return isinstance(value, str) and any("\ud800" <= c <= "\udfff" for c in value)


def _cases() -> list[Any]:
    ledger, sequences = _fresh()
    out = []
    for target in targets():
        base = (
            None
            if target.path[-1] == "name"
            else get(baseline(target.command, sequences), target.path)
        )
        for hostile in hostile_values(target, base):
            out.append(pytest.param(target, hostile, id=f"{target}-{hostile.what}"))
    ledger.close()
    return out


class TestEveryCommandIsExecutedFromJson:
    @pytest.mark.parametrize("method", COMMANDS)
    def test_the_valid_call_as_json_records_what_the_keyword_method_records(
        self, method: str
    ) -> None:
        by_keyword, sequences = _fresh()
        kwargs = baseline(method, sequences)
        expected = getattr(by_keyword, method)(**kwargs)
        by_command, sequences = _fresh()
        command = schemas.decode_command(as_json(method, baseline(method, sequences)))
        assert type(command) is command_type(method)
        receipt = by_command.execute(command, recorded_by=kwargs["recorded_by"])
        assert receipt == expected
        assert (
            by_command.recorder.select_notifications(start=receipt.sequence, limit=1)[0].state
            == by_keyword.recorder.select_notifications(start=expected.sequence, limit=1)[0].state
        )


class TestEveryHostileValueSentAsJsonIsRefused:
    @pytest.mark.parametrize(("target", "hostile"), _cases())
    def test_each_hostile_value_of_each_field_of_each_command(
        self, target: Target, hostile: Hostile
    ) -> None:
        _refused_as_json(target, hostile)


class TestWhatIsNotACommand:
    def test_a_struct_that_is_not_a_command_is_refused_naming_the_type(self) -> None:
        ledger, _ = _fresh()
        before = written(ledger)
        with pytest.raises(InvalidCommand) as info:
            ledger.execute(schemas.Source(kind=schemas.SourceKind.EMAIL), recorded_by={})  # type: ignore[arg-type]
        assert info.value.field == "type"
        assert written(ledger) == before
