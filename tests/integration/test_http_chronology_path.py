"""The chronology's direct path (interfaces/http/_chronology_path.py) answers exactly as the
Litestar route it stands in front of: the same statuses, bytes, problems and access-log
records, against a real nats-server and real views; and it leaves to the route what the
route alone does (``after``, the CSV layouts).

The partnership of :mod:`test_http_reads` (its ``world`` fixture, one per module).
"""

from __future__ import annotations

from typing import Any

import pytest
from test_http_reads import P, World, ok, path_of, problem, world

from interfaces.http._app import LedgerApp
from interfaces.http._chronology_path import ChronologyPath
from runtime.tokens import Role

__all__ = ["world"]  # the fixture, used by name


@pytest.fixture
def app(world: World) -> LedgerApp:
    """The app, its views caught up with every write so far (a read after the last)."""
    ok(world["board"].get(path_of("chronology")))
    app = world.client.app
    assert isinstance(app, LedgerApp)
    assert app.chronology_path is not None
    return app


def both(world: World, app: LedgerApp, url: str, token: str | None, **params: Any) -> Any:
    """The direct path's response and the route's, to the same request."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    direct = world.client.get(url, params=params, headers=headers)
    path, app.chronology_path = app.chronology_path, None
    try:
        routed = world.client.get(url, params=params, headers=headers)
    finally:
        app.chronology_path = path
    return direct, routed


def scope(path: str, query: bytes = b"", method: str = "GET") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "query_string": query, "headers": []}


class TestTheDirectPath:
    @pytest.mark.parametrize(
        ("who", "case", "params"),
        [
            ("board", "c1", {}),
            ("board", "c1", {"as_of": "2026-01-05"}),
            ("board", "c1", {"format": "json"}),
            ("inspector", "c3", {}),
            ("police", "c1", {}),
            ("police", "c2", {}),  # not a party: 403
            ("admin", "c1", {}),  # may not read a chronology: 403
            ("board", "zz9", {}),  # no such case: 404
            ("board", "c1", {"colour": "red"}),  # 400 naming it
            ("board", "c1", {"as_of": "2026-03-02T09:00:00"}),  # naive: 400
            (None, "c1", {}),  # no token: 401
            ("bad", "c1", {}),  # not a token: 401
        ],
    )
    def test_answers_as_the_route_does(
        self, world: World, app: LedgerApp, who: str | None, case: str, params: dict[str, str]
    ) -> None:
        token = {None: None, "bad": "ldg_00000000_nope"}.get(who, "")
        if token == "":
            token = world[who or ""].token
        direct, routed = both(world, app, path_of("chronology", case), token, **params)
        assert direct.status_code == routed.status_code
        assert direct.content == routed.content
        assert sorted(direct.headers.items()) == sorted(routed.headers.items())

    def test_another_partnerships_token_is_refused_alike(
        self, world: World, app: LedgerApp
    ) -> None:
        other = world.caller(Role.BOARD, "la", partnership="nowhere")
        for url in (
            f"/partnerships/{P}/cases/c1/chronology",
            "/partnerships/nowhere/cases/c1/chronology",
        ):
            direct, routed = both(world, app, url, other.token)
            assert (direct.status_code, direct.content) == (routed.status_code, routed.content)

    def test_leaves_after_csv_and_every_other_request_to_the_route(self, app: LedgerApp) -> None:
        path = app.chronology_path
        assert isinstance(path, ChronologyPath)
        chronology = f"/partnerships/{P}/cases/c1/chronology"
        for taken in (b"", b"as_of=2026-01-05", b"format=json", b"colour=red"):
            assert path.route(scope(chronology, taken)) is not None
        for left in (b"after=3", b"format=csv", b"format=review", b"format=json&after=1"):
            assert path.route(scope(chronology, left)) is None
        assert path.route(scope(chronology, method="POST")) is None
        for other in (
            chronology + "/",
            f"/partnerships/{P}/cases/c1",
            f"/partnerships/{P}/cases//chronology",
            f"/partnerships/{P}/cases/c1/key-moments",
        ):
            assert path.route(scope(other)) is None


class TestItsRecords:
    def test_every_read_is_recorded_once_and_a_refused_or_unknown_one_never(
        self, world: World, app: LedgerApp
    ) -> None:
        board, police = world["board"], world["police"]
        url = f"/partnerships/{P}/cases/c1/chronology"
        before = len(world.access_log.reads)
        for _ in range(3):  # the first keeps the answer; the others record before the check
            ok(world.client.get(url, headers=board.headers))
        ok(world.client.get(url, headers=police.headers))
        problem(
            world.client.get(f"/partnerships/{P}/cases/c2/chronology", headers=police.headers), 403
        )
        for _ in range(2):
            problem(
                world.client.get(f"/partnerships/{P}/cases/zz9/chronology", headers=board.headers),
                404,
            )
        recorded = world.access_log.reads[before:]
        assert [(r["case"], r["role"], r["token"]) for r in recorded] == [
            *[("c1", "board", board.id)] * 3,
            ("c1", "agency", police.id),
        ]

    def test_a_read_that_cannot_be_recorded_is_not_answered_kept_or_not(
        self, world: World, app: LedgerApp
    ) -> None:
        url = f"/partnerships/{P}/cases/c1/chronology"
        ok(world.client.get(url, headers=world["board"].headers))  # kept now
        world.access_log.failing = True
        try:
            for who in ("board", "police"):
                body = problem(world.client.get(url, headers=world[who].headers), 503)
                assert "could not be recorded" in body["detail"]
                assert "entries" not in body
        finally:
            world.access_log.failing = False


class TestOverload:
    def test_a_read_beyond_the_backlog_is_a_503_with_retry_after_unrecorded_on_both_paths(
        self, world: World, app: LedgerApp, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert app.chronology_path is not None
        threads = app.chronology_path._threads  # the read routes' too
        # no thread to take it (none idle, none to start) and no room to wait
        monkeypatch.setattr(threads, "_idle", 0)
        monkeypatch.setattr(threads, "_limit", 0)
        monkeypatch.setattr(threads, "_backlog", 0)
        before = len(world.access_log.reads)
        direct, routed = both(world, app, path_of("chronology", "c1"), world["board"].token)
        cases = world["board"].get(path_of("cases"))
        for response in (direct, routed, cases):
            body = problem(response, 503)
            assert response.headers["retry-after"] == "1"
            assert body["type"].endswith(":overloaded")
            assert "reads are already waiting" in body["detail"]
        assert len(world.access_log.reads) == before
