"""The commands' direct path answers exactly as the Litestar route it stands in front of."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from interfaces.http import create_app
from interfaces.http._app import LedgerApp
from interfaces.http._commands import CommandThreads, Overloaded
from ledger.application import Ledger
from runtime.tokens import Role, TokenStore
from tests.ledger_scenario import CHILD, LA, PARTNERSHIP, POLICE, FixedClock, establish

P = PARTNERSHIP


class _Answer(msgspec.Struct):
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def _call(app: LedgerApp, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> _Answer:
    """One POST through the app's ASGI interface; what it sent."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            await asyncio.sleep(3600)
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, *bodies = sent
    return _Answer(start["status"], list(start["headers"]), b"".join(m["body"] for m in bodies))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LedgerApp, Ledger, dict[str, str]]]:
    ledger = Ledger(clock=FixedClock())
    establish(ledger)
    ledger.open_case(
        partnership=P, case="c1", recorded_by=LA, children=[{"child": CHILD, "age_band": "5_9"}]
    )
    tokens = TokenStore(tmp_path)
    issued = {
        "agency": tokens.issue(Role.AGENCY, P, **LA)[0],
        "other": tokens.issue(Role.AGENCY, P, **POLICE)[0],
        "inspector": tokens.issue(Role.INSPECTOR, P)[0],
    }
    app = create_app(ledger, tokens)
    assert isinstance(app, LedgerApp)
    yield app, ledger, issued
    ledger.close()


def _headers(
    body: bytes, token: str | None, *extra: tuple[bytes, bytes]
) -> list[tuple[bytes, bytes]]:
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if token is not None:
        head.append((b"authorization", f"Bearer {token}".encode()))
    return [*head, *extra]


def _action(case: str = "c1", **changes: Any) -> bytes:
    return json.dumps(
        {"partnership": P, "case": case, "action": "home_visit", "seen": True, **changes}
    ).encode()


class TestTheDirectPath:
    def test_a_recorded_command_is_answered_as_the_route_answers_it(
        self, served: tuple[LedgerApp, Ledger, dict[str, str]]
    ) -> None:
        app, _, tokens = served
        body = _action()
        direct = _call(app, "/commands/RecordAction", body, _headers(body, tokens["agency"]))
        path, app.command_path = app.command_path, None
        routed = _call(app, "/commands/RecordAction", body, _headers(body, tokens["agency"]))
        app.command_path = path
        assert direct.status == routed.status == 201
        assert direct.headers == routed.headers
        first, second = json.loads(direct.body), json.loads(routed.body)
        assert second["sequence"] == first["sequence"] + 1
        assert second["version"] == first["version"] + 1
        assert {k: v for k, v in first.items() if k not in ("sequence", "version")} == {
            k: v for k, v in second.items() if k not in ("sequence", "version")
        }

    @pytest.mark.parametrize(
        ("tag", "body", "token", "status"),
        [
            ("RecordAction", _action(), None, 401),
            ("RecordAction", _action(), "ldg_00000000_nope", 401),
            ("RecordAction", b"{", "agency", 400),
            ("RecordAction", _action(seen="yes"), "agency", 400),
            ("RecordAction", _action(partnership="elsewhere"), "agency", 403),
            ("RecordAction", _action(), "inspector", 403),
            ("EstablishPartnership", _action(), "agency", 403),
            ("RecordAction", _action(case="c404"), "agency", 404),
            ("RecordAction", _action(), "other", 409),
        ],
    )
    def test_a_refusal_is_the_same_problem_and_writes_nothing(
        self,
        served: tuple[LedgerApp, Ledger, dict[str, str]],
        tag: str,
        body: bytes,
        token: str | None,
        status: int,
    ) -> None:
        app, ledger, tokens = served
        bearer = tokens.get(token, token) if token is not None else None
        before = ledger.recorder.max_notification_id()
        direct = _call(app, f"/commands/{tag}", body, _headers(body, bearer))
        path, app.command_path = app.command_path, None
        routed = _call(app, f"/commands/{tag}", body, _headers(body, bearer))
        app.command_path = path
        assert direct == routed
        assert direct.status == status
        assert ledger.recorder.max_notification_id() == before

    def test_a_body_without_a_length_is_left_to_litestar(
        self, served: tuple[LedgerApp, Ledger, dict[str, str]]
    ) -> None:
        app, _, tokens = served
        assert app.command_path is not None
        chunked = [(b"transfer-encoding", b"chunked"), (b"authorization", b"Bearer x")]
        assert app.command_path.route(_scope("/commands/RecordAction", chunked)) is None
        too_long = [(b"content-length", str(2 << 20).encode())]
        assert app.command_path.route(_scope("/commands/RecordAction", too_long)) is None
        assert app.command_path.route(_scope("/commands/Nothing", _headers(b"{}", None))) is None
        scope = _scope("/commands/RecordAction", _headers(b"{}", tokens["agency"]))
        assert app.command_path.route(scope) is not None
        assert app.command_path.route({**scope, "method": "GET"}) is None

    def test_a_body_longer_than_its_content_length_is_413_and_writes_nothing(
        self, served: tuple[LedgerApp, Ledger, dict[str, str]]
    ) -> None:
        app, ledger, tokens = served
        body = _action()
        before = ledger.recorder.max_notification_id()
        head = _headers(b"{}", tokens["agency"])  # says 2 bytes; an ASGI server that lets
        answer = _call(app, "/commands/RecordAction", body, head)  # more through
        assert answer.status == 413
        assert json.loads(answer.body)["status"] == 413
        assert ledger.recorder.max_notification_id() == before

    def test_a_command_beyond_the_backlog_is_a_503_with_retry_after_and_writes_nothing(
        self, served: tuple[LedgerApp, Ledger, dict[str, str]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        app, ledger, tokens = served
        assert app.command_path is not None
        threads = app.command_path._threads  # the route's too
        monkeypatch.setattr(threads, "_limit", 0)  # no thread to take it, no room to wait
        monkeypatch.setattr(threads, "_backlog", 0)
        body = _action()
        before = ledger.recorder.max_notification_id()
        direct = _call(app, "/commands/RecordAction", body, _headers(body, tokens["agency"]))
        path, app.command_path = app.command_path, None
        routed = _call(app, "/commands/RecordAction", body, _headers(body, tokens["agency"]))
        app.command_path = path
        assert direct == routed
        assert direct.status == 503
        assert (b"retry-after", b"1") in direct.headers
        assert json.loads(direct.body)["type"].endswith(":overloaded")
        assert ledger.recorder.max_notification_id() == before


class TestTheAppsLifespan:
    def test_a_second_lifespan_records_as_the_first_and_each_shuts_down_cleanly(
        self, served: tuple[LedgerApp, Ledger, dict[str, str]]
    ) -> None:
        app, _, tokens = served
        headers = {"Authorization": f"Bearer {tokens['agency']}"}
        for _ in range(2):
            with TestClient(app=app) as client:
                response = client.post("/commands/RecordAction", content=_action(), headers=headers)
                assert response.status_code == 201, response.text


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "headers": headers}


class TestCommandThreads:
    def test_a_call_answers_its_result_or_its_error_on_the_loop(self) -> None:
        threads = CommandThreads(limit=2)

        def boom() -> None:
            raise ValueError("boom")

        async def main() -> list[Any]:
            results = await asyncio.gather(*(threads.run(pow, 2, k) for k in range(8)))
            with pytest.raises(ValueError, match="boom"):
                await threads.run(boom)
            return results

        try:
            assert asyncio.run(main()) == [2**k for k in range(8)]
        finally:
            threads.close()

    def test_a_call_beyond_the_backlog_is_refused_unrun_and_room_comes_back(self) -> None:
        threads = CommandThreads(limit=1, backlog=2)
        gate = threading.Event()
        ran: list[int] = []

        def call(k: int) -> int:
            gate.wait(10)
            ran.append(k)
            return k

        async def main() -> list[int]:
            held = [asyncio.ensure_future(threads.run(call, k)) for k in range(3)]
            await asyncio.sleep(0)  # the thread holds one call, two wait
            with pytest.raises(Overloaded, match="2 commands are already waiting"):
                await threads.run(call, 99)
            gate.set()
            done = await asyncio.gather(*held)
            return [*done, await threads.run(call, 3)]

        try:
            assert asyncio.run(main()) == [0, 1, 2, 3]
            assert 99 not in ran
        finally:
            gate.set()
            threads.close()

    def test_close_ends_the_threads_and_a_later_call_starts_them_again(self) -> None:
        threads = CommandThreads()

        async def idents() -> set[int]:
            return set(await asyncio.gather(*(threads.run(_slow_ident) for _ in range(4))))

        first = asyncio.run(idents())
        started = [t for t in threading.enumerate() if t.ident in first]
        assert started
        threads.close()
        assert not any(t.is_alive() for t in started)
        try:
            assert asyncio.run(idents())  # as a second lifespan does: new threads answer
        finally:
            threads.close()


def _slow_ident() -> int:
    time.sleep(0.01)
    return threading.get_ident()
