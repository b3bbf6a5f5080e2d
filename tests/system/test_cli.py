"""The ``ledger`` command as a person runs it: ``schema``, ``demo``, ``views`` and ``admin``."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import nats
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

    def test_it_writes_one_json_schema_per_command_type_and_the_union(self, tmp_path: Path) -> None:
        result = runner.invoke(app, ["schema", "--out", str(tmp_path / "out")])
        assert result.exit_code == 0, result.output
        written = {p.stem for p in (tmp_path / "out" / "commands").glob("*.json")}
        assert written == {*schemas.COMMAND_TYPES, "Command"}
        action = json.loads((tmp_path / "out" / "commands" / "RecordAction.json").read_text())
        assert action["x-records"] == "ActionRecorded"
        body = action["$defs"]["RecordAction"]
        assert body["additionalProperties"] is False
        assert "recorded_by" not in body["properties"]


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


def _streams(data_dir: Path, admin: Path) -> dict[str, dict[str, object]]:
    """The configuration of each stream on the data dir's embedded server, as the admin."""
    from runtime.access import load_credentials
    from runtime.embedded import EmbeddedNats

    async def read(url: str) -> dict[str, dict[str, object]]:
        credentials = load_credentials(admin)
        nc = await nats.connect(url, **credentials.connect_options())
        try:
            js = nc.jetstream()
            return {
                info.config.name or "": info.config.as_dict() for info in await js.streams_info()
            }
        finally:
            await nc.close()

    with EmbeddedNats(data_dir, auth=True) as server:
        return asyncio.run(read(server.url))


class TestAdminInitCommand:
    def test_it_creates_both_streams_prints_the_admins_file_and_can_run_again(
        self, tmp_path: Path
    ) -> None:
        env = {"NATS_URL": "", "LEDGER_DATA_DIR": str(tmp_path)}
        done = _ledger("admin", "init", env=env)
        assert done.returncode == 0, done.stderr
        admin = Path(done.stdout.strip())
        assert admin == tmp_path / "credentials" / "ledger-admin.json"
        assert stat.S_IMODE(admin.stat().st_mode) == 0o600
        assert "streams ready: LEDGER, LEDGER_ACCESS, LEDGER_LOG, LEDGER_DELIVERY" in done.stderr
        again = _ledger("admin", "init", env=env)
        assert again.returncode == 0, again.stderr
        streams = _streams(tmp_path, admin)
        assert set(streams) == {"LEDGER", "LEDGER_ACCESS", "LEDGER_LOG", "LEDGER_DELIVERY"}
        for name in ("LEDGER", "LEDGER_ACCESS", "LEDGER_LOG"):
            assert (streams[name]["deny_delete"], streams[name]["deny_purge"]) == (True, True)
        assert load_password(admin) not in done.stderr + done.stdout

    def test_a_ledger_stream_that_could_lose_history_fails_init_and_start_naming_the_setting(
        self, tmp_path: Path
    ) -> None:
        from runtime.access import ensure_admin_user, ensure_service_users, load_credentials
        from runtime.embedded import EmbeddedNats
        from runtime.settings import Settings

        settings = Settings(data_dir=tmp_path)
        ensure_service_users(tmp_path, settings)
        admin = ensure_admin_user(tmp_path, settings)
        assert admin is not None

        async def make_bad_stream(url: str) -> None:
            nc = await nats.connect(
                url,
                **load_credentials(
                    tmp_path / "credentials" / "ledger-admin.json"
                ).connect_options(),
            )
            try:
                await nc.jetstream().add_stream(
                    name="LEDGER", subjects=["ledger.>"], max_msgs_per_subject=1
                )
            finally:
                await nc.close()

        with EmbeddedNats(tmp_path, auth=True) as server:
            asyncio.run(make_bad_stream(server.url))
        env = {"NATS_URL": "", "LEDGER_DATA_DIR": str(tmp_path)}
        for command in (("admin", "init"), ("demo",)):
            done = _ledger(*command, env=env)
            assert done.returncode == 1, command
            assert "max_msgs_per_subject is 1, the ledger needs" in done.stderr, command
            assert "deny_delete is False" in done.stderr, command

    def test_once_the_admins_file_is_taken_away_the_service_runs_and_init_asks_for_it(
        self, tmp_path: Path
    ) -> None:
        env = {"NATS_URL": "", "LEDGER_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
        admin = Path(_ledger("admin", "init", env=env).stdout.strip())
        kept = tmp_path.parent / f"{tmp_path.name}-admin.json"
        admin.rename(kept)
        demo = _ledger("demo", env=env)
        assert demo.returncode == 0, demo.stderr
        refused = _ledger("admin", "init", env=env)
        assert refused.returncode == 1
        assert "give it with --credentials" in refused.stderr
        given = _ledger("admin", "init", "--credentials", str(kept), env=env)
        assert given.returncode == 0, given.stderr


def load_password(path: Path) -> str:
    from runtime.access import load_credentials

    return load_credentials(path).password
