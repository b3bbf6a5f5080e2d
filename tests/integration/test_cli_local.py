"""``ledger record`` and the question commands on the data dir itself, against a real NATS.

No service runs: each command opens the service (the session's nats-server, a stream
of the test's own, the views in the data dir's SQLite file), brings the views up to
date, and answers as a board would read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cli_support import (
    CASE,
    CASE_COMMANDS,
    PARTNERSHIP_COMMANDS,
    P,
    as_csv_cells,
    csv_rows,
    ledger,
    receipt,
)
from structlog.testing import capture_logs

from interfaces.exports import REVIEW_COLUMNS
from projections.calendar import LONDON


@pytest.fixture
def env(
    nats_url: str,
    stream_name: str,
    subject_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """The environment of a person on this data dir, recording as the local authority."""
    values = {
        "NATS_URL": nats_url,
        "NATS_STREAM": stream_name,
        "NATS_SUBJECT_PREFIX": subject_prefix,
        "LEDGER_DATA_DIR": str(tmp_path / "data"),
        "LEDGER_PARTNERSHIP": P,
        "LEDGER_AGENCY": "la",
        "LEDGER_ACTOR": "act_la-000001",
        "COLUMNS": "200",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LEDGER_URL", raising=False)
    monkeypatch.delenv("LEDGER_TOKEN", raising=False)
    # Logging is configured per process, and the runner's captured stderr closes after each
    # call: the logs are captured instead (and kept out of the answers on stdout).
    monkeypatch.setattr("runtime.bootstrap.configure_logging", lambda **_: None)
    with capture_logs():
        yield values


@pytest.fixture
def recorded(env: dict[str, str]) -> list[dict[str, object]]:
    """The partnership and a case, recorded through ``ledger record``: their receipts."""
    return [receipt(ledger("record", *args)) for args in PARTNERSHIP_COMMANDS + CASE_COMMANDS]


class TestRecordOnTheDataDir:
    def test_each_command_prints_its_receipt_in_order(
        self, recorded: list[dict[str, object]]
    ) -> None:
        assert [r["sequence"] for r in recorded] == list(range(1, 7))
        assert [r["event_type"] for r in recorded][3:] == [
            "CaseOpened",
            "AgencyJoinedCase",
            "ActionRecorded",
        ]
        assert all(isinstance(r["recorded_at"], str) for r in recorded)

    def test_a_command_from_a_json_file_on_stdin_is_recorded(
        self, recorded: list[dict[str, object]]
    ) -> None:
        body = {"partnership": P, "case": CASE, "action": "home_visit", "note": "Visit"}
        done = ledger("record", "RecordAction", "--json", "-", stdin=json.dumps(body))
        assert receipt(done)["sequence"] == 7

    def test_options_override_the_json_file(
        self, recorded: list[dict[str, object]], tmp_path: Path
    ) -> None:
        path = tmp_path / "action.json"
        path.write_text(json.dumps({"partnership": P, "case": "elsewhere", "action": "other"}))
        done = ledger("record", "RecordAction", "--json", str(path), "--case", CASE)
        assert receipt(done)["sequence"] == 7

    def test_a_command_the_ledger_refuses_exits_1_with_its_reason(
        self, recorded: list[dict[str, object]]
    ) -> None:
        again = ledger("record", *CASE_COMMANDS[0])
        assert again.exit_code == 1
        assert again.stdout == ""
        assert again.stderr.startswith("error: ")
        assert CASE in again.stderr

    def test_recording_as_an_agency_the_partnership_does_not_know_is_refused(
        self, recorded: list[dict[str, object]]
    ) -> None:
        done = ledger("record", "CloseCase", "--case", CASE, "--reason", "other",
                      env={"LEDGER_AGENCY": "stranger"})  # fmt: skip
        assert done.exit_code == 1
        assert "stranger" in done.stderr


class TestChronologyOnTheDataDir:
    def test_json_and_csv_give_the_same_rows(self, recorded: list[dict[str, object]]) -> None:
        as_json = ledger("chronology", CASE, "--format", "json")
        assert as_json.exit_code == 0, as_json.output
        rows = json.loads(as_json.stdout)
        assert [r["sequence"] for r in rows] == [4, 5, 6]
        assert [r["event_type"] for r in rows] == [
            "CaseOpened",
            "AgencyJoinedCase",
            "ActionRecorded",
        ]
        assert rows[2]["seen_alone"] is True
        as_csv = ledger("chronology", CASE, "--format", "csv")
        assert as_csv.exit_code == 0, as_csv.output
        assert as_csv.stdout.startswith("\ufeff")
        assert csv_rows(as_csv.stdout) == as_csv_cells(rows)

    def test_review_prints_the_columns_of_review_chronologies(
        self, recorded: list[dict[str, object]]
    ) -> None:
        done = ledger("chronology", CASE, "--review", "--format", "csv")
        assert done.exit_code == 0, done.output
        table = csv_rows(done.stdout)
        assert list(table[0]) == list(REVIEW_COLUMNS)
        assert [row["event"] for row in table] == [
            "Case opened",
            "Agency joined case",
            "Action recorded",
        ]

    def test_csv_is_the_default_into_a_pipe(self, recorded: list[dict[str, object]]) -> None:
        piped = ledger("chronology", CASE)
        assert piped.stdout == ledger("chronology", CASE, "--format", "csv").stdout

    def test_the_table_shows_every_entry(self, recorded: list[dict[str, object]]) -> None:
        shown = ledger("chronology", CASE, "--format", "table")
        assert shown.exit_code == 0, shown.output
        for n, event in enumerate(("CaseOpened", "AgencyJoinedCase", "ActionRecorded"), 1):
            assert f"chronology {n} of 3" in shown.stdout
            assert event in shown.stdout

    def test_as_of_an_instant_answers_what_the_ledger_had_recorded_then(
        self, recorded: list[dict[str, object]]
    ) -> None:
        opened_at = str(recorded[3]["recorded_at"])
        assert datetime.fromisoformat(opened_at).tzinfo is not None
        then = ledger("chronology", CASE, "--as-of", opened_at, "--format", "json")
        assert then.exit_code == 0, then.output
        assert [r["sequence"] for r in json.loads(then.stdout)] == [4]

    def test_as_of_a_day_answers_what_the_ledger_had_recorded_by_its_end(
        self, recorded: list[dict[str, object]]
    ) -> None:
        today = datetime.now(LONDON).date()
        by_today = ledger("chronology", CASE, "--as-of", today.isoformat(), "--format", "json")
        assert by_today.exit_code == 0, by_today.output
        assert [r["sequence"] for r in json.loads(by_today.stdout)] == [4, 5, 6]
        before = (today - timedelta(days=1)).isoformat()
        by_yesterday = ledger("chronology", CASE, "--as-of", before, "--format", "json")
        assert by_yesterday.exit_code == 0, by_yesterday.output
        assert json.loads(by_yesterday.stdout) == []

    def test_an_unknown_partnership_given_as_an_option_is_an_error_naming_it(
        self, recorded: list[dict[str, object]]
    ) -> None:
        other = ledger("chronology", CASE, "--partnership", "southshire", "--format", "json")
        assert other.exit_code == 1
        assert "partnership 'southshire' is not known to the ledger" in other.stderr
        assert other.stdout == ""

    def test_an_unknown_case_is_an_error_naming_it_not_an_empty_chronology(
        self, recorded: list[dict[str, object]]
    ) -> None:
        other = ledger("chronology", "c-nobody", "--format", "json")
        assert other.exit_code == 1
        assert "c-nobody" in other.stderr


class TestOtherQuestionsOnTheDataDir:
    def test_challenges_with_none_raised_answer_an_empty_list(
        self, recorded: list[dict[str, object]]
    ) -> None:
        done = ledger("challenges", "--format", "json")
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout) == []

    def test_key_moments_of_the_case_answer(self, recorded: list[dict[str, object]]) -> None:
        done = ledger("key-moments", CASE, "--format", "json")
        assert done.exit_code == 0, done.output
        [row] = json.loads(done.stdout)
        assert row["case"] == CASE
