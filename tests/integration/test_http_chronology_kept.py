"""The chronology's JSON answers kept per process (interfaces/http/_chronology_cache.py)
never outlive what they show: against a real nats-server and real views, every read still
checks its caller now, is recorded before it is answered, and sees each write the views
have applied, as of now or as of an instant, whichever process served it before.

The partnership of :mod:`test_http_reads` (its ``world`` fixture, one per module).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from test_http_reads import CHILD, P, World, ok, path_of, problem, world

from interfaces.http import create_app
from projections import Views
from projections.sqlite import SQLiteViewStore
from runtime.tokens import Role

__all__ = ["world"]  # the fixture, used by name

CHRONOLOGY = path_of("chronology")
LA = {"agency": "la", "actor": "act_la-000001"}


def sequences(body: dict[str, Any]) -> list[int]:
    return [e["sequence"] for e in body["entries"]]


@pytest.fixture
def case(world: World) -> str:
    """A fresh case of la's, health a party to it."""
    la = world["la"]
    case = world.fresh("kept")
    la.post("OpenCase", case=case, children=[{"child": CHILD, "age_band": "5_9"}])
    la.post("JoinCase", case=case, agency="health")
    return case


class TestAKeptAnswer:
    def test_is_served_again_byte_for_byte_while_nothing_changed(
        self, world: World, case: str
    ) -> None:
        board = world["board"]
        first = board.get(path_of("chronology", case))
        again = board.get(path_of("chronology", case))
        assert first.status_code == again.status_code == 200
        assert again.content == first.content

    def test_a_write_between_two_reads_is_in_the_second(self, world: World, case: str) -> None:
        board = world["board"]
        ok(board.get(path_of("chronology", case)))
        ok(board.get(path_of("chronology", case)))
        sequence = world["la"].post("RecordAction", case=case, action="home_visit")
        body = ok(board.get(path_of("chronology", case), after=sequence))
        assert sequences(body)[-1] == sequence

    def test_as_of_an_instant_it_never_shows_a_later_event(self, world: World, case: str) -> None:
        board = world["board"]
        instant = datetime.now(UTC).isoformat()
        then = ok(board.get(path_of("chronology", case), as_of=instant))
        assert ok(board.get(path_of("chronology", case), as_of=instant)) == then
        sequence = world["la"].post("RecordAction", case=case, action="home_visit")
        assert ok(board.get(path_of("chronology", case), as_of=instant, after=sequence)) == then
        assert sequence in sequences(ok(board.get(path_of("chronology", case))))

    def test_an_agency_that_left_the_case_is_refused_and_not_recorded(
        self, world: World, case: str
    ) -> None:
        health = world["health"]
        ok(health.get(path_of("chronology", case)))
        ok(health.get(path_of("chronology", case)))
        left = world["la"].post("LeaveCase", case=case, agency="health")
        before = len(world.access_log.reads)
        body = problem(health.get(path_of("chronology", case), after=left), 403)
        assert f"agency 'health' is not a party to case '{case}'" in body["detail"]
        assert len(world.access_log.reads) == before

    def test_every_read_of_it_is_recorded_and_none_is_answered_unrecorded(
        self, world: World
    ) -> None:
        board = world["board"]
        ok(board.get(CHRONOLOGY))
        before = len(world.access_log.reads)
        ok(board.get(CHRONOLOGY))
        ok(board.get(CHRONOLOGY, as_of=datetime.now(UTC).isoformat()))
        assert [r["case"] for r in world.access_log.reads[before:]] == ["c1", "c1"]
        world.access_log.failing = True
        try:
            body = problem(board.get(CHRONOLOGY), 503)
        finally:
            world.access_log.failing = False
        assert "entries" not in body

    def test_a_case_and_a_partnership_that_do_not_exist_are_still_404(self, world: World) -> None:
        board, police = world["board"], world["police"]
        assert problem(board.get(path_of("chronology", "nosuch")), 404)["field"] == "case"
        assert problem(police.get(path_of("chronology", "nosuch")), 404)["field"] == "case"
        other = world.caller(Role.BOARD, "la", partnership="nowhere")
        problem(other.get("/partnerships/nowhere/cases/c1/chronology"), 404)


@pytest.fixture
def second(world: World, tmp_path: Path) -> Iterator[tuple[TestClient[Any], Views]]:
    """Another service on the same stream with views of its own that follow only when told
    (``catch_up``): a process whose views are behind."""
    views = Views(SQLiteViewStore(tmp_path / "second.sqlite"))
    views.runner(world.ledger).catch_up()
    app = create_app(world.ledger, world.tokens, views=views, access_log=world.access_log)
    try:
        with TestClient(app=app) as client:
            yield client, views
    finally:
        views.close()


class TestAnotherProcess:
    def test_an_event_recorded_by_an_instant_but_applied_late_is_in_its_next_answer(
        self, world: World, case: str, second: tuple[TestClient[Any], Views]
    ) -> None:
        client, views = second
        headers = world["board"].headers
        url = path_of("chronology", case)
        views.runner(world.ledger).catch_up()
        sequence = world["la"].post("RecordAction", case=case, action="home_visit")
        instant = datetime.now(UTC).isoformat()  # after the event was recorded
        behind = ok(client.get(url, params={"as_of": instant}, headers=headers))
        assert sequence not in sequences(behind)  # these views have not applied it yet
        assert ok(client.get(url, params={"as_of": instant}, headers=headers)) == behind
        views.runner(world.ledger).catch_up()
        assert (
            sequences(ok(client.get(url, params={"as_of": instant}, headers=headers)))[-1]
            == sequence
        )

    def test_a_write_served_by_one_is_seen_by_the_other_at_once(
        self, world: World, case: str, second: tuple[TestClient[Any], Views]
    ) -> None:
        client, views = second
        headers = world["board"].headers
        url = path_of("chronology", case)
        views.runner(world.ledger).catch_up()
        first = ok(client.get(url, headers=headers))
        assert ok(world["board"].get(url)) == first
        sequence = world["la"].post("RecordAction", case=case, action="child_seen", seen=True)
        views.runner(world.ledger).catch_up()
        assert sequences(ok(client.get(url, headers=headers)))[-1] == sequence
        assert sequences(ok(world["board"].get(url, after=sequence)))[-1] == sequence


def test_reads_beside_a_writer_each_hold_every_event_applied_before_them(
    world: World, case: str
) -> None:
    board = world["board"]
    url = path_of("chronology", case)
    written: list[int] = []

    def writer() -> None:
        for _ in range(8):
            receipt = world.ledger.record_action(
                partnership=P, case=case, recorded_by=LA, action="home_visit"
            )
            written.append(receipt.sequence)

    thread = threading.Thread(target=writer)
    thread.start()
    while thread.is_alive():
        applied = max(written, default=0)
        if applied:
            assert applied in sequences(ok(board.get(url, after=applied)))
    thread.join()
    assert sequences(ok(board.get(url, after=written[-1])))[-8:] == written
