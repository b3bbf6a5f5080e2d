"""The whole write path, Ledger -> aggregates -> NATS persistence, against a real server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import schemas
from ledger.application import Ledger
from ledger.errors import (
    AggregateNotFound,
    ConcurrencyConflict,
    InvalidCommand,
    LedgerError,
    RuleViolation,
)
from runtime.embedded import EmbeddedNats
from runtime.settings import Settings

P = "northshire"
LA = {"agency": "la", "actor": "act_sw-000001"}
POLICE = {"agency": "police", "actor": "act_pc-000001"}
CHILD = "ch_0123456789abcdef"


def _ledger(url: str, stream: str, prefix: str, **extra: str) -> Ledger:
    env = Settings(stream=stream, subject_prefix=prefix, timeout_s=1.0).persistence_env(url)
    env.update(extra)
    return Ledger(env=env)


def _partnership_with_case(ledger: Ledger, case: str = "c1") -> None:
    ledger.establish_partnership(
        partnership=P,
        recorded_by=LA,
        name="Northshire",
        nation="england",
        escalation_stages=[
            {"stage": 1, "title": "Practitioners", "response_working_days": 5},
            {"stage": 2, "title": "Managers", "response_working_days": 5},
        ],
    )
    for agency, kind in (("la", "local_authority"), ("police", "police")):
        ledger.register_agency(
            partnership=P,
            recorded_by=LA,
            agency=agency,
            name=f"{kind} agency",
            kind=kind,
            role="statutory_partner",
        )
    ledger.open_case(
        partnership=P,
        case=case,
        recorded_by=LA,
        children=[{"child": CHILD, "age_band": "5_9"}],
        lead_agency="la",
    )


@pytest.fixture
def ledger(nats_url: str, stream_name: str, subject_prefix: str) -> Iterator[Ledger]:
    app = _ledger(nats_url, stream_name, subject_prefix)
    _partnership_with_case(app)
    yield app
    app.close()


def _count(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


class TestBadInputWritesNothing:
    @pytest.mark.parametrize(
        ("kwargs", "error", "names"),
        [
            ({"partnership": "nowhere"}, AggregateNotFound, "nowhere"),
            ({"case": "c-unknown"}, AggregateNotFound, "c-unknown"),
            (
                {"recorded_by": {"agency": "stranger", "actor": "act_x-000001"}},
                RuleViolation,
                "stranger",
            ),
            ({"seen": "yes"}, InvalidCommand, "seen"),
            ({"note": "x" * 2001}, InvalidCommand, "note"),
            ({"child": "Jane Smith"}, InvalidCommand, "child"),
            ({"recorded_by": {"agency": "la", "actor": "Jane Smith"}}, InvalidCommand, "actor"),
            ({"action": "tea_and_biscuits"}, InvalidCommand, "action"),
        ],
    )
    def test_a_bad_command_raises_a_typed_error_naming_the_field_and_the_stream_is_unchanged(
        self, ledger: Ledger, kwargs: dict[str, Any], error: type[LedgerError], names: str
    ) -> None:
        before = _count(ledger)
        command: dict[str, Any] = {
            "partnership": P,
            "case": "c1",
            "recorded_by": LA,
            "action": "child_seen",
            "child": CHILD,
            "seen": True,
        }
        command.update(kwargs)
        with pytest.raises(error, match=names):
            ledger.record_action(**command)
        assert _count(ledger) == before

    def test_an_invalid_transition_is_refused_and_the_stream_is_unchanged(
        self, ledger: Ledger
    ) -> None:
        ledger.close_case(partnership=P, case="c1", recorded_by=LA, reason="no_further_action")
        before = _count(ledger)
        with pytest.raises(RuleViolation, match="closed"):
            ledger.record_action(
                partnership=P, case="c1", recorded_by=LA, action="home_visit", child=CHILD
            )
        assert _count(ledger) == before


class TestConcurrentWriters:
    def test_two_writers_from_the_same_version_one_succeeds_and_the_other_conflicts(
        self, ledger: Ledger, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        other = _ledger(nats_url, stream_name, subject_prefix)
        try:
            ident = f"{P}.case.c1"
            mine, theirs = ledger.repository.get(ident), other.repository.get(ident)
            assert mine.version == theirs.version
            version = mine.version
            first = ledger.record_action(
                partnership=P, case="c1", recorded_by=LA, action="home_visit", child=CHILD
            )
            assert first.version == version + 1
            stale = other.repository.get(ident)
            assert stale.version == version  # the other writer's cache still holds the old version
            stale.record(
                schemas.ActionRecorded(
                    occurred_at=first.recorded_at,
                    recorded_at=first.recorded_at,
                    recorded_by=schemas.RecordedBy(**LA),
                    source=schemas.Source(kind=schemas.SourceKind.CASE_RECORD),
                    action=schemas.ActionKind.CHILD_SEEN,
                )
            )
            with pytest.raises(ConcurrencyConflict):
                other.save(stale)
            stored = ledger.case_events(P, "c1")
            assert [v for v, _ in stored][-1] == version + 1
            assert stored[-1][1].action == schemas.ActionKind.HOME_VISIT  # not overwritten
        finally:
            other.close()


@pytest.mark.slow
class TestServerCrash:
    def test_after_kill_9_every_returned_command_is_stored_and_none_twice(
        self, fresh_server: EmbeddedNats, stream_name: str, subject_prefix: str
    ) -> None:
        app = _ledger(fresh_server.url, stream_name, subject_prefix, NATS_WRITE_RETRY_S="1")
        _partnership_with_case(app)
        returned: list[tuple[int, int]] = []  # (counter, sequence)
        failed: list[int] = []
        stop = threading.Event()

        def write() -> None:
            counter = 0
            while not stop.is_set() and counter < 2000:
                counter += 1
                try:
                    receipt = app.record_action(
                        partnership=P,
                        case="c1",
                        recorded_by=LA,
                        action="home_visit",
                        child=CHILD,
                        note=f"visit {counter}",
                    )
                except LedgerError:
                    failed.append(counter)
                    # as a client would, before trying again: while the server is down a
                    # command fails at once reading its partnership (the watch of other
                    # processes' writes is down), not after the write's retry window
                    stop.wait(0.05)
                else:
                    returned.append((counter, receipt.sequence))

        def wait_until(condition: Callable[[], bool], what: str) -> None:
            give_up = time.monotonic() + 30
            while not condition():
                assert writer.is_alive(), f"the writer died before {what}"
                assert time.monotonic() < give_up, f"gave up waiting for {what}"
                stop.wait(0.01)

        writer = threading.Thread(target=write)
        writer.start()
        wait_until(lambda: len(returned) >= 50, "50 commands returned")
        fresh_server.kill()
        wait_until(lambda: bool(failed), "a command failed")
        fresh_server.restart()
        after = len(returned)
        wait_until(lambda: len(returned) > after, "a command returned after the restart")
        stop.set()
        writer.join(timeout=30)
        app.close()

        reader = _ledger(fresh_server.url, stream_name, subject_prefix)
        try:
            notes = [
                (version, fact.note)
                for version, fact in reader.case_events(P, "c1")
                if isinstance(fact, schemas.ActionRecorded)
            ]
        finally:
            reader.close()
        stored = [int(str(note).split()[1]) for _, note in notes]
        assert len(stored) == len(set(stored)), "a command was stored twice"
        assert {c for c, _ in returned} <= set(stored), "a command that returned is missing"
        assert failed, "the crash was not noticed"
        assert set(stored) - {c for c, _ in returned} <= set(failed)
