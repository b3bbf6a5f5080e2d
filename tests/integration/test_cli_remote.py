"""``ledger record`` against a running HTTP API (uvicorn on a loopback port, real NATS).

The service is reached by ``--url``/``LEDGER_URL``, or found through the data dir's
``service.json``; the token says who records. Refusals are told as refusals, with the
service's reason, never as "cannot reach the server".
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from cli_support import CASE, CASE_COMMANDS, PARTNERSHIP_COMMANDS, P, ledger, receipt
from structlog.testing import capture_logs

from interfaces.http import create_app
from ledger.application import Ledger
from runtime.settings import Settings
from runtime.tokens import Role, TokenStore


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def tokens(data_dir: Path) -> TokenStore:
    return TokenStore(data_dir)


@pytest.fixture
def url(nats_url: str, stream_name: str, subject_prefix: str, tokens: TokenStore) -> Iterator[str]:
    """The HTTP API over a ledger on the session's NATS, served by uvicorn in a thread."""
    env = Settings(stream=stream_name, subject_prefix=subject_prefix).persistence_env(nats_url)
    app = Ledger(env=env)
    port = _free_port()
    config = uvicorn.Config(
        create_app(app, tokens), host="127.0.0.1", port=port, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    with capture_logs():
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            app.close()


@pytest.fixture
def env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"LEDGER_DATA_DIR": str(data_dir), "LEDGER_PARTNERSHIP": P, "COLUMNS": "200"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in ("LEDGER_URL", "LEDGER_TOKEN", "LEDGER_AGENCY", "LEDGER_ACTOR", "NATS_URL"):
        monkeypatch.delenv(name, raising=False)
    return values


def _token(tokens: TokenStore, role: Role, agency: str | None = "la") -> str:
    actor = None if agency is None else f"act_{agency}-000001"
    token, _ = tokens.issue(role, P, agency=agency, actor=actor)
    return token


@pytest.fixture
def partnership(url: str, tokens: TokenStore, env: dict[str, str]) -> None:
    """The partnership, recorded over HTTP by the admin."""
    admin = {"LEDGER_URL": url, "LEDGER_TOKEN": _token(tokens, Role.ADMIN)}
    for args in PARTNERSHIP_COMMANDS:
        receipt(ledger("record", *args, env=admin))


class TestRecordThroughTheService:
    def test_an_agency_records_a_case_and_gets_the_receipts_in_order(
        self, url: str, tokens: TokenStore, partnership: None
    ) -> None:
        agency = {"LEDGER_URL": url, "LEDGER_TOKEN": _token(tokens, Role.AGENCY)}
        done = [receipt(ledger("record", *args, env=agency)) for args in CASE_COMMANDS]
        assert [r["sequence"] for r in done] == [4, 5, 6]
        assert done[0]["event_type"] == "CaseOpened"
        assert done[0]["aggregate_id"] == f"{P}.case.{CASE}"

    def test_the_service_running_on_the_data_dir_is_found_without_a_url(
        self, url: str, tokens: TokenStore, partnership: None, data_dir: Path
    ) -> None:
        (data_dir / "service.json").write_text(json.dumps({"url": url, "pid": os.getpid()}))
        agency = {"LEDGER_TOKEN": _token(tokens, Role.AGENCY)}
        assert receipt(ledger("record", *CASE_COMMANDS[0], env=agency))["sequence"] == 4

    def test_a_revoked_token_is_told_as_refused_with_the_reason_not_as_unreachable(
        self, url: str, tokens: TokenStore, partnership: None
    ) -> None:
        token = _token(tokens, Role.AGENCY)
        tokens.revoke(token.split("_")[1])
        done = ledger("record", *CASE_COMMANDS[0], env={"LEDGER_URL": url, "LEDGER_TOKEN": token})
        assert done.exit_code == 1
        assert f"the ledger service at {url} refused the token (401):" in done.stderr
        assert "revoked" in done.stderr
        assert "cannot reach" not in done.stderr

    def test_a_token_that_may_not_send_the_command_is_told_why(
        self, url: str, tokens: TokenStore, partnership: None
    ) -> None:
        inspector = {"LEDGER_URL": url, "LEDGER_TOKEN": _token(tokens, Role.INSPECTOR, None)}
        done = ledger("record", *CASE_COMMANDS[0], env=inspector)
        assert done.exit_code == 1
        assert "refused the request (403): an inspector token may not send OpenCase" in (
            done.stderr
        )

    def test_a_command_the_ledger_refuses_is_told_with_its_status_and_field(
        self, url: str, tokens: TokenStore, partnership: None
    ) -> None:
        agency = {"LEDGER_URL": url, "LEDGER_TOKEN": _token(tokens, Role.AGENCY)}
        done = ledger("record", "OpenCase", "--case", "Not An Id", "--children", "[]", env=agency)
        assert done.exit_code == 1
        assert f"the ledger service at {url} answered 400 (field " in done.stderr
        assert "[a-z0-9]" in done.stderr  # the rule's pattern, printed literally

    def test_the_same_case_twice_is_a_conflict_exit_1(
        self, url: str, tokens: TokenStore, partnership: None
    ) -> None:
        agency = {"LEDGER_URL": url, "LEDGER_TOKEN": _token(tokens, Role.AGENCY)}
        receipt(ledger("record", *CASE_COMMANDS[0], env=agency))
        again = ledger("record", *CASE_COMMANDS[0], env=agency)
        assert again.exit_code == 1
        assert "answered 409" in again.stderr
