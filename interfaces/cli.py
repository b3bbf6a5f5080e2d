"""The ``ledger`` command: ``ledger schema --out DIR``, ``ledger demo``.

Exit codes: 0 success; 1 a ledger error (its message says the field and the
rule); 2 bad usage (typer's own).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

import schemas
from ledger.errors import LedgerError
from ledger.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="ledger",
    help="An event-sourced audit ledger for inter-agency accountability in child safeguarding.",
    no_args_is_help=True,
    add_completion=False,
    # Tracebacks with local variables would print event payloads: personal data.
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True)


@app.command()
def schema(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the JSON Schemas into.")],
) -> None:
    """Write the JSON Schema of every event type (one file each, plus LedgerEvent.json)."""
    out.mkdir(parents=True, exist_ok=True)
    documents = schemas.json_schemas()
    for name, document in sorted(documents.items()):
        (out / f"{name}.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    console.print(f"wrote {len(documents)} JSON Schemas to {out}")


@app.command()
def demo() -> None:
    """Record a short demonstration scenario on the ledger and print what was recorded."""
    from ledger.bootstrap import open_ledger
    from ledger.demo import print_summary, run_scenario

    settings = Settings.from_env()
    with open_ledger(settings) as running:
        receipts = run_scenario(running.ledger)
        print_summary(Console(), running, receipts)


def main() -> None:
    """Console-script entry point: ledger errors become exit code 1 with their message."""
    try:
        app()
    except LedgerError as e:
        console.print(f"[bold red]error:[/] {e}")
        raise SystemExit(1) from e
