"""``ledger verify [--from SEQ] [--to SEQ] [--log-key VKEY] [--checkpoint FILE]
[--agency-key AGENCY:KEY]``.

Checks every chain, signature, checkpoint and cosignature of the ledger stream (or a range of
it) without trusting the server: the rules are docs/proofs.md's ("Verifying the stream").
Reads the stream of the data dir's service (or starts the embedded server, as other commands
do) logged in as the projection workers' read-only user. A progress bar on stderr shows the
count, the rate and the time left; the end prints what was checked on stdout and exits 0, or
names the first failing sequence and why on stderr and exits 1.

The log's key is ``--log-key`` (its C2SP verifier key, from ``ledger log key``: an inspector
brings the one the partnership published), else the data dir's own. ``--checkpoint FILE``
(repeatable) adds a checkpoint note kept outside the server, such as a witness's last cosigned
checkpoint, which a rewrite of the log stream cannot take back. ``--agency-key AGENCY:KEY``
(repeatable) pins an agency's public keys as the inspector had them from the agency: any other
key registered for that agency fails, naming its sequence, since the operator may register an
agency's first key on its own word (docs/proofs.md, "Pinning agencies' keys").
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from interfaces._progress import progress_bar
from interfaces._shell import err, fail, say
from ledger.errors import LedgerError
from ledger.proofs.errors import SignatureInvalid
from ledger.proofs.keys import parse_agency_pins
from ledger.proofs.note import parse_verifier_key
from ledger.proofs.verifier import Summary
from runtime.settings import Settings

if TYPE_CHECKING:
    from runtime.verification import LogKey

__all__ = ["verify"]

FromOption = Annotated[
    int,
    typer.Option("--from", metavar="SEQ", min=1, help="The first sequence to check."),
]
ToOption = Annotated[
    int | None,
    typer.Option(
        "--to",
        metavar="SEQ",
        min=1,
        help="The last sequence to check (default: the end).",
        show_default=False,
    ),
]
LogKeyOption = Annotated[
    str | None,
    typer.Option(
        "--log-key",
        metavar="VKEY",
        help="The log's verifier key, <origin>+<key id>+<key> (default: the data dir's).",
        show_default=False,
    ),
]
CheckpointOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--checkpoint",
        metavar="FILE",
        help="A checkpoint note kept elsewhere (a witness's), to check too; repeatable.",
        show_default=False,
    ),
]

AgencyKeyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--agency-key",
        metavar="AGENCY:KEY",
        help="An agency's public key as the agency gave it (base64); any other key"
        " registered for that agency fails. Repeatable.",
        show_default=False,
    ),
]


def verify(
    first: FromOption = 1,
    last: ToOption = None,
    log_key: LogKeyOption = None,
    checkpoint: CheckpointOption = None,
    agency_key: AgencyKeyOption = None,
) -> None:
    """Check every chain, signature, checkpoint and cosignature; name the first failure."""
    from ledger.proofs.errors import VerificationFailed
    from runtime.bootstrap import open_ledger
    from runtime.log_stream import LogStream
    from runtime.verification import (
        VerifyRange,
        stream_end,
        verify_stream,
        witnessed_roots,
    )

    if last is not None and last < first:
        fail(f"--to: {last} is before --from {first}", 2)
    try:
        pins = parse_agency_pins(agency_key or [])
    except SignatureInvalid as error:
        fail(str(error), 2)
    settings = Settings.from_env()
    key = _log_key(settings, log_key)
    kept = [(f"checkpoint file {p}", _read(p)) for p in checkpoint or []]
    try:
        with open_ledger(settings, role="projector") as running:
            log = LogStream.of(
                running.ledger, stream=settings.stream, subject_prefix=settings.subject_prefix
            )
            roots = witnessed_roots(log, key, kept) if first == 1 else []
            end = stream_end(running.ledger)
            total = max(0, min(end, last or end) - first + 1)
            with progress_bar(err, "verifying") as bar:
                task = bar.add_task("verifying", total=total)
                summary = verify_stream(
                    running.ledger,
                    VerifyRange(first, last),
                    roots,
                    progress=lambda done: bar.update(task, completed=done),
                    pins=pins,
                )
    except VerificationFailed as failure:
        fail(f"verification failed at {failure}")
    except LedgerError as error:
        fail(str(error))
    _report(summary, key.public_key is not None, first)


def _log_key(settings: Settings, vkey: str | None) -> LogKey:
    from runtime.log_key import log_key
    from runtime.verification import LogKey

    if vkey is not None:
        try:
            origin, raw = parse_verifier_key(vkey)
        except SignatureInvalid as error:
            fail(f"--log-key: {error}", 2)
        return LogKey(origin, Ed25519PublicKey.from_public_bytes(raw))
    try:
        private = log_key(settings.data_dir, create=False)
    except FileNotFoundError:
        say("no log key in the data dir and no --log-key: the log's checkpoints are not checked")
        return LogKey(settings.origin, None)
    except LedgerError as error:
        fail(str(error))
    return LogKey(settings.origin, private.public_key())


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"--checkpoint: {path}: cannot be read ({error.__class__.__name__})", 2)


def _report(summary: Summary, keyed: bool, first: int) -> None:
    lines = [
        f"verified sequences {summary.first:,} to {summary.last:,}",
        f"events: {summary.events:,} on {summary.subjects:,} subjects"
        f" (and {summary.positions:,} tracking positions)",
        f"signatures: {summary.signatures:,}",
    ]
    if first == 1:
        lines.append(f"checkpoints: {summary.checkpoints:,}" + ("" if keyed else " (no log key)"))
        uncounted = (
            f" ({summary.uncounted:,} more by keys revoked before they were made: not counted)"
            if summary.uncounted
            else ""
        )
        lines.append(f"cosignatures: {summary.cosignatures:,}{uncounted}")
    else:
        lines.append(
            f"chains entered mid-way (first link taken on trust): {summary.trusted_links:,};"
            " checkpoints are checked only from sequence 1"
        )
    if summary.pinned:
        lines.append(f"agencies whose keys were all pinned ones: {', '.join(summary.pinned)}")
    if summary.pins_unused:  # said, not failed: an agency may have registered no key yet
        say(
            "pinned agencies that registered no key, so their pins checked nothing (a mistyped"
            f" id?): {', '.join(summary.pins_unused)}"
        )
    for line in lines:
        typer.echo(line)
