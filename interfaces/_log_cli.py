"""``ledger log key|checkpoint|prove|consistency``: the Merkle log's key, checkpoints and
proofs, each checked here before it is printed (docs/proofs.md, "The Merkle log").

Where they come from, as for the questions (:mod:`interfaces._query_cli`): ``--url``
(``LEDGER_URL``) with the API token in ``LEDGER_TOKEN``; else the ``ledger serve`` running
on the data dir, with ``LEDGER_TOKEN``; else the data dir itself (its log stream and the
checkpointer's tree file, read as ``ledger serve`` reads them). ``ledger log key`` without
``--url`` reads the data dir's key file and needs no service.

What is trusted is the log's key: ``--log-key VKEY`` (``LEDGER_LOG_KEY``) pins it (an
inspector brings the one the partnership published); else the data dir's own key, or the
service's ``GET /log/key``, which is said on stderr: a key the service gives proves only that
the service agrees with itself. A checkpoint is printed only once its origin is the key's
name and the key's signature verifies; a proof only once it verifies against the signed
checkpoints of its sizes; read from the data dir, an inclusion proof's leaf hash is also
compared with the hash of the event as stored. Anything that does not verify prints nothing
on stdout and exits 1 naming what failed; stderr says what was checked.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Final, Protocol, TypeVar

import msgspec
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console
from rich.table import Table
from rich.text import Text

from interfaces._client import Client
from interfaces._query_cli import TokenOption, UrlOption, remote_client
from interfaces._shell import fail, say
from ledger.errors import LedgerError
from ledger.proofs.entry import b64
from ledger.proofs.errors import CheckpointInvalid, ProofInvalid, SignatureInvalid
from ledger.proofs.merkle import EMPTY_ROOT, verify_consistency, verify_inclusion
from ledger.proofs.note import (
    Checkpoint,
    format_verifier_key,
    open_checkpoint,
    parse_verifier_key,
)
from runtime.settings import Settings
from schemas.log import ConsistencyProof, InclusionProof

if TYPE_CHECKING:
    from runtime.service import Service

__all__ = ["log_app"]

log_app = typer.Typer(
    help="The Merkle log: its key, its signed checkpoints, inclusion and consistency proofs"
    " (each checked before it is printed).",
    no_args_is_help=True,
)


class ProofFormat(enum.StrEnum):
    """How a proof is printed."""

    TABLE = "table"
    JSON = "json"


LogKeyOption = Annotated[
    str | None,
    typer.Option(
        "--log-key",
        envvar="LEDGER_LOG_KEY",
        metavar="VKEY",
        help="The log's verifier key to check with, <origin>+<key id>+<key> (or LEDGER_LOG_KEY);"
        " default: the data dir's, or the service's own.",
        show_default=False,
    ),
]
SizeOption = Annotated[
    int | None,
    typer.Option(
        "--size",
        min=1,
        help="The tree size of a published checkpoint (default: the latest).",
        show_default=False,
    ),
]
FormatOption = Annotated[
    ProofFormat | None,
    typer.Option(
        "--format",
        help="table or json; a table on a terminal and JSON into a pipe or file when left out.",
        show_default=False,
    ),
]

T = TypeVar("T")
_inclusion: Final = msgspec.json.Decoder(InclusionProof)
_consistency: Final = msgspec.json.Decoder(ConsistencyProof)
_encode: Final = msgspec.json.Encoder().encode


# -- where the log is read -----------------------------------------------------------------


class _Source(Protocol):
    #: The log's verifier key and where it came from (said on stderr).
    def key(self) -> tuple[str, str]: ...

    def checkpoint(self, size: int | None) -> str: ...

    def inclusion(self, seq: int, size: int | None) -> InclusionProof: ...

    def consistency(self, first: int, to: int | None) -> ConsistencyProof: ...

    #: The leaf hash of the message at ``seq`` as stored; None where it cannot be read.
    def stored_leaf(self, seq: int) -> bytes | None: ...


class _Remote:
    """A ledger service's ``/log`` routes."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def key(self) -> tuple[str, str]:
        vkey = self._client.log("key").decode("utf-8", errors="replace").strip()
        return vkey, f"given by the service at {self._client.url}, not pinned"

    def checkpoint(self, size: int | None) -> str:
        path = "checkpoint" if size is None else f"checkpoints/{size}"
        return self._client.log(path).decode("utf-8", errors="replace")

    def inclusion(self, seq: int, size: int | None) -> InclusionProof:
        params = {"seq": str(seq)} | ({} if size is None else {"size": str(size)})
        return _decoded(_inclusion, self._client.log("proof/inclusion", params))

    def consistency(self, first: int, to: int | None) -> ConsistencyProof:
        params = {"from": str(first)} | ({} if to is None else {"to": str(to)})
        return _decoded(_consistency, self._client.log("proof/consistency", params))

    def stored_leaf(self, seq: int) -> bytes | None:
        return None


class _Local:
    """The data dir's log: its stream, its tree file and its key, read here."""

    def __init__(self, service: Service) -> None:
        self._service = service
        self._log = service.merkle_log

    def key(self) -> tuple[str, str]:
        return format_verifier_key(self._log.origin, self._log.log_key), "the data dir's"

    def checkpoint(self, size: int | None) -> str:
        return self._log.latest_checkpoint() if size is None else self._log.checkpoint(size)

    def inclusion(self, seq: int, size: int | None) -> InclusionProof:
        return self._log.inclusion_proof(seq, size)

    def consistency(self, first: int, to: int | None) -> ConsistencyProof:
        return self._log.consistency_proof(first, to)

    def stored_leaf(self, seq: int) -> bytes | None:
        from nats.aio.client import Client as Nats

        from ledger.nats import NatsAggregateRecorder, StoredMsg, direct_get
        from ledger.proofs.entry import entry_hash

        recorder = self._service.ledger.recorder
        assert isinstance(recorder, NatsAggregateRecorder)  # the Merkle log checked it

        async def get(nc: Nats) -> StoredMsg | None:
            return await direct_get(nc, recorder.stream, {"seq": seq}, recorder.timeout)

        msg = recorder.pool.run(get)
        if msg is None:
            fail(
                f"not verified: sequence {seq}: the stream holds no message there, yet a"
                " checkpoint covers it; rule: the stream refuses deletion and purge"
            )
        return entry_hash(msg.subject, msg.headers, msg.data)


def _decoded(decoder: msgspec.json.Decoder[T], data: bytes) -> T:
    try:
        return decoder.decode(data)
    except msgspec.DecodeError as error:
        fail(f"the service's answer is not a proof ({error})")


@contextmanager
def _source(url: str | None, token: str | None) -> Iterator[_Source]:
    settings = Settings.from_env()
    client = remote_client(settings, url, token)
    if client is not None:
        with client:
            yield _Remote(client)
        return
    from runtime.service import open_service

    with open_service(settings) as service:
        yield _Local(service)


# -- checking ------------------------------------------------------------------------------


class _Key(msgspec.Struct, frozen=True):
    origin: str
    public_key: Ed25519PublicKey
    vkey: str
    whence: str


def _trusted_key(source: _Source, pinned: str | None) -> _Key:
    if pinned is not None:
        vkey, whence = pinned.strip(), "pinned"
    else:
        vkey, whence = source.key()
    try:
        origin, raw = parse_verifier_key(vkey)
    except SignatureInvalid as error:
        if pinned is not None:
            fail(f"--log-key: {error}", 2)
        fail(f"the log's key ({whence}): {error}")
    return _Key(origin, Ed25519PublicKey.from_public_bytes(raw), vkey, whence)


def _signed(source: _Source, key: _Key, size: int | None) -> tuple[Checkpoint, str]:
    """The checkpoint of ``size`` (the latest) once its origin and signature are the key's."""
    note = source.checkpoint(size)
    cp = open_checkpoint(note, key.origin, key.public_key)
    if size is not None and cp.size != size:
        fail(f"the checkpoint asked of size {size} is of size {cp.size}")
    return cp, note


def _signed_by(key: _Key) -> str:
    return f"signed by the log key {key.vkey.rsplit('+', 1)[0]} ({key.whence})"


def _guarded(run: Callable[[], None]) -> None:
    try:
        run()
    except (CheckpointInvalid, ProofInvalid, SignatureInvalid) as error:
        fail(f"not verified: {error}")
    except LedgerError as error:
        fail(str(error))


# -- the commands --------------------------------------------------------------------------


@log_app.command("key")
def key_command(url: UrlOption = None, token: TokenOption = None) -> None:
    """Print the log's verifier key (C2SP signed-note): what witnesses, 'ledger verify
    --log-key' and 'python -m ledger.verify --log-key' check checkpoints with."""

    def run() -> None:
        if url is None:
            from runtime.log_key import log_key

            settings = Settings.from_env()
            try:
                private = log_key(settings.data_dir, create=False)
            except FileNotFoundError:
                fail(
                    f"data dir {settings.data_dir} holds no log key yet:"
                    " 'ledger serve' makes it on its first start (or give --url)"
                )
            typer.echo(format_verifier_key(settings.origin, private.public_key()))
            return
        with _source(url, token) as source:
            typer.echo(_trusted_key(source, None).vkey)

    _guarded(run)


@log_app.command("checkpoint")
def checkpoint_command(
    size: SizeOption = None,
    log_key: LogKeyOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print the latest signed checkpoint (or that of --size), with the agencies'
    cosignatures, once the log key's signature on it verifies."""

    def run() -> None:
        with _source(url, token) as source:
            key = _trusted_key(source, log_key)
            cp, note = _signed(source, key, size)
        sys.stdout.write(note)
        sys.stdout.flush()
        say(f"checkpoint of size {cp.size} from {cp.origin}: {_signed_by(key)}")

    _guarded(run)


@log_app.command("prove")
def prove_command(
    seq: Annotated[int, typer.Argument(metavar="SEQ", min=1, help="The event's stream sequence.")],
    size: SizeOption = None,
    fmt: FormatOption = None,
    log_key: LogKeyOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print the inclusion proof of the event at sequence SEQ in the tree of the latest
    checkpoint (or of --size), once it verifies against that signed checkpoint."""

    def run() -> None:
        with _source(url, token) as source:
            key = _trusted_key(source, log_key)
            proof = source.inclusion(seq, size)
            cp, note = _signed(source, key, proof.size)
            stored = source.stored_leaf(seq)
        if proof.seq != seq or proof.index != seq - 1 or size not in (None, proof.size):
            fail(
                f"the service answered the proof of sequence {proof.seq} in the tree of size"
                f" {proof.size}, not what was asked"
            )
        verify_inclusion(proof.leaf_hash, proof.index, proof.size, proof.proof, cp.root)
        leaf = "the leaf hash as the service gave it (the event itself is not read here)"
        if stored is not None:
            if stored != proof.leaf_hash:
                fail(
                    f"not verified: sequence {seq}: the event as stored does not hash to the"
                    f" proven leaf {b64(proof.leaf_hash)}; rule: a leaf is the entry hash of"
                    " the message as stored (docs/proofs.md, 'Entries and leaf hashes')"
                )
            leaf = "the leaf hash is the event's as stored"
        _print(
            fmt,
            f"inclusion proof of sequence {seq}",
            {
                "seq": seq,
                "index": proof.index,
                "size": proof.size,
                "origin": cp.origin,
                "root": b64(cp.root),
                "leaf_hash": b64(proof.leaf_hash),
                "proof": [b64(h) for h in proof.proof],
                "checkpoint": note,
            },
        )
        say(
            f"verified: sequence {seq} is leaf {proof.index} of the tree of size {proof.size},"
            f" whose checkpoint is {_signed_by(key)}; {leaf}"
        )

    _guarded(run)


@log_app.command("consistency")
def consistency_command(
    first: Annotated[
        int, typer.Argument(metavar="M", min=0, help="The smaller checkpoint's tree size.")
    ],
    to: Annotated[
        int | None,
        typer.Argument(
            metavar="[N]", min=1, help="The larger one's (default: the latest).", show_default=False
        ),
    ] = None,
    fmt: FormatOption = None,
    log_key: LogKeyOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print the consistency proof that the tree of checkpoint M is a prefix of the tree of
    checkpoint N (the latest by default), once it verifies against both signed checkpoints."""
    if to is not None and first > to:
        fail(f"M: {first} is larger than N {to}; rule: a tree only grows (M <= N)", 2)

    def run() -> None:
        with _source(url, token) as source:
            key = _trusted_key(source, log_key)
            proof = source.consistency(first, to)
            new, _ = _signed(source, key, proof.to)
            old = _signed(source, key, first)[0].root if first > 0 else EMPTY_ROOT
        if proof.first != first or (to is not None and proof.to != to):
            fail(f"the service answered the proof from {proof.first} to {proof.to}")
        verify_consistency(first, proof.to, old, new.root, proof.proof)
        _print(
            fmt,
            f"consistency proof from {first} to {proof.to}",
            {
                "from": first,
                "to": proof.to,
                "origin": new.origin,
                "from_root": b64(old),
                "to_root": b64(new.root),
                "proof": [b64(h) for h in proof.proof],
            },
        )
        say(
            f"verified: the tree of size {first} is a prefix of the tree of size {proof.to};"
            f" both checkpoints {_signed_by(key)}"
        )

    _guarded(run)


def _print(fmt: ProofFormat | None, title: str, fields: dict[str, Any]) -> None:
    """``fields`` on stdout: one JSON object, or a table of field and value."""
    if fmt is None:
        fmt = ProofFormat.TABLE if sys.stdout.isatty() else ProofFormat.JSON
    if fmt is ProofFormat.JSON:
        sys.stdout.buffer.write(_encode(fields) + b"\n")
        sys.stdout.flush()
        return
    table = Table("field", "value", title=title, title_justify="left", show_header=False)
    for name, value in fields.items():
        shown = "\n".join(value) if isinstance(value, list) else str(value).rstrip("\n")
        table.add_row(Text(name), Text(shown or "(none)"))
    Console().print(table)
