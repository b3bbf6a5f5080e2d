"""``ledger import escalations|chronology`` on the data dir, against a real NATS.

Each test records a small partnership and case through ``ledger record`` (as in
``test_cli_local``), imports a CSV file, and reads what the import did back through the
views (``ledger challenges``, ``ledger chronology``) and the stream's last sequence.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import CASE, CASE_COMMANDS, PARTNERSHIP_COMMANDS, P, ledger, receipt
from click.testing import Result
from structlog.testing import capture_logs

from runtime.discovery import ServiceClaim
from runtime.service import open_service
from runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SHELL = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)

ESCALATIONS = """\
reference,date,from agency,to agency,matter,stage,response date,outcome,case
E-1,03/02/2025,la,police,information sharing,1,07/02/2025,,c-cli-1
E-1,12/02/2025,la,police,information sharing,2,17/02/2025,Partially upheld,c-cli-1
E-2,2025-03-10,police,la,Threshold,1,,,
"""
CHRONOLOGY = """\
date,time,sequence,source,agency,event,action taken
2025-01-20,10:15,1,referral form,la,Action recorded,Referral received
2025-01-22,09:30,2,meeting minutes,la,Action recorded,Strategy discussion (outcome: section47)
2025-01-22,09:30,3,meeting minutes,police,Concern raised,Concern raised (kind: physical abuse)
"""


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
    monkeypatch.setattr("runtime.bootstrap.configure_logging", lambda **_: None)
    with capture_logs():
        yield values


@pytest.fixture
def recorded(env: dict[str, str]) -> None:
    """The partnership (la, police; stages 1 and 2) and case c-cli-1 (la leads, police joined)."""
    for args in PARTNERSHIP_COMMANDS + CASE_COMMANDS:
        receipt(ledger("record", *args))


def last_sequence() -> int:
    """The stream's last sequence: the ledger's highest notification id."""
    with open_service(Settings.from_env(), configure_logs=False) as service:
        return service.ledger.recorder.max_notification_id() or 0


def write(tmp_path: Path, name: str, text: str, *, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def import_file(kind: str, path: Path, *args: str) -> Result:
    return ledger("import", kind, str(path), *args)


def as_json(*args: str) -> list[dict[str, object]]:
    done = ledger(*args, "--format", "json")
    assert done.exit_code == 0, done.output + done.stderr
    found: list[dict[str, object]] = json.loads(done.stdout)
    return found


@pytest.mark.usefixtures("recorded")
class TestImportEscalations:
    def test_a_valid_log_appears_in_the_challenges_view_backdated(self, tmp_path: Path) -> None:
        before = last_sequence()
        done = import_file("escalations", write(tmp_path, "log.csv", ESCALATIONS))
        assert done.exit_code == 0, done.output + done.stderr
        assert done.stdout.splitlines() == [
            "line 2: recorded: ChallengeRaised, ChallengeResponded",
            "line 3: recorded: ChallengeEscalated, ChallengeResponded, ChallengeResolved",
            "line 4: recorded: ChallengeRaised",
        ]
        assert last_sequence() == before + 6
        challenges = sorted(as_json("challenges"), key=lambda c: str(c["raised_on"]))
        assert [
            (c["by_agency"], c["against_agency"], c["matter"], c["case"], c["raised_on"])
            for c in challenges
        ] == [
            ("la", "police", "information_sharing", CASE, "2025-02-03"),
            ("police", "la", "threshold_decision", None, "2025-03-10"),
        ]
        first, second = challenges
        assert (first["status"], first["outcome"], first["stage_reached"]) == (
            "resolved",
            "partially_upheld",
            2,
        )
        assert first["ended_on"] == "2025-02-17"
        assert second["status"] == "open"
        assert str(first["challenge"]).startswith("imp-")

    def test_a_file_with_one_bad_line_writes_nothing_and_names_the_line_and_column(
        self, tmp_path: Path
    ) -> None:
        bad = ESCALATIONS.replace("E-2,2025-03-10,police,la", "E-2,2025-03-10,police,fire")
        before = last_sequence()
        done = import_file("escalations", write(tmp_path, "log.csv", bad))
        assert done.exit_code == 1
        assert "line 4, column to agency: against_agency 'fire' is not registered" in done.stdout
        assert "(an agency must be registered in the partnership" in done.stdout
        assert "line 2: to record: ChallengeRaised, ChallengeResponded" in done.stdout
        assert "nothing was written" in done.stderr
        assert last_sequence() == before
        assert as_json("challenges") == []

    def test_every_bad_cell_of_the_file_is_reported_at_once(self, tmp_path: Path) -> None:
        bad = ESCALATIONS.replace("03/02/2025", "31/02/2025").replace("Threshold", "vibes")
        done = import_file("escalations", write(tmp_path, "log.csv", bad))
        assert done.exit_code == 1
        problems = [line for line in done.stdout.splitlines() if ", column " in line]
        assert [p.split(":")[0] for p in problems] == [
            "line 2, column date",
            "line 4, column matter",
        ]
        assert "line 3: not checked: other lines of the file are refused" in done.stdout
        assert "(rule: one of threshold decision, information sharing" in problems[1]

    def test_a_second_import_of_the_same_file_writes_nothing(self, tmp_path: Path) -> None:
        path = write(tmp_path, "log.csv", ESCALATIONS)
        assert import_file("escalations", path).exit_code == 0
        before = last_sequence()
        again = import_file("escalations", path)
        assert again.exit_code == 0, again.output + again.stderr
        assert again.stdout.splitlines() == [f"line {n}: already imported" for n in (2, 3, 4)]
        assert "nothing new to record" in again.stderr
        assert last_sequence() == before

    def test_a_log_that_grew_adds_only_its_new_events(self, tmp_path: Path) -> None:
        assert import_file("escalations", write(tmp_path, "log.csv", ESCALATIONS)).exit_code == 0
        before = last_sequence()
        grown = ESCALATIONS.replace("Threshold,1,,,", "Threshold,1,2025-03-14,not upheld,")
        done = import_file("escalations", write(tmp_path, "log.csv", grown))
        assert done.exit_code == 0, done.output + done.stderr
        assert done.stdout.splitlines()[-1] == (
            "line 4: recorded: ChallengeResponded, ChallengeResolved"
        )
        assert last_sequence() == before + 2

    def test_a_line_edited_since_its_import_is_refused(self, tmp_path: Path) -> None:
        assert import_file("escalations", write(tmp_path, "log.csv", ESCALATIONS)).exit_code == 0
        before = last_sequence()
        edited = ESCALATIONS.replace("E-2,2025-03-10", "E-2,2025-03-11")
        done = import_file("escalations", write(tmp_path, "log.csv", edited))
        assert done.exit_code == 1
        assert "line 4, column reference: challenge 'imp-" in done.stdout
        assert "(rule: an imported line is not edited" in done.stdout
        assert last_sequence() == before

    def test_check_reports_and_writes_nothing(self, tmp_path: Path) -> None:
        before = last_sequence()
        done = import_file("escalations", write(tmp_path, "log.csv", ESCALATIONS), "--check")
        assert done.exit_code == 0, done.output + done.stderr
        assert (
            done.stdout.splitlines()[0] == "line 2: to record: ChallengeRaised, ChallengeResponded"
        )
        assert last_sequence() == before

    def test_a_file_that_is_not_utf8_is_refused_whole(self, tmp_path: Path) -> None:
        path = write(tmp_path, "log.csv", ESCALATIONS.replace("la,", "lä,"), encoding="latin-1")
        done = import_file("escalations", path)
        assert done.exit_code == 1
        assert "is not UTF-8 at byte" in done.stderr
        assert "nothing was written" in done.stderr

    def test_a_formula_is_text_and_refused_where_an_agency_belongs(self, tmp_path: Path) -> None:
        bad = ESCALATIONS.replace("E-2,2025-03-10,police", 'E-2,2025-03-10,"=HYPERLINK(""x"")"')
        done = import_file("escalations", write(tmp_path, "log.csv", bad))
        assert done.exit_code == 1
        assert "line 4, column from agency: " in done.stdout

    def test_on_a_terminal_the_report_is_a_table(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("interfaces._import_cli._on_terminal", lambda: True)
        bad = ESCALATIONS.replace("E-2,2025-03-10,police,la", "E-2,2025-03-10,police,fire")
        done = import_file("escalations", write(tmp_path, "log.csv", bad))
        assert done.exit_code == 1
        header = next(line for line in done.stdout.splitlines() if "status" in line)
        assert header.split() == ["┃", "line", "┃", "status", "┃", "detail", "┃"]
        assert "column to agency: against_agency 'fire' is not registered" in done.stdout

    def test_an_import_beside_a_running_serve_shares_its_data_dir(self, tmp_path: Path) -> None:
        before = last_sequence()
        with ServiceClaim(Path(os.environ["LEDGER_DATA_DIR"])) as claim:  # as serve holds it
            claim.publish("http://127.0.0.1:9", workers=True)
            done = import_file("escalations", write(tmp_path, "log.csv", ESCALATIONS))
        assert done.exit_code == 0, done.output + done.stderr
        assert last_sequence() == before + 6
        assert sum(str(c["challenge"]).startswith("imp-") for c in as_json("challenges")) == 2

    def test_an_import_does_not_go_through_a_service(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("LEDGER_URL", "http://127.0.0.1:9")
        done = import_file("escalations", write(tmp_path, "log.csv", ESCALATIONS))
        assert done.exit_code == 1
        assert "runs on the data dir, not through a service" in done.stderr


@pytest.mark.usefixtures("recorded")
class TestImportChronology:
    def test_a_valid_chronology_appears_in_the_case_chronology_late_and_explained(
        self, tmp_path: Path
    ) -> None:
        done = import_file("chronology", write(tmp_path, "c.csv", CHRONOLOGY), "--case", CASE)
        assert done.exit_code == 0, done.output + done.stderr
        assert done.stdout.splitlines()[2] == (
            "line 4: recorded: ConcernRaised, LateRecordingExplained"
        )
        entries = as_json("chronology", CASE)
        imported = [e for e in entries if e["source"] == "imported"]
        assert [(e["agency"], e["what"]) for e in imported] == [
            ("la", "Referral received"),
            ("la", "Strategy discussion (outcome: section47)"),
            ("police", "Concern raised (kind: physical abuse)"),
            ("la", "Late recording explained (event sequence: 7)"),
            ("la", "Late recording explained (event sequence: 9)"),
            ("police", "Late recording explained (event sequence: 11)"),
        ]
        assert imported[0]["occurred_at"] == "2025-01-20T10:15:00+00:00"
        assert all(e["recorded_late"] and e["late_explained"] for e in imported[:3])
        assert all(e["source_referenced"] for e in imported)

    def test_a_line_of_an_event_it_does_not_import_writes_nothing(self, tmp_path: Path) -> None:
        bad = CHRONOLOGY + "2025-01-23,,4,case record,la,Case closed,Case closed\n"
        before = last_sequence()
        done = import_file("chronology", write(tmp_path, "c.csv", bad), "--case", CASE)
        assert done.exit_code == 1
        assert "line 5, column event: is not imported (rule: a chronology import" in done.stdout
        assert last_sequence() == before

    def test_every_line_of_an_agency_not_party_to_the_case_is_refused(self, tmp_path: Path) -> None:
        bad = CHRONOLOGY.replace(",la,Action recorded,Strategy", ",health,Action recorded,Strategy")
        bad = bad.replace("meeting minutes,police", "meeting minutes,health")
        done = import_file("chronology", write(tmp_path, "c.csv", bad), "--case", CASE)
        assert done.exit_code == 1
        assert (
            done.stdout.splitlines()[0]
            == "line 2: to record: ActionRecorded, LateRecordingExplained"
        )
        for line in (3, 4):
            assert (
                f"line {line}, column agency: recorded_by.agency 'health' is not a party"
                in done.stdout
            )

    def test_a_case_that_does_not_exist_is_refused_before_any_line(self, tmp_path: Path) -> None:
        done = import_file("chronology", write(tmp_path, "c.csv", CHRONOLOGY), "--case", "c-9")
        assert done.exit_code == 1
        assert "case 'c-9' does not exist in partnership 'northshire'" in done.stderr

    def test_a_second_import_of_the_same_chronology_writes_nothing(self, tmp_path: Path) -> None:
        path = write(tmp_path, "c.csv", "\ufeff" + CHRONOLOGY)
        assert import_file("chronology", path, "--case", CASE).exit_code == 0
        before = last_sequence()
        again = import_file("chronology", path, "--case", CASE)
        assert again.exit_code == 0, again.output + again.stderr
        assert again.stdout.splitlines() == [f"line {n}: already imported" for n in (2, 3, 4)]
        assert last_sequence() == before


class TestTheDocumentedExamples:
    def test_the_example_files_import_as_docs_import_md_says(
        self, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        blocks = SHELL.findall((ROOT / "docs" / "import.md").read_text())
        assert len(blocks) == 1
        monkeypatch.chdir(ROOT)
        outputs: list[Result] = []
        for command in blocks[0].replace("\\\n", " ").splitlines():
            words = shlex.split(command)
            if words[0] == "export":
                for pair in words[1:]:
                    name, _, value = pair.partition("=")
                    monkeypatch.setenv(name, value)
                continue
            assert words[0] == "ledger"
            done = ledger(*words[1:])
            assert done.exit_code == 0, f"{command}\n{done.output}{done.stderr}"
            outputs.append(done)
        first, second = outputs[-5], outputs[-3]  # the escalation log, imported twice
        assert all(": recorded: " in line for line in first.stdout.splitlines())
        assert all(line.endswith("already imported") for line in second.stdout.splitlines())
        challenges = as_json("challenges")
        assert sum(str(c["challenge"]).startswith("imp-") for c in challenges) == 3
        review = outputs[-1].stdout
        assert "Cooperation refused" in review
        assert "Concern raised (kind: physical abuse)" in review
