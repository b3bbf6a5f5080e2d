"""The ``ledger`` command: the questions (``chronology``, ``opt-outs`` ...: one per
:data:`interfaces.queries.QUERIES` entry), ``record <Tag>``, ``serve``, ``token``,
``import escalations|chronology``, ``log key|checkpoint|prove|consistency``, ``verify``,
``export``, ``witness``, ``schema``, ``demo``,
``views rebuild|update|follow|status``, ``agency add``,
``admin init``, ``delivery run`` and ``subscribe``.

Exit codes (:data:`interfaces._shell.EXIT_CODES`): 0 done; 1 refused or failed (a
ledger error, whose message says the field and the rule, or a service's refusal); 2
usage (typer's own, and option values not of their kind); 130 interrupted (Ctrl-C,
told in one line). Help texts are plain words: typer shows docstrings as they are.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console

import schemas
from interfaces._import_cli import import_app
from interfaces._keys_cli import keys_app
from interfaces._log_cli import log_app
from interfaces._proof_cli import export, witness
from interfaces._query_cli import add_query_commands
from interfaces._record_cli import record_app
from interfaces._report_cli import report
from interfaces._serve_cli import serve
from interfaces._shell import EXIT_CODES, fail, say
from interfaces._token_cli import token_app
from interfaces._verify_cli import verify
from ledger.errors import LedgerError
from runtime.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="ledger",
    help="An event-sourced audit ledger for inter-agency accountability in child safeguarding.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    # Tracebacks with local variables would print event payloads: personal data.
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True)
views_app = typer.Typer(
    help="Build and keep current the views (opt-outs, timeliness, challenges, chronology, ...).",
    no_args_is_help=True,
)
app.add_typer(views_app, name="views")
app.add_typer(token_app, name="token")
app.add_typer(record_app, name="record")
app.add_typer(import_app, name="import")
app.add_typer(keys_app, name="keys")
app.add_typer(log_app, name="log")
app.command("serve")(serve)
app.command("report", rich_help_panel="Questions")(report)
app.command("verify", rich_help_panel="Questions")(verify)
app.command("export")(export)
app.command("witness")(witness)
add_query_commands(app)

BatchOption = Annotated[
    int, typer.Option("--batch-size", min=1, help="Events applied per transaction.")
]
ViewOption = Annotated[
    list[str] | None,
    typer.Option("--view", help="A view to work on (repeatable); every view when omitted."),
]


@app.command()
def schema(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Directory to write the JSON Schemas into (commands in DIR/commands)."
        ),
    ] = None,
    asyncapi: Annotated[
        Path | None,
        typer.Option(
            "--asyncapi", help="File to write the AsyncAPI document of the subjects into."
        ),
    ] = None,
) -> None:
    """Write the JSON Schema of every event and command type, and/or the AsyncAPI document."""
    if out is None and asyncapi is None:
        fail("give --out DIR, --asyncapi FILE, or both", 2)
    settings = Settings.from_env()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        documents = schemas.json_schemas()
        for name, document in sorted(documents.items()):
            text = json.dumps(document, indent=2, sort_keys=True) + "\n"
            (out / f"{name}.json").write_text(text)
        commands = schemas.command_schemas()
        (out / "commands").mkdir(exist_ok=True)
        for name, document in sorted(commands.items()):
            text = json.dumps(document, indent=2, sort_keys=True) + "\n"
            (out / "commands" / f"{name}.json").write_text(text)
        say(
            f"wrote {len(documents)} JSON Schemas of events to {out} "
            f"and {len(commands)} of commands to {out / 'commands'}"
        )
    if asyncapi is not None:
        document = schemas.asyncapi_document(prefix=settings.subject_prefix, stream=settings.stream)
        asyncapi.parent.mkdir(parents=True, exist_ok=True)
        asyncapi.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        say(f"wrote the AsyncAPI document to {asyncapi}")


@app.command()
def demo() -> None:
    """Record a short demonstration scenario on the ledger and print what was recorded."""
    from runtime.bootstrap import open_ledger
    from runtime.demo import print_summary, run_scenario

    settings = Settings.from_env()
    with open_ledger(settings) as running:
        receipts = run_scenario(running.ledger)
        print_summary(Console(), running, receipts)


@views_app.command("rebuild")
def views_rebuild(view: ViewOption = None, batch_size: BatchOption = 2_000) -> None:
    """Drop the views and rebuild them from the first event, with a progress bar.

    Commands may keep being recorded meanwhile; the rebuild stops at the stream's
    position when it started. If it is interrupted, 'ledger views update' resumes it.
    """
    _run_views(view or [], rebuild=True, batch_size=batch_size)


@views_app.command("update")
def views_update(view: ViewOption = None, batch_size: BatchOption = 2_000) -> None:
    """Apply the events the views have not seen yet (resumes an interrupted rebuild), then exit."""
    _run_views(view or [], rebuild=False, batch_size=batch_size)


@views_app.command("follow")
def views_follow(view: ViewOption = None) -> None:
    """Keep the views current as events are recorded, until interrupted (Ctrl-C or SIGTERM)."""
    from projections.catalogue import check_names
    from runtime.service import open_service

    settings = Settings.from_env()
    names = check_names(view or [])
    with open_service(settings, role="projector") as service:
        runner = service.views.runner(service.ledger, names)

        def stop(signum: int, frame: FrameType | None) -> None:
            runner.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        say(f"following {', '.join(v.name for v in runner.views)}; Ctrl-C stops")
        runner.follow()


@views_app.command("status")
def views_status() -> None:
    """Each view's position against the stream's."""
    from rich.table import Table

    from runtime.service import open_service

    with open_service(Settings.from_env(), role="projector") as service:
        runner = service.views.runner(service.ledger)
        stream = runner.stream_position()
        table = Table("view", "position", "behind")
        for name, position in runner.positions().items():
            table.add_row(name, str(position), str(max(stream - position, 0)))
        Console().print(table)


def _run_views(names: list[str], *, rebuild: bool, batch_size: int) -> None:
    from interfaces._progress import progress_bar
    from projections.catalogue import check_names
    from runtime.service import open_service

    settings = Settings.from_env()
    names = list(check_names(names))
    with open_service(settings, role="projector") as service:
        runner = service.views.runner(service.ledger, names, batch_size=batch_size)
        label = "rebuilding" if rebuild else "updating"
        say(f"{label} {', '.join(v.name for v in runner.views)}")
        with progress_bar(console, label) as progress:
            task = progress.add_task(label, total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            stats = runner.rebuild(advance) if rebuild else runner.catch_up(advance)
        say(
            f"{stats.events:,} events applied in {stats.seconds:.1f} s"
            f" ({stats.per_second:,.0f}/s); views at position {stats.position:,}"
        )


agency_app = typer.Typer(
    help="Agencies' logins to the embedded server: users, permissions, credentials files.",
    no_args_is_help=True,
)
app.add_typer(agency_app, name="agency")


@agency_app.command("add")
def agency_add(
    agency: Annotated[
        str, typer.Argument(help="The agency id (lower-case letters, digits, '-' and '_').")
    ],
    partnership: Annotated[
        str,
        typer.Option(
            "--partnership", help="The partnership that registered the agency (AgencyRegistered)."
        ),
    ],
) -> None:
    """Create AGENCY's user on the embedded server and print its credentials file (mode 0600).

    PARTNERSHIP must have registered AGENCY first; otherwise nothing is written and the
    command exits 1. The user may read its own consumer (agency_AGENCY) and nothing
    else. A running embedded server on the same data dir reloads its users at once.
    """
    from interfaces._agency_check import check_registered
    from runtime.access import add_agency
    from runtime.embedded import reload_running
    from runtime.logging import configure_logging

    settings = Settings.from_env()
    configure_logging(json=settings.log_json, level=settings.log_level)  # on stderr
    try:
        from consumers import delivery_stream

        check_registered(settings, partnership, agency)
        # The agency's consumer lives on the delivery stream (schemas/wire.py).
        path = add_agency(
            settings.data_dir, settings, agency, consumer_stream=delivery_stream(settings.stream)
        )
    except LedgerError as e:
        fail(str(e))
    typer.echo(str(path))
    if settings.nats_url is not None:
        say("NATS_URL is set: this user exists on the embedded server only")
    try:
        pid = reload_running(settings.data_dir)
    except LedgerError as e:  # the user exists; only the running server has not learnt it
        say(f"warning: {e}")
        return
    if pid is not None:
        say(f"the running nats-server (pid {pid}) reloaded its users")


admin_app = typer.Typer(
    help="The admin's step: create and check the streams (the service may not).",
    no_args_is_help=True,
)
app.add_typer(admin_app, name="admin")


@admin_app.command("init")
def admin_init(
    credentials: Annotated[
        Path | None,
        typer.Option(
            "--credentials",
            help="The admin's credentials file (default: <data dir>/credentials/ledger-admin.json"
            " for the embedded server, NATS_CREDENTIALS for a NATS_URL server).",
        ),
    ] = None,
) -> None:
    """Create the ledger and delivery streams if missing, and check that the ledger stream
    cannot lose history (limits, TTLs, rollups, deletes, purges, sources...).

    On the embedded server (no NATS_URL) this creates the admin user on first use and
    prints its credentials file: keep it away from the service once the streams exist.
    Uses a running embedded server on the data dir, or starts one for the while.
    """
    from runtime.access import admin_credentials_path, ensure_admin_user, ensure_service_users
    from runtime.access import load_credentials as load
    from runtime.bootstrap import delivery_step, initialise_streams
    from runtime.embedded import EmbeddedNats, running_url
    from runtime.logging import configure_logging

    settings = Settings.from_env()
    configure_logging(json=settings.log_json, level=settings.log_level)
    steps = [delivery_step(settings)]
    try:
        if settings.nats_url is not None:
            path = credentials or settings.nats_credentials
            admin = load(path) if path is not None else None
            names = initialise_streams(settings, settings.nats_url, admin, steps=steps)
        else:
            admin = None
            if settings.auth:
                ensure_service_users(settings.data_dir, settings)
                admin = (
                    load(credentials)
                    if credentials
                    else ensure_admin_user(settings.data_dir, settings)
                )
                if admin is None:
                    path = admin_credentials_path(settings.data_dir)
                    fail(
                        f"the admin's credentials file {path} is not in"
                        " the data dir: give it with --credentials"
                    )
                typer.echo(str(credentials or admin_credentials_path(settings.data_dir)))
            url = running_url(settings.data_dir)
            if url is not None:
                names = initialise_streams(settings, url, admin, steps=steps)
            else:
                with EmbeddedNats(settings.data_dir, auth=settings.auth) as server:
                    names = initialise_streams(settings, server.url, admin, steps=steps)
    except LedgerError as e:
        fail(str(e))
    say(f"streams ready: {', '.join(names)}")


delivery_app = typer.Typer(
    help="Deliver each case event to the agencies party to the case.", no_args_is_help=True
)
app.add_typer(delivery_app, name="delivery")


@delivery_app.command("run")
def delivery_run() -> None:
    """Fan case and challenge events out to their agencies' consumers, and each key event to
    its agency's, as they are recorded, until interrupted."""
    from runtime.bootstrap import delivery_step
    from runtime.service import open_service

    settings = Settings.from_env()
    with open_service(settings, admin_steps=[delivery_step(settings)]) as service:
        runner = service.delivery()

        def stop(signum: int, frame: FrameType | None) -> None:
            runner.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        say("delivering case, challenge and key events to agencies; Ctrl-C stops")
        runner.follow()


@app.command()
def subscribe(
    agency: Annotated[str, typer.Option("--agency", help="The agency whose events to print.")],
    credentials: Annotated[
        Path | None,
        typer.Option(
            "--credentials",
            help="Credentials file (default: <data dir>/credentials/agency_<agency>.json).",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Stop after this many events.")
    ] = None,
) -> None:
    """Print the agency's events as JSON lines, each acknowledged once printed.

    Connects to NATS_URL, or to the embedded server another ledger process runs
    on the data dir ('ledger delivery run'). Ctrl-C stops; unprinted events wait.
    """
    import asyncio
    import sys

    import msgspec

    from consumers.client import AgencySubscription
    from runtime.embedded import running_url
    from runtime.logging import configure_logging

    settings = Settings.from_env()
    configure_logging(json=settings.log_json, level=settings.log_level)  # stdout is the events
    url = settings.nats_url or running_url(settings.data_dir)
    if url is None:
        fail(
            "no NATS server: set NATS_URL, or start the embedded one"
            " with 'ledger delivery run' on this data dir"
        )
    path = (
        credentials
        or settings.data_dir / "credentials" / f"{schemas.wire.consumer_name(agency)}.json"
    )

    async def run() -> None:
        stop = asyncio.Event()
        printed = 0
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        async with AgencySubscription.from_credentials(path, url) as sub:

            async def emit(delivery: Any) -> None:
                nonlocal printed
                line = {
                    "sequence": delivery.sequence,
                    "partnership": delivery.partnership,
                    "case": delivery.case,
                    "challenge": delivery.challenge,
                    "key_id": delivery.key_id,
                    "type": delivery.event_type,
                    "event": delivery.event,
                }
                sys.stdout.buffer.write(msgspec.json.encode(line) + b"\n")
                sys.stdout.flush()
                printed += 1
                if limit is not None and printed >= limit:
                    stop.set()

            await sub.run(emit, stop=stop)

    asyncio.run(run())


def main() -> None:
    """Run the app: a ledger error no command caught becomes exit code 1 with its message
    (printed literally). ``interfaces.entry.main`` runs this, and tells Ctrl-C."""
    try:
        app()
    except LedgerError as e:
        say(f"error: {e}")
        raise SystemExit(1) from None
