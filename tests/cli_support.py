"""Helpers the command-line tests share: running ``ledger`` in-process, and a small case
recorded through ``ledger record`` itself.

A plain module (not a conftest) so that test modules can import its names.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from click.testing import Result
from typer.testing import CliRunner

from interfaces.cli import app
from interfaces.exports import cell

P = "northshire"
CASE = "c-cli-1"
CHILD = "ch_0123456789abcdef"
STAGES = [
    {"stage": 1, "title": "Practitioners", "response_working_days": 5},
    {"stage": 2, "title": "Managers", "response_working_days": 5},
]

runner = CliRunner()


def ledger(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    """``ledger *args`` in this process (stdout and stderr apart)."""
    return runner.invoke(app, list(args), env=env, input=stdin)


def receipt(result: Result) -> dict[str, Any]:
    """The receipt ``ledger record`` printed on stdout."""
    assert result.exit_code == 0, result.output + result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


#: The partnership's commands, as the admin records them.
PARTNERSHIP_COMMANDS: list[list[str]] = [
    [
        "EstablishPartnership", "--name", "Northshire", "--nation", "england",
        "--escalation-stages", json.dumps(STAGES),
    ],
    [
        "RegisterAgency", "--agency", "la", "--name", "Northshire Council",
        "--kind", "local_authority", "--role", "statutory_partner",
    ],
    [
        "RegisterAgency", "--agency", "police", "--name", "Northshire Police",
        "--kind", "police", "--role", "statutory_partner",
    ],
]  # fmt: skip

#: The case's commands, as the local authority records them.
CASE_COMMANDS: list[list[str]] = [
    ["OpenCase", "--case", CASE, "--children", json.dumps([{"child": CHILD, "age_band": "5_9"}])],
    ["JoinCase", "--case", CASE, "--agency", "police"],
    [
        "RecordAction", "--case", CASE, "--action", "child_seen", "--child", CHILD,
        "--seen", "--seen-alone", "--note", "Seen at school [with the head teacher]",
    ],
]  # fmt: skip


def csv_rows(text: str) -> list[dict[str, str]]:
    """CSV as the csv module reads it (the byte order mark Excel needs taken off)."""
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def as_csv_cells(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """JSON rows as their CSV cells."""
    return [{k: cell(v) for k, v in row.items()} for row in rows]
