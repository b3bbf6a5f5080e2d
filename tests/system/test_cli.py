"""The ``ledger`` command as a person runs it: ``schema``, ``demo`` and ``views``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import projections
import schemas
from interfaces.cli import app
from projections.sqlite import SQLiteViewStore

runner = CliRunner()


class TestSchemaCommand:
    def test_it_writes_one_json_schema_per_event_type_and_the_union(self, tmp_path: Path) -> None:
        result = runner.invoke(app, ["schema", "--out", str(tmp_path / "out")])
        assert result.exit_code == 0, result.output
        written = {p.stem for p in (tmp_path / "out").glob("*.json")}
        assert written == {*schemas.EVENT_TYPES, "LedgerEvent"}
        action = json.loads((tmp_path / "out" / "ActionRecorded.json").read_text())
        assert "x-personal-data" in json.dumps(action)  # the note is marked


def _ledger(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the installed ``ledger`` command in a process of its own, as a person would."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("ledger")), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


class TestDemoCommand:
    def test_demo_on_an_embedded_server_records_the_scenario_and_a_second_run_sees_the_first(
        self, tmp_path: Path
    ) -> None:
        env = {"NATS_URL": "", "LEDGER_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
        first = _ledger("demo", env=env)
        assert first.returncode == 0, first.stderr
        for event in ("PartnershipEstablished", "CooperationRefused", "ChallengeEscalated"):
            assert event in first.stdout
        assert "13 events recorded; the stream now holds 13 events" in first.stdout
        second = _ledger("demo", env=env)
        assert second.returncode == 0, second.stderr
        assert "9 events recorded; the stream now holds 22 events" in second.stdout

    def test_the_demo_logs_json_lines_without_free_text(self, tmp_path: Path) -> None:
        done = _ledger("demo", env={"NATS_URL": "", "LEDGER_DATA_DIR": str(tmp_path)})
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
        recorded = [line for line in lines if line["event"] == "event_recorded"]
        assert len(recorded) == 13
        assert {"partnership", "agency", "event_type", "seq", "version"} <= set(recorded[0])
        assert "withheld" not in done.stderr  # the challenge summary is free text
        assert "ch_5f2c" not in done.stderr  # the child reference

    def test_a_ledger_error_exits_with_code_1_and_its_message(self, tmp_path: Path) -> None:
        done = _ledger(
            "demo", env={"NATS_URL": "nats://127.0.0.1:1", "LEDGER_DATA_DIR": str(tmp_path)}
        )
        assert done.returncode == 1
        assert "error:" in done.stderr


class TestViewsCommands:
    def test_rebuild_after_the_demo_fills_the_views_and_status_shows_them_current(
        self, tmp_path: Path
    ) -> None:
        env = {"NATS_URL": "", "LEDGER_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
        assert _ledger("demo", env=env).returncode == 0
        rebuilt = _ledger("views", "rebuild", env=env)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert "13 events applied" in rebuilt.stderr
        status = _ledger("views", "status", env=env)
        assert status.returncode == 0, status.stderr
        cells = [
            [cell.strip() for cell in line.strip("│ ").split("│")]
            for line in status.stdout.splitlines()
            if line.startswith("│")
        ]
        positions = {row[0]: (row[1], row[2]) for row in cells if row[0] != "view"}
        assert positions == dict.fromkeys(projections.VIEW_NAMES, ("13", "0"))

        views = projections.Views(SQLiteViewStore(tmp_path / "data" / "views.sqlite"))
        try:
            [challenge] = views.challenges.challenges("northshire")
            assert challenge.stage_reached == 2
            assert views.optouts.entries("northshire")
        finally:
            views.close()

    def test_an_unknown_view_exits_with_code_1_naming_the_known_ones(self, tmp_path: Path) -> None:
        env = {"NATS_URL": "", "LEDGER_DATA_DIR": str(tmp_path / "data")}
        done = _ledger("views", "rebuild", "--view", "gossip", env=env)
        assert done.returncode == 1
        assert "view 'gossip' does not exist" in done.stderr
        assert "chronology" in done.stderr


class TestSchemaAsyncApi:
    def test_it_writes_the_asyncapi_document_for_the_configured_subjects(
        self, tmp_path: Path
    ) -> None:
        target = tmp_path / "docs" / "asyncapi.json"
        done = _ledger("schema", "--asyncapi", str(target), env={"NATS_SUBJECT_PREFIX": "nsp"})
        assert done.returncode == 0, done.stderr
        document = json.loads(target.read_text())
        assert document["asyncapi"] == "3.0.0"
        assert document["channels"]["caseEvents"]["address"].startswith("nsp-delivery.")

    def test_without_a_target_it_says_what_to_give(self, tmp_path: Path) -> None:
        done = _ledger("schema", env={})
        assert done.returncode == 2
        assert "--out DIR, --asyncapi FILE" in done.stderr
