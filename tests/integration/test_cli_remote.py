"""``ledger record`` and the questions against a running HTTP API (uvicorn on a loopback
port, real NATS, real views).

The service is reached by ``--url``/``LEDGER_URL``, or found through the data dir's
``service.json``; the token says who records and who reads. Refusals are told as
refusals, with the service's reason, never as "cannot reach the server". Every question
asked of the service prints what the same question prints on the data dir.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import uvicorn
from cli_support import CASE, CASE_COMMANDS, PARTNERSHIP_COMMANDS, P, csv_rows, ledger, receipt
from structlog.testing import capture_logs

from interfaces.http import create_app
from interfaces.queries import QUERIES
from ledger.application import Ledger
from ledger.nats import _stream
from ledger.nats._recorders import NatsApplicationRecorder
from ledger.proofs.entry import SignatureHeader, verify_assertion
from ledger.signing import load_private_key
from projections import Views
from projections.sqlite import SQLiteViewStore
from runtime.discovery import ServiceClaim
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


class AccessLog:
    """Who read which case's record, kept in memory."""

    def __init__(self) -> None:
        self.reads: list[tuple[str, str, str]] = []

    def record(
        self,
        *,
        partnership: str,
        case: str,
        query: str,
        role: str,
        agency: str | None,
        token: str,
        as_of: datetime | None,
    ) -> None:
        self.reads.append((query, case, role))


@pytest.fixture
def access_log() -> AccessLog:
    return AccessLog()


@pytest.fixture
def service_ledger(nats_url: str, stream_name: str, subject_prefix: str) -> Iterator[Ledger]:
    env = Settings(stream=stream_name, subject_prefix=subject_prefix).persistence_env(nats_url)
    app = Ledger(env=env)
    yield app
    app.close()


@pytest.fixture
def service_views(tmp_path: Path) -> Iterator[Views]:
    views = Views(SQLiteViewStore(tmp_path / "service-views.sqlite"))
    yield views
    views.close()


@pytest.fixture
def url(
    service_ledger: Ledger, service_views: Views, tokens: TokenStore, access_log: AccessLog
) -> Iterator[str]:
    """The HTTP API (commands and questions) over a ledger on the session's NATS and its
    views, served by uvicorn in a thread on a free loopback port."""
    app = create_app(service_ledger, tokens, views=service_views, access_log=access_log)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
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


@pytest.fixture
def env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"LEDGER_DATA_DIR": str(data_dir), "LEDGER_PARTNERSHIP": P, "COLUMNS": "200"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in (
        "LEDGER_URL", "LEDGER_TOKEN", "LEDGER_AGENCY", "LEDGER_ACTOR", "NATS_URL",
        "NATS_SUBJECT_PREFIX",
    ):  # fmt: skip
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

    def test_a_signed_command_needs_only_the_token_and_the_key_file(
        self, url: str, tokens: TokenStore, partnership: None, tmp_path: Path,
        service_ledger: Ledger,
    ) -> None:  # fmt: skip
        key_file = tmp_path / "la.pem"
        made = ledger(
            "keys", "generate", "--out", str(key_file), "--agency", "la", "--key-id", "k1"
        )
        admin = {"LEDGER_URL": url, "LEDGER_TOKEN": _token(tokens, Role.ADMIN)}
        receipt(
            ledger(
                "record", "RegisterAgencyKey", "--agency", "la", "--key-id", "k1",
                "--public-key", json.loads(made.stdout)["public_key"], env=admin,
            )
        )  # fmt: skip
        agency = {"LEDGER_URL": url, "LEDGER_TOKEN": _token(tokens, Role.AGENCY)}
        receipt(ledger("record", *CASE_COMMANDS[0], env=agency))
        action = [
            "RecordAction", "--case", CASE, "--action", "home_visit",
            "--occurred-at", "2026-01-05T10:00:00Z", "--key", str(key_file), "--key-id", "k1",
        ]  # fmt: skip
        # who records it (the token's agency and actor) and the prefix come from the service
        signed = receipt(ledger("record", *action, env=agency))
        recorder = service_ledger.recorder
        assert isinstance(recorder, NatsApplicationRecorder)
        stored, _ = recorder.pool.run(
            lambda nc: _stream.direct_get_batch(
                nc, recorder.stream, f"{recorder.subjects.prefix}.>", signed["sequence"], 1, 5.0
            )
        )
        header = SignatureHeader.parse(stored[0].headers[_stream.HDR_SIGNATURE])
        assert (header.agency, header.key_id) == ("la", "k1")
        verify_assertion(
            load_private_key(key_file).public_key(), header, stored[0].subject, stored[0].data
        )
        # an --as-actor that is not the token's is refused before anything is sent
        before = service_ledger.recorder.max_notification_id()
        other = ledger("record", *action, "--as-actor", "act_someone-else", env=agency)
        assert other.exit_code == 2
        assert "--as-actor 'act_someone-else' is not the token's" in other.stderr
        assert service_ledger.recorder.max_notification_id() == before
        # an agency that pins the ledger it signs for signs nothing for another one
        pinned = ledger("record", *action, env={**agency, "NATS_SUBJECT_PREFIX": "elsewhere"})
        assert pinned.exit_code == 2
        assert "not NATS_SUBJECT_PREFIX 'elsewhere'" in pinned.stderr
        assert service_ledger.recorder.max_notification_id() == before
        same = {**agency, "NATS_SUBJECT_PREFIX": recorder.subjects.prefix}
        assert receipt(ledger("record", *action, env=same))["sequence"] > before

    def test_the_service_running_on_the_data_dir_is_found_without_a_url(
        self, url: str, tokens: TokenStore, partnership: None, data_dir: Path
    ) -> None:
        agency = {"LEDGER_TOKEN": _token(tokens, Role.AGENCY)}
        with ServiceClaim(data_dir) as claim:  # as ledger serve holds its data dir
            claim.publish(url, workers=True)
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


@pytest.fixture
def case_recorded(
    url: str, tokens: TokenStore, partnership: None, service_ledger: Ledger, service_views: Views
) -> list[dict[str, object]]:
    """The case recorded over HTTP by the local authority, and the service's views current."""
    agency = {"LEDGER_URL": url, "LEDGER_TOKEN": _token(tokens, Role.AGENCY)}
    done = [receipt(ledger("record", *args, env=agency)) for args in CASE_COMMANDS]
    service_views.runner(service_ledger).catch_up()
    return done


@pytest.fixture
def on_the_data_dir(
    nats_url: str, stream_name: str, subject_prefix: str, tmp_path: Path
) -> dict[str, str]:
    """The environment of the same ledger's data dir (another one, where no service runs)."""
    return {
        "NATS_URL": nats_url,
        "NATS_STREAM": stream_name,
        "NATS_SUBJECT_PREFIX": subject_prefix,
        "LEDGER_DATA_DIR": str(tmp_path / "local"),
    }


class TestQuestionsThroughTheService:
    @pytest.mark.parametrize("name", list(QUERIES))
    def test_every_question_prints_the_same_rows_from_the_service_as_from_the_data_dir(
        self,
        name: str,
        url: str,
        tokens: TokenStore,
        case_recorded: list[dict[str, object]],
        on_the_data_dir: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr("runtime.bootstrap.configure_logging", lambda **_: None)
        args = [name, *([CASE] if QUERIES[name].per_case else []), "--format", "json"]
        board = {"LEDGER_URL": url, "LEDGER_TOKEN": _token(tokens, Role.BOARD)}
        remote = ledger(*args, env=board)
        assert remote.exit_code == 0, remote.output
        with capture_logs():
            local = ledger(*args, env=on_the_data_dir)
        assert local.exit_code == 0, local.output
        assert remote.stdout == local.stdout
        assert json.loads(remote.stdout) or not QUERIES[name].per_case

    def test_the_chronology_as_of_an_instant_is_the_same_both_ways_and_its_read_is_logged(
        self,
        url: str,
        tokens: TokenStore,
        case_recorded: list[dict[str, object]],
        on_the_data_dir: dict[str, str],
        access_log: AccessLog,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr("runtime.bootstrap.configure_logging", lambda **_: None)
        opened = str(case_recorded[0]["recorded_at"])
        args = ["chronology", CASE, "--as-of", opened, "--format", "csv"]
        board = {"LEDGER_URL": url, "LEDGER_TOKEN": _token(tokens, Role.BOARD)}
        remote = ledger(*args, env=board)
        assert remote.exit_code == 0, remote.output
        with capture_logs():
            local = ledger(*args, env=on_the_data_dir)
        assert remote.stdout == local.stdout
        assert [row["event_type"] for row in csv_rows(remote.stdout)] == ["CaseOpened"]
        assert access_log.reads == [("chronology", CASE, "board")]

    def test_an_agency_not_party_to_the_case_is_refused_with_the_reason(
        self, url: str, tokens: TokenStore, case_recorded: list[dict[str, object]]
    ) -> None:
        health = {"LEDGER_URL": url, "LEDGER_TOKEN": _token(tokens, Role.AGENCY, "health")}
        done = ledger("chronology", CASE, env=health)
        assert done.exit_code == 1
        assert "refused the request (403): agency 'health' is not a party to case" in done.stderr
