"""The inspector's bundle: one file that proves a case's history without the server.

docs/proofs.md, "Bundles". A bundle holds the case's stored messages (subject, headers,
payload exactly as stored, stream sequence) from its first event on, the partnership's key
events (``AgencyKeyRegistered``, ``AgencyKeyRevoked``, ``SignaturesRequired``) up to the
checkpoint, an RFC 9162 inclusion proof of each against one checkpoint, that checkpoint's
note with the log's signature and the witnesses' cosignatures, and the public keys: the
log's verifier key and the witnesses'. It is JSON (msgspec; bytes as standard base64), so
another language can read it.

:func:`select_checkpoint` picks the checkpoint a bundle is built against; the checks are
:func:`ledger.verify.verify_bundle` (``python -m ledger.verify FILE``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

import msgspec

from ledger.private_files import private_dir, write_private
from ledger.proofs.errors import CheckpointInvalid
from ledger.proofs.keys import KEY_EVENTS  # the partnership events a bundle carries
from schemas.wire import HDR_PREV_HASH, HDR_SIGNATURE, HDR_TOPIC, HDR_VERSION

__all__ = [
    "BUNDLE_VERSION",
    "KEY_EVENTS",
    "Bundle",
    "BundleEntry",
    "decode_bundle",
    "encode_bundle",
    "read_bundle",
    "select_checkpoint",
    "stored_headers",
    "write_bundle",
]

#: The format's version; a reader refuses any other.
BUNDLE_VERSION: Final = 1
#: The headers a bundle keeps of a stored message: those its entry covers.
_KEPT: Final = (HDR_TOPIC, HDR_VERSION, HDR_PREV_HASH, HDR_SIGNATURE)


class BundleEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One stored message of the ledger stream and its inclusion proof (leaf ``seq - 1``)."""

    seq: int
    subject: str
    headers: dict[str, str]
    payload: bytes
    proof: list[bytes]


class Bundle(msgspec.Struct, frozen=True, kw_only=True):
    """A case's proven history (docs/proofs.md, "Bundles")."""

    version: int = BUNDLE_VERSION
    #: The log's origin (the checkpoint's first line, and the log key's name).
    origin: str
    #: The log's C2SP note verifier key: ``<origin>+<key hash hex>+<base64(0x01 || key)>``.
    log_key: str
    #: The checkpoint note: body, blank line, the log's signature and the cosignatures.
    checkpoint: str
    #: The witnesses' verifier keys (key name: the agency id), as the exporter knew them.
    witnesses: list[str] = []
    partnership: str
    case: str
    #: The case's subject on the ledger stream; every event of ``events`` is on it.
    subject: str
    #: Only events recorded by then, when set (``ledger export --as-of``).
    as_of: dt.datetime | None = None
    events: list[BundleEntry] = []
    #: The partnership's key events up to the checkpoint, in sequence order.
    keys: list[BundleEntry] = []


_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(Bundle)


def stored_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The headers of a stored message a bundle keeps: those its entry covers, if present."""
    h = headers or {}
    return {name: h[name] for name in _KEPT if name in h}


def encode_bundle(bundle: Bundle) -> bytes:
    """The bundle's bytes (JSON, one line, a final newline)."""
    return _encoder.encode(bundle) + b"\n"


def decode_bundle(data: bytes) -> Bundle:
    """A bundle from its bytes; :class:`CheckpointInvalid` if they are not one of this version."""
    try:
        bundle = _decoder.decode(data)
    except msgspec.DecodeError as e:  # ValidationError is a DecodeError
        msg = f"bundle: is not a ledger bundle ({e})"
        raise CheckpointInvalid(msg) from e
    if bundle.version != BUNDLE_VERSION:
        msg = f"bundle: version {bundle.version} is not {BUNDLE_VERSION}, the one this reads"
        raise CheckpointInvalid(msg)
    return bundle


def write_bundle(path: Path, bundle: Bundle) -> None:
    """Write ``bundle`` to ``path`` (mode 0600: it holds the case's personal data)."""
    private_dir(path.parent)
    write_private(path, encode_bundle(bundle))


def read_bundle(path: Path) -> Bundle:
    """The bundle in the file at ``path``."""
    return decode_bundle(path.read_bytes())


def select_checkpoint(candidates: Iterable[tuple[int, bool]], needed: int) -> int | None:
    """The tree size to build a bundle against: of the checkpoints ``(size, witnessed)``,
    the smallest witnessed one whose tree holds sequence ``needed`` (size >= needed), else
    the smallest such unwitnessed one; None when none is large enough."""
    covering = [(not witnessed, size) for size, witnessed in candidates if size >= needed]
    return min(covering)[1] if covering else None
