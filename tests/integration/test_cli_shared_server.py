"""A ``ledger`` command beside another ledger process that runs the data dir's embedded
server (``ledger views follow``, ``ledger demo`` ...) shares that server: "data dir in use"
is not an answer a user gets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import CASE, CASE_COMMANDS, PARTNERSHIP_COMMANDS, P, ledger, receipt
from structlog.testing import capture_logs

from runtime.service import open_service
from runtime.settings import Settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data dir whose embedded server (with its users) another holder runs meanwhile."""
    data = tmp_path / "data"
    for name in ("NATS_URL", "LEDGER_URL", "LEDGER_TOKEN", "NATS_STREAM", "NATS_SUBJECT_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEDGER_DATA_DIR", str(data))
    monkeypatch.setenv("LEDGER_PARTNERSHIP", P)
    monkeypatch.setenv("LEDGER_AGENCY", "la")
    monkeypatch.setenv("LEDGER_ACTOR", "act_la-000001")
    monkeypatch.setattr("runtime.bootstrap.configure_logging", lambda **_: None)
    with capture_logs(), open_service(Settings(data_dir=data), configure_logs=False) as held:
        assert held.running.server is not None  # this holder started it
        yield data


class TestSharedEmbeddedServer:
    def test_record_and_ask_beside_the_holder_share_its_server(self, data_dir: Path) -> None:
        done = [receipt(ledger("record", *args)) for args in PARTNERSHIP_COMMANDS + CASE_COMMANDS]
        assert [r["sequence"] for r in done] == list(range(1, 7))
        asked = ledger("chronology", CASE, "--format", "json")
        assert asked.exit_code == 0, asked.output
        assert [row["sequence"] for row in json.loads(asked.stdout)] == [4, 5, 6]
        assert "in use" not in asked.stderr
