"""``ledger keys generate``: a new Ed25519 key for an agency to sign its commands with.

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
from pathlib import Path
from typing import Annotated

import typer

from interfaces._shell import fail, say
from ledger.signing import public_key_text
from runtime.agency_keys import write_key_file, write_service_key
from runtime.settings import Settings

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Agencies' Ed25519 signing keys: generate one (the private key in a 0600 file).",
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
