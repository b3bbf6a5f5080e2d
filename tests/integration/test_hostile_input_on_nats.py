"""Hostile input against a real stream: refused before the wire, and delivery and views run on.

A representative subset of the in-memory sweeps (``tests/unit/test_hostile_input.py``,
and ``test_hostile_commands.py`` for the same values sent as JSON commands to ``execute``):
for every command, an identifier it takes with a trailing newline; the values issue 8
found stopping delivery or the views (an agency ``nl\\n`` joining a case, a stream
sequence of 2**63); an unknown field, control characters and a lone surrogate. Each
is refused with a LedgerError and leaves the stream's last sequence where it was;
afterwards delivery and the views catch up, and take the valid events that follow.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec.inspect as mi
import nats
import pytest
from hostile_scenario import CASE, PARTNERSHIP, baseline, scenario
from hostile_support import (
    COMMANDS,
    Hostile,
    Target,
    as_json,
    get,
    hostile_call,
    send,
    strip,
    targets,
)
from ledger_scenario import CHILD, HEALTH, LA, FixedClock

import schemas
from consumers.manager import DeliveryPolicy, delivery_runner
from ledger.application import Ledger
from ledger.errors import InvalidCommand, LedgerError, RuleViolation
from projections.catalogue import Views
from projections.sqlite import SQLiteViewStore
from runtime.settings import Settings
from schemas.wire import consumer_name, delivery_stream

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(nats_url: str, stream_name: str, subject_prefix: str) -> Settings:
    return Settings(
        nats_url=nats_url, stream=stream_name, subject_prefix=subject_prefix, timeout_s=2.0
    )


@pytest.fixture
def ledger(settings: Settings, nats_url: str) -> Iterator[Ledger]:
    app = Ledger(env=settings.persistence_env(nats_url), clock=FixedClock())
    yield app
    app.close()


def _last(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


def _first_identifier(command: str) -> Target:
    """The first identifier-typed value ``command`` takes (the partnership, usually)."""
    return next(
        t
        for t in targets()
        if t.command == command
        and isinstance(strip(t.type), mi.StrType)
        and getattr(strip(t.type), "pattern", None) == schemas.ID_PATTERN
    )


def _subset(sequences: dict[str, int]) -> list[tuple[Target, Hostile]]:
    """An identifier with a trailing newline for every command, and issue 8's own cases."""
    every = {str(t): t for t in targets()}
    out = []
    for command in COMMANDS:
        target = _first_identifier(command)
        base = get(baseline(command, sequences), target.path)
        out.append((target, Hostile(base + "\n", InvalidCommand, "a trailing newline")))
    out += [
        (every["join_case:agency"], Hostile("nl\n", InvalidCommand, "issue 8's agency")),
        (every["register_agency:agency"], Hostile("nl\n", InvalidCommand, "issue 8's agency")),
        (every["open_case:case"], Hostile("c9\n", InvalidCommand, "a subject with a newline")),
        (every["explain_late_recording:event_sequence"], Hostile(2**63, InvalidCommand, "2**63")),
        (
            every["explain_late_recording:event_sequence"],
            Hostile(2**63 - 1, RuleViolation, "past the stream's end"),
        ),
        (
            every["explain_late_recording:event_sequence"],
            Hostile(1, RuleViolation, "the partnership's event"),
        ),
        (every["open_case:children[0].name"], Hostile("Jane Smith", InvalidCommand, "a name")),
        (every["open_case:children"], Hostile(None, InvalidCommand, "None")),
        (every["record_action:note"], Hostile("Seen\x00", InvalidCommand, "a NUL")),
        (every["record_action:note"], Hostile("Seen \ud800", InvalidCommand, "a surrogate")),
        (
            every["notify_serious_incident:became_aware_at"],
            Hostile(dt.datetime(2099, 1, 1, tzinfo=dt.UTC), RuleViolation, "in 2099"),
        ),
    ]
    return out


def _delivered(url: str, settings: Settings, agency: str) -> list[int]:
    """The ledger sequences waiting for ``agency``, acknowledged."""

    async def pull() -> list[int]:
        nc = await nats.connect(url)
        try:
            sub = await nc.jetstream().pull_subscribe_bind(
                consumer_name(agency), stream=delivery_stream(settings.stream)
            )
            out: list[int] = []
            while True:
                try:
                    msgs = await sub.fetch(50, timeout=0.5)
                except nats.errors.TimeoutError:
                    return out
                for msg in msgs:
                    assert msg.headers is not None
                    out.append(int(msg.headers["Ledger-Source-Sequence"]))
                    await msg.ack()
        finally:
            await nc.close()

    return asyncio.run(pull())


class TestHostileInputOnTheStream:
    def test_hostile_values_are_refused_and_delivery_and_the_views_keep_running(
        self, ledger: Ledger, settings: Settings, nats_url: str, tmp_path: Path
    ) -> None:
        sequences = scenario(ledger)
        cases = _subset(sequences)
        assert len(cases) > len(COMMANDS)
        last = _last(ledger)
        for target, hostile in cases:
            call: dict[str, Any] = hostile_call(
                target, baseline(target.command, sequences), hostile
            )
            with pytest.raises(LedgerError) as info:
                getattr(ledger, target.command)(**call)
            assert type(info.value) is hostile.error, f"{target}, {hostile.what}: {info.value!r}"
            assert getattr(info.value, "field", None) == target.field, str(info.value)
            assert _last(ledger) == last, f"{target}, {hostile.what} reached the stream"

        store = SQLiteViewStore(tmp_path / "delivery.sqlite")
        views = Views(SQLiteViewStore(tmp_path / "views.sqlite"))
        policy = DeliveryPolicy(backoff_s=(0.5,), max_deliver=2)
        try:
            delivery = delivery_runner(
                ledger,
                store,
                policy,
                stream=settings.stream,
                subject_prefix=settings.subject_prefix,
            )
            delivery.catch_up()
            views.runner(ledger).catch_up()
            before = _delivered(nats_url, settings, "health")
            assert before  # health is party to c-1 and was delivered its events

            late = ledger.explain_late_recording(
                partnership=PARTNERSHIP,
                case=CASE,
                recorded_by=LA,
                event_sequence=sequences["case_opened"],
                reason="System outage.",
            )
            joined = ledger.join_case(
                partnership=PARTNERSHIP, case=CASE, recorded_by=LA, agency="school"
            )
            delivery.catch_up()
            views.runner(ledger).catch_up()
        finally:
            store.close()

        try:
            entries = views.chronology.chronology(PARTNERSHIP, CASE).entries
        finally:
            views.close()
        by_sequence = {entry.sequence: entry for entry in entries}
        assert by_sequence[sequences["case_opened"]].late_explained
        assert late.sequence in by_sequence
        assert joined.sequence in by_sequence
        after = _delivered(nats_url, settings, "health")
        assert after == [late.sequence, joined.sequence]
        assert _delivered(nats_url, settings, "school") == [joined.sequence]

    def test_the_same_values_sent_as_json_commands_to_execute_are_refused_before_the_wire(
        self, ledger: Ledger
    ) -> None:
        sequences = scenario(ledger)
        last = _last(ledger)
        for target, hostile in _subset(sequences):
            call = hostile_call(target, baseline(target.command, sequences), hostile)
            with pytest.raises(LedgerError) as info:
                send(ledger, target.command, call)
            assert type(info.value) is hostile.error, f"{target}, {hostile.what}: {info.value!r}"
            # A lone surrogate is not Unicode: its JSON is malformed, at no field.
            field = None if hostile.what == "a surrogate" else target.field
            assert getattr(info.value, "field", None) == field, str(info.value)
            assert _last(ledger) == last, f"{target}, {hostile.what} reached the stream"
        valid = baseline("join_case", sequences) | {"agency": "school"}
        command = schemas.decode_command(as_json("join_case", valid))
        receipt = ledger.execute(command, recorded_by=valid["recorded_by"])
        assert receipt.sequence == last + 1
        assert _last(ledger) == last + 1

    def test_a_sequence_past_the_streams_end_is_looked_up_on_the_stream_and_refused(
        self, ledger: Ledger
    ) -> None:
        scenario(ledger)
        last = _last(ledger)
        for seq in (last + 1, 2**63 - 1):
            with pytest.raises(RuleViolation) as info:
                ledger.explain_late_recording(
                    partnership=PARTNERSHIP,
                    case=CASE,
                    recorded_by=HEALTH,
                    event_sequence=seq,
                    reason="x",
                )
            assert info.value.field == "event_sequence"
        assert _last(ledger) == last
        opened = ledger.case_events(PARTNERSHIP, CASE)[0][1]
        assert isinstance(opened, schemas.CaseOpened)
        assert opened.children[0].child == CHILD
