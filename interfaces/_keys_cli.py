"""``ledger keys``: an agency's Ed25519 keys: generate one, register a later one, revoke one.

``ledger keys register NEW_ID --public-key B64 (or --new-key FILE) --key FILE --key-id ID``
registers an agency's later key signed by one of its live keys (``--key``, registered as
``--key-id``); ``ledger keys revoke KEY_ID --reason R --key FILE --key-id ID`` revokes one
under a live key's signature (the key itself, or another). Once an agency has a live key,
the ledger refuses its key events signed otherwise (docs/proofs.md, "Who may register and
revoke an agency's keys"); an agency's first key is registered without (``ledger record
RegisterAgencyKey``). Both go to a service (``--url``/``LEDGER_URL``, or the ``ledger
serve`` on the data dir) or the data dir itself, as ``ledger record`` does, and print the
receipt.

``ledger keys generate``: a new Ed25519 key for an agency to sign its commands with.

``--out FILE`` writes the private key (PEM, PKCS#8) readable by its owner only (0600),
never over an existing file; ``--service --agency A --key-id K`` instead writes a key
the service holds for agency ``A`` (delegation, ``custody: service``) into the data dir
(``<data dir>/keys/agencies/A/K.key``). Either way the public key is printed on stdout
as the fields of an ``AgencyKeyRegistered`` (``ledger record RegisterAgencyKey --json -``
takes them once ``partnership`` is added): the private key is never printed.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import typer

from interfaces._options import InvalidOption
from interfaces._query_cli import TokenOption, UrlOption
from interfaces._record_cli import (
    ActorOption,
    AgencyOption,
    KeyIdOption,
    KeyOption,
    record_command,
)
from interfaces._shell import fail, say
from ledger.errors import LedgerError
from ledger.signing import load_private_key, public_key_text
from runtime.agency_keys import write_key_file, write_service_key
from runtime.settings import Settings

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Agencies' Ed25519 signing keys: generate one (the private key in a 0600 file),"
    " register a later one or revoke one under a live key's signature.",
    no_args_is_help=True,
)


@keys_app.command("generate")
def generate(
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Write the private key here (0600)."),
    ] = None,
    service: Annotated[
        bool,
        typer.Option(
            "--service", help="Keep it in the data dir as a key the service holds for --agency."
        ),
    ] = False,
    agency: Annotated[
        str | None, typer.Option("--agency", help="The agency the key is for.")
    ] = None,
    key_id: Annotated[
        str | None, typer.Option("--key-id", help="The id to register the key under.")
    ] = None,
) -> None:
    """Generate an Ed25519 key; print its public key in the AgencyKeyRegistered form."""
    if service == (out is not None):
        fail("give either --out FILE, or --service with --agency and --key-id", 2)
    try:
        if service:
            if agency is None or key_id is None:
                fail("--service needs --agency and --key-id", 2)
                return
            keys_dir = Settings.from_env().agency_keys_dir
            key = write_service_key(keys_dir, agency, key_id)
            where = f"{keys_dir}/{agency}/{key_id}.key"
        else:
            assert out is not None
            key = write_key_file(out)
            where = str(out)
    except (OSError, ValueError) as error:
        fail(str(error))
        return
    fields: dict[str, str] = {"algorithm": "ed25519", "public_key": public_key_text(key)}
    if agency is not None:
        fields["agency"] = agency
    if key_id is not None:
        fields["key_id"] = key_id
    fields["custody"] = "service" if service else "agency"
    sys.stdout.write(json.dumps(fields, indent=2) + "\n")
    say(f"private key written to {where} (mode 0600); register the public key above")


PartnershipOption = Annotated[
    str,
    typer.Option(
        "--partnership",
        envvar="LEDGER_PARTNERSHIP",
        help="The partnership (or LEDGER_PARTNERSHIP).",
    ),
]
KeysAgencyOption = Annotated[str, typer.Option("--agency", help="The agency whose key it is.")]
OccurredOption = Annotated[
    str | None,
    typer.Option(
        "--occurred-at",
        metavar="INSTANT",
        help="When it happened (RFC 3339); now by default (a signed command states it).",
        show_default=False,
    ),
]


def _send(tag: str, fields: dict[str, Any], given: dict[str, Any]) -> None:
    """Record ``tag`` of ``fields`` signed with ``given``'s ``--key``/``--key-id``; exit 2
    on a usage error, 1 when the ledger refuses it."""
    fields["occurred_at"] = given["occurred_at"] or datetime.now(UTC).isoformat()
    try:
        receipt = record_command(tag, fields, given, key_file=given["key"], key_id=given["key_id"])
    except InvalidOption as error:
        fail(str(error), 2)
        return
    except LedgerError as error:
        fail(str(error))
        return
    sys.stdout.buffer.write(msgspec.json.encode(receipt) + b"\n")
    sys.stdout.flush()
    say(f"recorded {receipt.event_type} at sequence {receipt.sequence}")


@keys_app.command("register")
def register(
    new_key_id: Annotated[str, typer.Argument(metavar="NEW_KEY_ID", help="The new key's id.")],
    partnership: PartnershipOption,
    agency: KeysAgencyOption,
    key: KeyOption = None,
    key_id: KeyIdOption = None,
    public_key: Annotated[
        str | None,
        typer.Option("--public-key", help="The new key's public key (base64, 32 bytes)."),
    ] = None,
    new_key: Annotated[
        Path | None,
        typer.Option(
            "--new-key", metavar="FILE", help="Take the public key from this private key file."
        ),
    ] = None,
    custody: Annotated[
        str,
        typer.Option("--custody", help="agency, or service: the service holds it (delegation)."),
    ] = "agency",
    occurred_at: OccurredOption = None,
    as_agency: AgencyOption = None,
    as_actor: ActorOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Register a later key of --agency, signed by its live key --key FILE --key-id ID."""
    if (public_key is None) == (new_key is None):
        fail("give the new key as either --public-key B64 or --new-key FILE", 2)
    if new_key is not None:
        try:
            public_key = public_key_text(load_private_key(new_key))
        except LedgerError as error:
            fail(str(error))
    fields: dict[str, Any] = {
        "partnership": partnership,
        "agency": agency,
        "key_id": new_key_id,
        "public_key": public_key,
        "custody": custody,
    }
    _send("RegisterAgencyKey", fields, dict(locals()))


@keys_app.command("revoke")
def revoke(
    revoked: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key to revoke.")],
    partnership: PartnershipOption,
    agency: KeysAgencyOption,
    reason: Annotated[
        Literal["rotated", "compromised", "retired"],
        typer.Option("--reason", help="rotated, compromised or retired."),
    ],
    key: KeyOption = None,
    key_id: KeyIdOption = None,
    occurred_at: OccurredOption = None,
    as_agency: AgencyOption = None,
    as_actor: ActorOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Revoke key KEY_ID of --agency, signed by a live key --key FILE --key-id ID."""
    fields: dict[str, Any] = {
        "partnership": partnership,
        "agency": agency,
        "key_id": revoked,
        "reason": reason,
    }
    _send("RevokeAgencyKey", fields, dict(locals()))
