"""``ledger token issue|list|revoke``: the HTTP API's tokens, in the data dir's token file.

A token is printed once, on stdout, when issued; only its hash is kept
(:mod:`runtime.tokens`). A running ``ledger serve`` sees issued and revoked tokens
at once: it rereads the file when it changes.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ledger.errors import LedgerError
from runtime.settings import Settings
from runtime.tokens import Role, TokenStore

__all__ = ["token_app"]

token_app = typer.Typer(
    help="API tokens of the HTTP API: issue (shown once), list, revoke.",
    no_args_is_help=True,
)
_err = Console(stderr=True)


def _store() -> TokenStore:
    return TokenStore(Settings.from_env().data_dir)


@token_app.command("issue")
def issue(
    role: Annotated[Role, typer.Option("--role", help="agency, board, inspector or admin.")],
    partnership: Annotated[
        str, typer.Option("--partnership", help="The partnership the token is for.")
    ],
    agency: Annotated[
        str | None,
        typer.Option("--agency", help="The agency it records as (every role but inspector)."),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor", help="The pseudonymous actor it records as (act_...; not inspector)."
        ),
    ] = None,
) -> None:
    """Issue a token and print it once on stdout; only its hash is kept."""
    try:
        token, record = _store().issue(role, partnership, agency=agency, actor=actor)
    except LedgerError as e:
        _err.print(f"[bold red]error:[/] {escape(str(e))}")
        raise typer.Exit(1) from e
    typer.echo(token)
    _err.print(
        f"token {record.id}: {record.role.value} of {record.partnership}"
        + (f" as {record.agency}" if record.agency else "")
        + " (shown once: it cannot be read again)",
        markup=False,
    )


@token_app.command("list")
def list_tokens() -> None:
    """Every token issued: id, role, partnership, agency, actor, when issued and revoked."""
    table = Table("id", "role", "partnership", "agency", "actor", "issued", "revoked")
    for t in _store().list():
        table.add_row(
            t.id,
            t.role.value,
            t.partnership,
            t.agency or "",
            t.actor or "",
            t.issued_at.isoformat(timespec="seconds"),
            t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else "",
        )
    Console().print(table)


@token_app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id, as `ledger token list` shows.")],
) -> None:
    """Revoke a token: it is refused (401) from now on, by a running service too."""
    try:
        record = _store().revoke(token_id)
    except LedgerError as e:
        _err.print(f"[bold red]error:[/] {escape(str(e))}")
        raise typer.Exit(1) from e
    _err.print(f"token {record.id} revoked", markup=False)
