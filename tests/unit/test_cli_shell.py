"""What a shell user meets: help in plain words, exit codes, literal errors, the progress bar."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import msgspec
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

import schemas
from interfaces._progress import progress_bar
from interfaces.cli import app
from interfaces.queries import QUERIES

runner = CliRunner()
CHILDREN = '[{"child": "ch_0123456789abcdef", "age_band": "5_9"}]'


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A data dir of this test's own (no service runs there) and no remote service."""
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "data"))
    for name in ("LEDGER_URL", "LEDGER_TOKEN", "LEDGER_PARTNERSHIP", "LEDGER_AGENCY"):
        monkeypatch.delenv(name, raising=False)


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and group under ``group``, as the words that call it."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*path, name)
        if hasattr(command, "list_commands"):  # a group (typer's is not a click.Group)
            yield from _commands(command, (*path, name))


def _help(*path: str) -> str:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


ALL_COMMANDS = list(_commands(typer.main.get_command(app)))


class TestHelp:
    @pytest.mark.parametrize("name", list(QUERIES))
    def test_every_question_has_help_with_its_filters_as_options(self, name: str) -> None:
        text = _help(name)
        assert QUERIES[name].summary.rstrip(".") in " ".join(text.split())
        paged = ("after", "limit") if QUERIES[name].keyset else ()
        for field in msgspec.structs.fields(QUERIES[name].filters):
            option = "--" + field.name.replace("_", "-")
            assert (option in text) is (field.name not in paged)
        for option in ("--partnership", "--as-of", "--format", "--url"):
            assert option in text
        assert ("CASE" in text) is QUERIES[name].per_case

    @pytest.mark.parametrize("path", ALL_COMMANDS, ids=" ".join)
    def test_no_help_shows_rest_markup(self, path: tuple[str, ...]) -> None:
        text = _help(*path)
        for markup in ("``", ":class:", ":func:", ":data:", ":meth:", ":attr:"):
            assert markup not in text, f"{' '.join(path)} --help shows {markup}"

    def test_the_help_tells_the_exit_codes(self) -> None:
        text = " ".join(_help().split())
        assert "0 done; 1 refused or failed" in text
        assert "2 usage" in text
        assert "130 interrupted" in text

    def test_there_is_one_record_subcommand_per_command_type(self) -> None:
        assert {p[1] for p in ALL_COMMANDS if p[0] == "record" and len(p) == 2} == set(
            schemas.COMMAND_TYPES
        )

    def test_a_record_subcommand_has_an_option_per_field_and_json(self) -> None:
        text = _help("record", "RecordAction")
        for option in ("--case", "--action", "--seen", "--no-seen", "--occurred-at", "--json"):
            assert option in text
        assert "5_9" not in text  # the choices of other commands stay theirs


class TestUsage:
    def test_an_unknown_option_is_usage_exit_2(self) -> None:
        result = runner.invoke(app, ["opt-outs", "--partnership", "p", "--colour", "red"])
        assert result.exit_code == 2

    def test_a_date_filter_that_is_not_a_date_is_usage_exit_2_naming_the_option(self) -> None:
        result = runner.invoke(app, ["opt-outs", "--partnership", "p", "--date-from", "monday"])
        assert result.exit_code == 2
        assert "--date-from" in result.output

    def test_a_number_filter_out_of_its_range_is_usage_exit_2(self) -> None:
        result = runner.invoke(app, ["repeat-refusers", "--partnership", "p", "--threshold", "1"])
        assert result.exit_code == 2
        assert "--threshold: Expected `int` >= 2" in result.output

    def test_an_instant_without_a_time_zone_is_usage_exit_2(self) -> None:
        result = runner.invoke(
            app, ["chronology", "c1", "--partnership", "p", "--as-of", "2026-03-02T09:00:00"]
        )
        assert result.exit_code == 2
        assert "is neither a date nor an instant with a time zone" in result.output

    @pytest.mark.parametrize(
        ("as_of", "problem"),
        [
            ("2999-01-01T00:00:00Z", "is out of range"),
            ("2999-01-01", "is out of range"),
            ("1899-12-31", "is out of range"),
            ("2026-02-30", "is not a calendar date"),
        ],
    )
    def test_an_as_of_in_the_future_or_not_a_day_is_usage_exit_2(
        self, as_of: str, problem: str
    ) -> None:
        result = runner.invoke(app, ["opt-outs", "--partnership", "p", "--as-of", as_of])
        assert result.exit_code == 2
        assert f"--as-of: '{as_of}' {problem}" in result.output

    def test_a_question_without_its_partnership_is_usage_exit_2(self) -> None:
        assert runner.invoke(app, ["opt-outs"]).exit_code == 2

    def test_a_record_missing_a_required_field_is_usage_exit_2_naming_it(self) -> None:
        result = runner.invoke(app, ["record", "OpenCase", "--partnership", "p"])
        assert result.exit_code == 2
        assert "missing --case, --children" in result.output

    def test_a_record_with_json_text_that_does_not_parse_is_usage_exit_2(self) -> None:
        result = runner.invoke(
            app, ["record", "OpenCase", "--partnership", "p", "--case", "c1", "--children", "["]
        )
        assert result.exit_code == 2
        assert "--children: not JSON text" in result.output

    def test_recording_on_the_data_dir_needs_who_records_it(self) -> None:
        result = runner.invoke(
            app,
            ["record", "OpenCase", "--partnership", "p", "--case", "c1", "--children", CHILDREN],
        )
        assert result.exit_code == 2
        assert "--as-agency and --as-actor" in result.output

    def test_a_url_without_a_token_says_so_and_exits_1(self) -> None:
        result = runner.invoke(
            app, ["opt-outs", "--partnership", "p", "--url", "http://127.0.0.1:9"]
        )
        assert result.exit_code == 1
        assert "LEDGER_TOKEN is not set" in result.output


class TestErrorsArePrintedLiterally:
    def test_a_rule_with_square_brackets_is_printed_as_it_is(self) -> None:
        # The identifier's rule is a pattern, [a-z0-9]...: rich markup would swallow it.
        result = runner.invoke(
            app,
            [
                "record", "OpenCase", "--partnership", "p", "--case", "Not An Id",
                "--children", CHILDREN, "--as-agency", "la", "--as-actor", "act_sw-000001",
            ],
        )  # fmt: skip
        assert result.exit_code == 1
        assert "$.case" in result.output
        assert "[a-z0-9][a-z0-9_-]{0,63}" in result.output

    def test_an_error_message_is_one_line_however_narrow_the_terminal(self) -> None:
        result = runner.invoke(
            app,
            [
                "record", "OpenCase", "--partnership", "p", "--case", "Not An Id",
                "--children", CHILDREN, "--as-agency", "la", "--as-actor", "act_sw-000001",
            ],
            env={"COLUMNS": "40"},
        )  # fmt: skip
        [line] = [line for line in result.output.splitlines() if line]
        assert line.startswith("error: invalid OpenCase command")

    def test_a_service_that_cannot_be_reached_is_told_as_such(self) -> None:
        result = runner.invoke(
            app,
            ["record", "CloseCase", "--partnership", "p", "--case", "c1", "--reason", "other"],
            env={"LEDGER_URL": "http://127.0.0.1:9", "LEDGER_TOKEN": "ldg_x"},
        )
        assert result.exit_code == 1
        assert "cannot reach the ledger service at http://127.0.0.1:9" in result.output


class TestRunningService:
    def test_a_service_running_on_the_data_dir_is_used_and_needs_a_token(
        self, tmp_path: Path
    ) -> None:
        data = tmp_path / "data"
        data.mkdir()
        url = "http://127.0.0.1:9"
        from runtime.discovery import ServiceClaim

        with ServiceClaim(data) as claim:
            claim.publish(url, workers=True)
            result = runner.invoke(app, ["opt-outs", "--partnership", "p"])
            asked = runner.invoke(
                app, ["opt-outs", "--partnership", "p"], env={"LEDGER_TOKEN": "t"}
            )
        assert result.exit_code == 1
        assert f"a ledger service runs on data dir {data} at {url}" in result.output
        assert "set LEDGER_TOKEN" in result.output
        assert "cannot reach the ledger service at http://127.0.0.1:9" in asked.output

    def test_a_service_file_whose_lock_is_not_held_is_not_a_running_service(
        self, tmp_path: Path
    ) -> None:
        from interfaces._client import running_service
        from runtime.discovery import ServiceClaim
        from runtime.settings import Settings

        data = tmp_path / "data"
        data.mkdir()
        # Left by a killed serve: the file names a live pid, but nobody holds the lock.
        (data / "service.json").write_text(
            json.dumps(
                {
                    "url": "http://x:1",
                    "pid": os.getpid(),
                    "started_at": "2026-01-01T00:00:00Z",
                    "workers": True,
                }
            )
        )
        assert running_service(Settings(data_dir=data)) is None
        with ServiceClaim(data) as claim:
            claim.publish("http://x:1", workers=True)
            assert running_service(Settings(data_dir=data)) == "http://x:1"
        assert running_service(Settings(data_dir=data)) is None


class TestProgressBar:
    def test_at_80_columns_it_shows_the_bar_the_count_and_the_rate(self) -> None:
        out = io.StringIO()
        console = Console(file=out, width=80, force_terminal=True, color_system=None)
        clock = itertools.count(0.0, 0.5)
        with progress_bar(console, "rebuilding", get_time=lambda: next(clock)) as progress:
            task = progress.add_task("rebuilding", total=1_000_000)
            for done in range(100_000, 600_000, 100_000):
                progress.update(task, completed=done)
            progress.refresh()
        text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.getvalue()).replace("\r", "\n")
        last = [line for line in text.splitlines() if line.strip()][-1]
        assert len(last) <= 80
        assert "rebuilding" in last
        assert "━" in last  # the bar
        assert "500000/1000000" in last
        assert "/s" in last.split("500000/1000000")[1]  # the rate, after the count
