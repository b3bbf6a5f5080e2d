"""Check an inspector's bundle offline: ``python -m ledger.verify FILE``.

Nothing but the package: no server, no database, no network (docs/proofs.md, "Bundles").
:func:`verify_bundle` checks, in this order, and fails at the first thing that does not hold:

1. the checkpoint: its origin is the bundle's, it is signed by the log's key (the bundle's,
   or the one the inspector pins with ``--log-key``), and at least ``--witnesses N`` known
   witnesses cosigned it. A witness is known if the inspector pinned its key
   (``--witness-key``), else if the bundle names its key and that key is the agency's,
   registered by an event proven in the same tree;
2. every stored message (the case's events and the partnership's key events) is included in
   the checkpoint's tree at leaf ``seq - 1`` (RFC 9162 inclusion proof);
3. the keys: folded from those key events in order, each checked for its agency's
   authority; with ``--agency-key AGENCY:KEY`` (repeatable) an agency's keys are pinned as
   the inspector had them from the agency, and any other key registered for it fails;
4. the case: its events start at version 1 and run on without a gap, each linked to the one
   before by ``Ledger-Prev-Hash``, each recorded by the bundle's as-of, and each signature
   verifies with a key its agency registered before it and had not revoked.

So no event of the case is missing, altered or out of place from the first to the last
shown. :class:`Report` says what was verified; its :meth:`Report.summary` is the sentence a
chronology page or a CSV export can carry ("verified against checkpoint 120, witnessed by
health, police").
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.proofs._bundle_checks import check_case, check_inclusion, fold_keys
from ledger.proofs.bundle import Bundle, read_bundle
from ledger.proofs.errors import ProofError, VerificationFailed
from ledger.proofs.keys import AgencyPins, parse_agency_pins
from ledger.proofs.note import (
    SIG_COSIGNATURE_V1,
    Checkpoint,
    open_checkpoint,
    parse_verifier_key,
    quorum,
    split_checkpoint,
)

__all__ = ["Report", "main", "verify_bundle"]


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """What a bundle proved."""

    partnership: str
    case: str
    origin: str
    #: The tree size of the checkpoint everything was proven against.
    checkpoint: int
    events: int
    first_seq: int
    last_seq: int
    signed: int
    #: The witnesses whose cosignature verified, sorted.
    witnessed_by: list[str]
    as_of: dt.datetime | None = None
    #: Pinned agencies that registered no key in the bundle: their pins checked nothing.
    pins_unused: list[str] = msgspec.field(default_factory=list)

    def attestation(self) -> str:
        """``verified against checkpoint N, witnessed by X, Y`` (or ``..., not witnessed``)."""
        who = ", ".join(self.witnessed_by)
        witnessed = f"witnessed by {who}" if who else "not witnessed"
        return f"verified against checkpoint {self.checkpoint}, {witnessed}"

    def summary(self) -> str:
        """One sentence: how many events of which case, against what, witnessed by whom."""
        noun = "event" if self.events == 1 else "events"
        as_of = f" as of {self.as_of.isoformat()}" if self.as_of is not None else ""
        return f"{self.events} {noun} of case {self.case}{as_of} {self.attestation()}"


def _witnessed_by(bundle: Bundle, pinned: Sequence[str], checkpoint: Checkpoint) -> list[str]:
    """The witnesses (sorted) whose cosignature of ``checkpoint`` counts: with ``pinned``
    keys, those that verify with one; else those that count by the key registry folded from
    the bundle's key events (:meth:`KeyRing.cosigning_key`), among the bundle's own
    witness keys."""
    _, lines = split_checkpoint(bundle.checkpoint)
    if pinned:
        keys: dict[str, Ed25519PublicKey] = {}
        for text in pinned:
            name, raw = _parse_key(text, SIG_COSIGNATURE_V1, "--witness-key")
            keys[name] = Ed25519PublicKey.from_public_bytes(raw)
        return quorum(checkpoint, lines, keys, 0)
    ring = fold_keys(bundle)
    listed: dict[str, set[bytes]] = {}
    for text in bundle.witnesses:
        name, raw = _parse_key(text, SIG_COSIGNATURE_V1, "a witness key of the bundle")
        listed.setdefault(name, set()).add(raw)
    return sorted(
        name
        for name, raws in listed.items()
        if any(ring.cosigning_key(name, checkpoint, line, among=raws).counts for line in lines)
    )


def _parse_key(text: str, sig_type: int, what: str) -> tuple[str, bytes]:
    try:
        return parse_verifier_key(text, sig_type)
    except ProofError as e:
        raise VerificationFailed(None, f"{what}: {e}") from e


def verify_bundle(
    bundle: Bundle,
    *,
    witnesses: int = 0,
    log_key: str | None = None,
    witness_keys: Sequence[str] = (),
    pins: AgencyPins | None = None,
) -> Report:
    """Check ``bundle`` (see the module's docstring); :class:`VerificationFailed` names the
    first sequence that fails and why (``seq`` None for the checkpoint itself)."""
    name, raw = _parse_key(log_key or bundle.log_key, 1, "the log key")
    if name != bundle.origin:
        reason = f"the log key is named {name!r}, not the bundle's origin {bundle.origin!r}"
        raise VerificationFailed(None, reason)
    try:
        checkpoint = open_checkpoint(
            bundle.checkpoint, bundle.origin, Ed25519PublicKey.from_public_bytes(raw)
        )
    except ProofError as e:
        raise VerificationFailed(None, f"the checkpoint is not the log's: {e}") from e
    # Proven before they are believed: key events vouch for witness and agency keys.
    check_inclusion(bundle.keys, checkpoint)
    check_inclusion(bundle.events, checkpoint)
    witnessed_by = _witnessed_by(bundle, witness_keys, checkpoint)
    if len(witnessed_by) < witnesses:
        who = ", ".join(witnessed_by) or "none"
        reason = (
            f"the checkpoint's witnesses: cosigned by {len(witnessed_by)} known witnesses "
            f"({who}) where {witnesses} are required"
        )
        raise VerificationFailed(None, reason)
    if not bundle.events:
        raise VerificationFailed(None, f"the bundle holds no event of case {bundle.case}")
    ring = fold_keys(bundle, pins)
    signed = check_case(bundle, ring)
    return Report(
        partnership=bundle.partnership,
        case=bundle.case,
        origin=bundle.origin,
        checkpoint=checkpoint.size,
        events=len(bundle.events),
        first_seq=bundle.events[0].seq,
        last_seq=bundle.events[-1].seq,
        signed=signed,
        witnessed_by=witnessed_by,
        as_of=bundle.as_of,
        pins_unused=sorted(a for a in pins or {} if not ring.registered(a)),
    )


app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)


@app.command()
def _verify(
    file: Annotated[Path, typer.Argument(help="The bundle written by 'ledger export'.")],
    witnesses: Annotated[
        int, typer.Option("--witnesses", min=0, help="Cosignatures required by known witnesses.")
    ] = 0,
    log_key: Annotated[
        str | None,
        typer.Option("--log-key", help="The log's verifier key, pinned (else the bundle's)."),
    ] = None,
    witness_key: Annotated[
        list[str] | None,
        typer.Option(
            "--witness-key",
            help="A witness's cosignature verifier key, pinned (repeatable); only these count.",
        ),
    ] = None,
    agency_key: Annotated[
        list[str] | None,
        typer.Option(
            "--agency-key",
            metavar="AGENCY:KEY",
            help="An agency's public key as the agency gave it (base64); any other key"
            " registered for that agency fails. Repeatable.",
        ),
    ] = None,
) -> None:
    """Check an inspector's bundle offline: proofs, checkpoint, cosignatures, signatures, chain.

    Exit 0 when it verifies, 1 naming the first failing event and why, 2 for a bad option.
    """
    try:
        pins = parse_agency_pins(agency_key or ())
    except ProofError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from e
    try:
        bundle = read_bundle(file)
        report = verify_bundle(
            bundle,
            witnesses=witnesses,
            log_key=log_key,
            witness_keys=witness_key or (),
            pins=pins,
        )
    except OSError as e:
        typer.echo(f"{file}: cannot be read ({e.strerror})", err=True)
        raise typer.Exit(1) from e
    except VerificationFailed as e:
        where = f"event at sequence {e.seq}" if e.seq is not None else "checkpoint"
        typer.echo(f"NOT VERIFIED: {where}: {e.reason}", err=True)
        raise typer.Exit(1) from e
    except ProofError as e:
        typer.echo(f"NOT VERIFIED: {e}", err=True)
        raise typer.Exit(1) from e
    typer.echo(report.summary())
    if report.pins_unused:  # said, not failed: an agency may have registered no key yet
        unused = ", ".join(report.pins_unused)
        typer.echo(
            f"pinned agencies that registered no key, so their pins checked nothing: {unused}",
            err=True,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the verifier as ``python -m ledger.verify``; the exit code."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="python -m ledger.verify")
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
