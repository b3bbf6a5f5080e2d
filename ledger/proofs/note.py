"""Signed notes, checkpoints and cosignatures, byte for byte as the C2SP specifications say.

- ``c2sp.org/signed-note`` (C2SP/C2SP ``signed-note.md``; the reference implementation is
  ``golang.org/x/mod/sumdb/note``, whose ``note_test.go`` vectors the tests check): a note is
  a text ending in a newline, a blank line, then one line per signature,
  ``U+2014 U+0020 <key name> U+0020 base64(key ID || signature) U+000A``. Key names are
  non-empty, with no Unicode space and no ``+``; the key ID is
  ``SHA-256(<key name> || 0x0A || <signature type> || <public key>)[:4]``, type ``0x01`` for
  Ed25519 note signatures. The text is split from the signatures at the *last* blank line;
  notes hold no ASCII control character but the newline. A signature by a known key that
  does not verify rejects the whole note; signatures by unknown keys are ignored. A verifier
  key is ``<name>+<hex key ID>+base64(<type> || <public key>)`` (Go's ``NewVerifier``).
- ``c2sp.org/tlog-checkpoint`` (``tlog-checkpoint.md``): the note text is the origin, the
  tree size in decimal without leading zeros, the root hash in base64, then optional
  non-empty extension lines. The log's key name is its origin.
- ``c2sp.org/tlog-cosignature`` (``tlog-cosignature.md``), Ed25519 ``cosignature/v1``: key
  ID type ``0x04``; the signature is ``u64 big-endian timestamp || Ed25519 signature`` over
  ``"cosignature/v1\\n" "time " <decimal timestamp> "\\n"`` followed by the whole checkpoint
  text (extension lines included). A cosignature states that, as of that time, this is the
  largest consistent tree the cosigner has seen for the origin.

Base64 is the standard alphabet with padding (RFC 4648 section 4); this module accepts only
the canonical spelling of any bytes. Ed25519 is :mod:`ledger.proofs.ed25519`'s (libsodium's
rule, the same as for the agencies' signatures); a verifier key must be one a registration
would accept. Errors: :class:`CheckpointInvalid` for notes, checkpoints and cosignatures,
:class:`SignatureInvalid` for a malformed key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Final

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.proofs import ed25519
from ledger.proofs.errors import CheckpointInvalid, SignatureInvalid
from ledger.proofs.merkle import HASH_SIZE

__all__ = [
    "COSIGNATURE_V1",
    "SIG_COSIGNATURE_V1",
    "SIG_ED25519",
    "Checkpoint",
    "cosign",
    "cosignature_message",
    "cosigned_note",
    "format_verifier_key",
    "key_hash",
    "note_signatures",
    "open_checkpoint",
    "parse_verifier_key",
    "quorum",
    "sign_checkpoint",
    "sign_note",
    "split_checkpoint",
    "valid_name",
    "verify_cosignature",
    "verify_note",
]

#: Signature type of an Ed25519 note signature (signed-note).
SIG_ED25519: Final = 0x01
#: Signature type of a timestamped Ed25519 cosignature (tlog-cosignature, ``cosignature/v1``).
SIG_COSIGNATURE_V1: Final = 0x04
COSIGNATURE_V1: Final = "cosignature/v1"
#: The most signature lines a note may carry (Go's ``note.Open`` refuses more than 100).
MAX_SIGNATURES: Final = 100
_DASH: Final = "\u2014 "
_ED25519_KEY: Final = 32
_ED25519_SIG: Final = 64
_MAX_TIMESTAMP: Final = 2**63 - 1
_CONTROL: Final = re.compile(r"[\x00-\x09\x0b-\x1f]")
_DECIMAL: Final = re.compile(r"0|[1-9][0-9]*")
_HEX8: Final = re.compile(r"[0-9a-f]{8}")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str, error: type[Exception] = CheckpointInvalid) -> bytes:
    """Canonical standard base64 to bytes, else ``error`` naming ``what``."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as e:
        msg = f"{what}: is not standard base64 with padding"
        raise error(msg) from e
    if _b64(raw) != text:
        msg = f"{what}: is not the canonical base64 of its bytes"
        raise error(msg)
    return raw


def valid_name(name: str) -> bool:
    """Whether ``name`` may name a key: non-empty, no Unicode space, no ``+``, no control."""
    return (
        bool(name)
        and "+" not in name
        and not any(c.isspace() for c in name)
        and _CONTROL.search(name) is None
    )


def _raw_key(public_key: bytes | Ed25519PublicKey) -> bytes:
    raw = public_key if isinstance(public_key, bytes) else public_key.public_bytes_raw()
    if len(raw) != _ED25519_KEY:
        msg = f"public key: holds {len(raw)} bytes where an Ed25519 key has {_ED25519_KEY}"
        raise SignatureInvalid(msg)
    return raw


def key_hash(name: str, public_key: bytes | Ed25519PublicKey, sig_type: int) -> bytes:
    """The 4-byte key ID: ``SHA-256(name || 0x0A || sig_type || public key)[:4]``."""
    data = name.encode() + b"\n" + bytes([sig_type]) + _raw_key(public_key)
    return hashlib.sha256(data).digest()[:4]


def format_verifier_key(
    name: str, public_key: bytes | Ed25519PublicKey, sig_type: int = SIG_ED25519
) -> str:
    """The verifier key string ``<name>+<hex key ID>+base64(sig_type || public key)``."""
    if not valid_name(name):
        msg = f"key name {name!r}: is empty or holds a space, a '+' or a control character"
        raise SignatureInvalid(msg)
    raw = _raw_key(public_key)
    return f"{name}+{key_hash(name, raw, sig_type).hex()}+{_b64(bytes([sig_type]) + raw)}"


def parse_verifier_key(text: str, sig_type: int = SIG_ED25519) -> tuple[str, bytes]:
    """``(name, raw public key)`` from a verifier key string of ``sig_type``; strict."""
    name, _, rest = text.partition("+")
    hex_id, _, key64 = rest.partition("+")
    if not valid_name(name) or _HEX8.fullmatch(hex_id) is None or not key64:
        msg = "verifier key: is not '<name>+<8 lower-case hex digits>+<base64 key>'"
        raise SignatureInvalid(msg)
    key = _unb64(key64, "verifier key", SignatureInvalid)
    if key[:1] != bytes([sig_type]):
        msg = f"verifier key: is not of signature type 0x{sig_type:02x}"
        raise SignatureInvalid(msg)
    raw = key[1:]
    if len(raw) != _ED25519_KEY:
        msg = f"verifier key: holds {len(raw)} key bytes where an Ed25519 key has {_ED25519_KEY}"
        raise SignatureInvalid(msg)
    if key_hash(name, raw, sig_type).hex() != hex_id:
        msg = f"verifier key: key ID {hex_id} is not the hash of name {name!r} and its key"
        raise SignatureInvalid(msg)
    problem = ed25519.public_key_problem(raw)
    if problem is not None:
        msg = (
            f"verifier key: the public key {problem} (rule: a key is the canonical encoding "
            "of a point of prime order; docs/proofs.md, 'Ed25519')"
        )
        raise SignatureInvalid(msg)
    return name, raw


# -- signed notes ----------------------------------------------------------------------------


def _check_text(text: str, what: str) -> None:
    if not text.endswith("\n"):
        msg = f"{what}: does not end in a newline"
        raise CheckpointInvalid(msg)
    if _CONTROL.search(text):
        msg = f"{what}: holds an ASCII control character other than the newline"
        raise CheckpointInvalid(msg)


def _split(note: str) -> tuple[str, list[str]]:
    """The text of ``note`` (with its final newline) and its signature lines (without)."""
    _check_text(note, "note")
    at = note.rfind("\n\n")
    if at < 0:
        msg = "note: has no blank line before its signatures"
        raise CheckpointInvalid(msg)
    text, block = note[: at + 1], note[at + 2 :]
    if not block:
        msg = "note: has no signature line"
        raise CheckpointInvalid(msg)
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        msg = f"note: has {len(lines)} signature lines, more than the {MAX_SIGNATURES} allowed"
        raise CheckpointInvalid(msg)
    for line in lines:
        _parse_line(line)
    return text, lines


def _parse_line(line: str) -> tuple[str, bytes]:
    """``(key name, key ID || signature)`` of one signature line (no newline)."""
    if not line.startswith(_DASH):
        msg = "note: a signature line does not start with an em dash and a space"
        raise CheckpointInvalid(msg)
    name, sep, sig64 = line[len(_DASH) :].partition(" ")
    if not sep or not valid_name(name) or not sig64:
        msg = "note: a signature line is not '\u2014 <key name> <base64 signature>'"
        raise CheckpointInvalid(msg)
    raw = _unb64(sig64, f"note: the signature by {name!r}")
    if len(raw) < 5:
        msg = f"note: the signature by {name!r} holds {len(raw)} bytes, fewer than 5"
        raise CheckpointInvalid(msg)
    return name, raw


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """``text`` signed by ``key`` under key name ``name`` (an Ed25519 note signature)."""
    _check_text(text, "note text")
    if not valid_name(name):
        msg = f"key name {name!r}: is empty or holds a space, a '+' or a control character"
        raise CheckpointInvalid(msg)
    kid = key_hash(name, key.public_key(), SIG_ED25519)
    signature = ed25519.sign(key, text.encode())
    return f"{text}\n{_DASH}{name} {_b64(kid + signature)}\n"


def note_signatures(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """The text of ``note`` and, per signature line, ``(key name, key ID || signature)``.

    Nothing is verified: the text must be ignored until :func:`verify_note` accepts it.
    """
    text, lines = _split(note)
    return text, [_parse_line(line) for line in lines]


def verify_note(note: str, name: str, public_key: bytes | Ed25519PublicKey) -> str:
    """The text of ``note`` if the key ``name``/``public_key`` signed it, else raise.

    Every line by that key (name and key ID) must verify; lines by other keys are ignored.
    """
    text, signatures = note_signatures(note)
    key = _raw_key(public_key)
    kid = key_hash(name, key, SIG_ED25519)
    label = f"{name}+{kid.hex()}"
    found = False
    for signer, raw in signatures:
        if signer != name or raw[:4] != kid:
            continue
        if not ed25519.verify(key, raw[4:], text.encode()):
            msg = f"note: the signature by key {label} does not verify"
            raise CheckpointInvalid(msg)
        found = True
    if not found:
        msg = f"note: carries no signature by key {label}"
        raise CheckpointInvalid(msg)
    return text


# -- checkpoints -----------------------------------------------------------------------------


class Checkpoint(msgspec.Struct, frozen=True):
    """A tree head: the log's ``origin``, the tree ``size``, its ``root`` hash (32 bytes)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or _CONTROL.search(self.origin):
            msg = "checkpoint origin: is empty or holds a control character"
            raise CheckpointInvalid(msg)
        if isinstance(self.size, bool) or not 0 <= self.size <= _MAX_TIMESTAMP:
            msg = f"checkpoint size: {self.size} is not a tree size"
            raise CheckpointInvalid(msg)
        if len(self.root) != HASH_SIZE:
            msg = f"checkpoint root: holds {len(self.root)} bytes where {HASH_SIZE} are required"
            raise CheckpointInvalid(msg)
        for e in self.extensions:
            if not e or "\n" in e or _CONTROL.search(e):
                msg = "checkpoint extension line: is empty or holds a control character"
                raise CheckpointInvalid(msg)

    def body(self) -> str:
        """The note text: origin, size, base64 root and extension lines, each ending in \\n."""
        lines = [self.origin, str(self.size), _b64(self.root), *self.extensions]
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """The checkpoint whose note text is ``text``; strict (tlog-checkpoint)."""
        _check_text(text, "checkpoint")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            msg = f"checkpoint: has {len(lines)} lines where origin, size and root are required"
            raise CheckpointInvalid(msg)
        origin, size, root, *extensions = lines
        if _DECIMAL.fullmatch(size) is None:
            msg = "checkpoint size: is not a decimal number without leading zeros"
            raise CheckpointInvalid(msg)
        raw = _unb64(root, "checkpoint root")
        return cls(origin, int(size), raw, tuple(extensions))


def sign_checkpoint(cp: Checkpoint, name: str, key: Ed25519PrivateKey) -> str:
    """``cp`` as a note signed by the log's ``key`` (its key name should be ``cp.origin``)."""
    return sign_note(cp.body(), name, key)


def open_checkpoint(note: str, origin: str, log_key: bytes | Ed25519PublicKey) -> Checkpoint:
    """The checkpoint in ``note`` if it is ``origin``'s and signed by ``origin``'s log key."""
    text, _ = _split(note)
    cp = Checkpoint.parse(text)
    if cp.origin != origin:
        msg = f"checkpoint: is from origin {cp.origin!r} where {origin!r} is expected"
        raise CheckpointInvalid(msg)
    verify_note(note, origin, log_key)
    return cp


def split_checkpoint(note: str) -> tuple[Checkpoint, list[str]]:
    """The (unverified) checkpoint of ``note`` and its signature lines, the log's included."""
    text, lines = _split(note)
    return Checkpoint.parse(text), lines


# -- cosignatures ----------------------------------------------------------------------------


def cosignature_message(cp: Checkpoint, timestamp: int) -> bytes:
    """What a ``cosignature/v1`` signs: header line, time line, then the checkpoint text."""
    return f"{COSIGNATURE_V1}\ntime {timestamp}\n{cp.body()}".encode()


def cosign(cp: Checkpoint, name: str, key: Ed25519PrivateKey, timestamp: int) -> str:
    """The cosignature line (no newline) of witness ``name`` with ``key`` at ``timestamp``."""
    if not valid_name(name):
        msg = f"key name {name!r}: is empty or holds a space, a '+' or a control character"
        raise CheckpointInvalid(msg)
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        msg = f"cosignature timestamp: {timestamp} is not between 0 and 2^63 - 1"
        raise CheckpointInvalid(msg)
    kid = key_hash(name, key.public_key(), SIG_COSIGNATURE_V1)
    signature = ed25519.sign(key, cosignature_message(cp, timestamp))
    return f"{_DASH}{name} {_b64(kid + timestamp.to_bytes(8, 'big') + signature)}"


def verify_cosignature(
    cp: Checkpoint, line: str, name: str, public_key: bytes | Ed25519PublicKey
) -> int:
    """The timestamp of cosignature ``line`` if witness ``name``/``public_key`` made it over
    ``cp``; :class:`CheckpointInvalid` naming what failed otherwise."""
    signer, raw = _parse_line(line.removesuffix("\n"))
    what = f"cosignature of {cp.origin} at size {cp.size}"
    if signer != name:
        msg = f"{what}: is by {signer!r} where {name!r} is expected"
        raise CheckpointInvalid(msg)
    key = _raw_key(public_key)
    kid = key_hash(name, key, SIG_COSIGNATURE_V1)
    if raw[:4] != kid:
        msg = f"{what}: key ID {raw[:4].hex()} is not {name}'s cosigning key ID {kid.hex()}"
        raise CheckpointInvalid(msg)
    if len(raw) != 4 + 8 + _ED25519_SIG:
        msg = f"{what} by {name}: holds {len(raw)} bytes where {4 + 8 + _ED25519_SIG} are required"
        raise CheckpointInvalid(msg)
    timestamp = int.from_bytes(raw[4:12], "big")
    if timestamp > _MAX_TIMESTAMP:
        msg = f"{what} by {name}: timestamp {timestamp} exceeds 2^63 - 1"
        raise CheckpointInvalid(msg)
    if not ed25519.verify(key, raw[12:], cosignature_message(cp, timestamp)):
        msg = f"{what} by {name}: does not verify over this checkpoint and time"
        raise CheckpointInvalid(msg)
    return timestamp


def cosigned_note(cp: Checkpoint, lines: Sequence[str]) -> str:
    """``cp`` as a note carrying signature ``lines`` (the log's and the witnesses'), each once."""
    if not lines:
        msg = "note: has no signature line"
        raise CheckpointInvalid(msg)
    kept: dict[str, None] = {}
    for line in lines:
        bare = line.removesuffix("\n")
        _parse_line(bare)
        kept[bare] = None
    if len(kept) > MAX_SIGNATURES:
        msg = f"note: has {len(kept)} signature lines, more than the {MAX_SIGNATURES} allowed"
        raise CheckpointInvalid(msg)
    return cp.body() + "\n" + "".join(f"{line}\n" for line in kept)


def quorum(
    cp: Checkpoint,
    lines: Sequence[str],
    witnesses: Mapping[str, bytes | Ed25519PublicKey],
    required: int,
) -> list[str]:
    """The names (sorted) of the ``witnesses`` whose cosignature among ``lines`` verifies over
    ``cp``; :class:`CheckpointInvalid` if they are fewer than ``required``.

    Lines by other keys, malformed lines and lines that do not verify count for no one.
    """
    verified: list[str] = []
    for name, key in sorted(witnesses.items()):
        for line in lines:
            try:
                verify_cosignature(cp, line, name, key)
            except CheckpointInvalid:
                continue
            verified.append(name)
            break
    if len(verified) < required:
        who = ", ".join(verified) or "none"
        msg = (
            f"checkpoint {cp.origin} at size {cp.size}: cosigned by {len(verified)} known "
            f"witnesses ({who}) where {required} are required"
        )
        raise CheckpointInvalid(msg)
    return verified
