"""``ledger export`` (the inspector's bundle of a case) and ``ledger witness`` (an agency
cosigning the log's checkpoints over the HTTP API); docs/proofs.md, "Witnesses", "Bundles".

``ledger export`` reads the stream and the Merkle log of the local data dir (as ``ledger
serve`` does) and writes the bundle 0600. ``ledger witness`` needs nothing of the server but
its URL and the agency's API token: it fetches the latest checkpoint
(``GET /log/checkpoint``) and a consistency proof from the last one it cosigned
(``GET /log/proof/consistency?from=M&to=N``), checks them (:class:`ledger.proofs.witness.Witness`)
and posts its cosignature (``POST /log/cosignatures``).
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from interfaces._query_cli import AsOfOption, PartnershipOption, _instant
from interfaces._shell import fail, say
from ledger.errors import LedgerError
from ledger.proofs.bundle import Bundle, write_bundle
from ledger.proofs.errors import ProofUnavailable, SplitView, TreeBusy
from ledger.proofs.note import parse_verifier_key, split_checkpoint
from ledger.proofs.witness import Witness
from runtime.settings import Settings

if TYPE_CHECKING:
    from runtime.service import Service

__all__ = ["export", "witness"]


def export(
    case: Annotated[str, typer.Option("--case", help="The case to export.", show_default=False)],
    out: Annotated[
        Path,
        typer.Option("--out", help="The bundle file to write (mode 0600).", show_default=False),
    ],
    partnership: PartnershipOption,
    as_of: AsOfOption = None,
) -> None:
    """Write the inspector's bundle of a case: its events, their inclusion proofs, a witnessed
    checkpoint and the public keys; 'python -m ledger.verify FILE' checks it offline."""
    from runtime.service import open_service

    settings = Settings.from_env()
    instant = _instant(as_of, datetime.now(UTC))
    with open_service(settings) as service:
        _checkpoint_if_nobody_does(service)
        bundle = _bundle_when_covered(service, partnership, case, instant)
    write_bundle(out, bundle)
    say(f"wrote {len(bundle.events)} events of case {case} to {out}")


def _checkpoint_if_nobody_does(service: Service) -> None:
    """On a data dir no ``ledger serve`` runs on, nobody else checkpoints: bring the log up
    to the stream's end here, so that the bundle holds the case's latest events. Beside a
    running serve, its checkpointer holds the tree and publishes within
    ``LEDGER_CHECKPOINT_SECONDS``."""
    from runtime.verification import stream_end

    try:
        checkpointer = service.checkpointer()
    except TreeBusy:
        return
    checkpointer.checkpoint_to(stream_end(service.ledger))


def _bundle_when_covered(
    service: Service, partnership: str, case: str, as_of: datetime | None
) -> Bundle:
    """The bundle, once a checkpoint holds the case's last event: a running serve's
    checkpointer publishes one within ``LEDGER_CHECKPOINT_SECONDS``; waited for up to twice
    that (and 5 s more), then its refusal stands."""
    deadline = time.monotonic() + 2 * service.settings.checkpoint_seconds + 5
    while True:
        try:
            return service.bundle(partnership, case, as_of)
        except ProofUnavailable:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def _agency_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as e:
        fail(f"--key: {path} is not a readable PEM private key ({type(e).__name__})", 2)
    if not isinstance(key, Ed25519PrivateKey):
        fail(f"--key: {path} is not an Ed25519 private key", 2)
    return key


def _witness_once(client: httpx.Client, witness: Witness) -> int:
    """Cosign the latest checkpoint if it is new; its size."""
    response = client.get("/log/checkpoint")
    response.raise_for_status()
    note = response.text
    cp, _ = split_checkpoint(note)
    if cp.size == witness.size and witness.last is not None and cp.root == witness.last.root:
        return cp.size  # cosigned already
    proof: list[bytes] = []
    if witness.last is not None and cp.size > witness.size:
        answer = client.get("/log/proof/consistency", params={"from": witness.size, "to": cp.size})
        answer.raise_for_status()
        proof = [base64.b64decode(p) for p in answer.json()["proof"]]
    line = witness.consider(note, proof)
    posted = client.post(
        "/log/cosignatures",
        content=f"{cp.body()}\n{line}\n".encode(),
        headers={"Content-Type": "text/plain"},
    )
    posted.raise_for_status()
    return cp.size


def witness(
    agency: Annotated[str, typer.Option("--agency", help="The witnessing agency's id.")],
    key: Annotated[Path, typer.Option("--key", help="The agency's Ed25519 key file (PEM).")],
    log_key: Annotated[
        str, typer.Option("--log-key", envvar="LEDGER_LOG_KEY", help="The log's verifier key.")
    ],
    url: Annotated[str, typer.Option("--url", envvar="LEDGER_URL", help="The ledger service.")],
    token: Annotated[
        str, typer.Option("--token", envvar="LEDGER_TOKEN", help="The agency's API token.")
    ],
    state: Annotated[
        Path, typer.Option("--state", help="The witness's own directory (0700).")
    ] = Path("witness"),
    once: Annotated[bool, typer.Option("--once", help="Cosign the latest and exit.")] = False,
    every: Annotated[
        float, typer.Option("--every", min=1.0, help="Seconds between two looks.")
    ] = 30.0,
) -> None:
    """Cosign the log's checkpoints as the agency, each only if it extends the last one
    cosigned; refuse (exit 1, evidence kept in --state) one that does not."""
    origin, raw = parse_verifier_key(log_key)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    w = Witness(agency, _agency_key(key), origin, Ed25519PublicKey.from_public_bytes(raw), state)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30.0) as client:
        while True:
            try:
                size = _witness_once(client, w)
            except SplitView as e:
                fail(f"checkpoint refused: {e}; evidence kept in {e.evidence}")
            except LedgerError as e:
                fail(str(e))
            except httpx.HTTPError as e:
                fail(f"the ledger service at {url} did not answer as expected ({e})")
            say(f"{agency} cosigned checkpoint {size}")
            if once:
                return
            time.sleep(every)
