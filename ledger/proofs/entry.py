"""What is hashed and what is signed: the entry of a stored message, and an agency's assertion.

The byte-exact definitions are docs/proofs.md's ("Entries and leaf hashes", "Signatures");
this module is their one implementation. Pure: standard library, msgspec and
:mod:`ledger.proofs.ed25519` only, so the offline verifier can use it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any, Final

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.proofs import ed25519
from ledger.proofs.errors import SignatureInvalid
from schemas.wire import HDR_PREV_HASH, HDR_SIGNATURE, HDR_TOPIC, HDR_VERSION

__all__ = [
    "ASSERTION_CONTEXT",
    "ENTRY_CONTEXT",
    "ENTRY_HEADERS",
    "SignatureHeader",
    "asserted_bytes",
    "assertion",
    "b64",
    "decode_payload",
    "entry_bytes",
    "entry_hash",
    "jcs",
    "sign_assertion",
    "unb64",
    "verify_asserted",
    "verify_assertion",
]

ENTRY_CONTEXT: Final = b"ledger-entry/v1\n"
ASSERTION_CONTEXT: Final = b"ledger-assertion/v1\n"
#: The headers an entry covers, in this order; transport headers (``Nats-*``) are not covered.
ENTRY_HEADERS: Final = (HDR_TOPIC, HDR_VERSION, HDR_PREV_HASH, HDR_SIGNATURE)
#: The member of a stored payload that the ledger stamps, so no agency asserts it.
STAMPED: Final = "recorded_at"
_ALGORITHM: Final = "ed25519"
_SIGNATURE_SIZE: Final = 64
#: RFC 8785 numbers are IEEE doubles: integers beyond this cannot be written unambiguously.
_MAX_EXACT_INT: Final = 2**53 - 1
#: The types of JSON values that hold no others, and need no check (``int`` does: its size).
_LEAVES: Final = frozenset({str, bool, type(None)})
_SORTED: Final = msgspec.json.Encoder(order="sorted")
_DECODER: Final = msgspec.json.Decoder()


def b64(data: bytes) -> str:
    """Standard base64 with padding, as text."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, *, field: str, size: int | None = None) -> bytes:
    """Canonical standard base64 (with padding) to bytes, else :class:`SignatureInvalid`."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as e:
        msg = f"{field}: is not standard base64 with padding"
        raise SignatureInvalid(msg) from e
    if b64(raw) != text:  # unused bits set: another spelling of the same bytes
        msg = f"{field}: is not the canonical base64 of its bytes"
        raise SignatureInvalid(msg)
    if size is not None and len(raw) != size:
        msg = f"{field}: holds {len(raw)} bytes where {size} are required"
        raise SignatureInvalid(msg)
    return raw


def entry_bytes(subject: str, headers: Mapping[str, str] | None, payload: bytes) -> bytes:
    """The entry of a stored message (docs/proofs.md): what its leaf hash covers."""
    get = (headers or {}).get  # ENTRY_HEADERS in order, spelt out: this runs per message
    lines = (
        f"{subject}\n{get(HDR_TOPIC, '')}\n{get(HDR_VERSION, '')}\n{get(HDR_PREV_HASH, '')}\n"
        f"{get(HDR_SIGNATURE, '')}\n{len(payload)}\n"
    )
    return ENTRY_CONTEXT + lines.encode() + payload


def entry_hash(subject: str, headers: Mapping[str, str] | None, payload: bytes) -> bytes:
    """The RFC 6962 leaf hash of a stored message's entry: ``SHA-256(0x00 || entry)``."""
    return hashlib.sha256(b"\x00" + entry_bytes(subject, headers, payload)).digest()


def _canonical(value: Any, path: str) -> Any:
    """``value`` with every object's members in RFC 8785 order; floats and integers a
    double cannot hold exactly refused (naming the path). The reference: :func:`jcs` takes
    it for values off its fast path."""
    if isinstance(value, dict):
        return {
            k: _canonical(value[k], f"{path}.{k}")
            for k in sorted(value, key=lambda k: k.encode("utf-16-be"))
        }
    if isinstance(value, list):
        return [_canonical(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, float):
        msg = f"{path}: is a floating-point number, which no signed payload may hold"
        raise SignatureInvalid(msg)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_EXACT_INT:
        msg = (
            f"{path}: is an integer beyond 2**53 - 1, which RFC 8785 (numbers as IEEE "
            "doubles) cannot write exactly"
        )
        raise SignatureInvalid(msg)
    return value


def _plain(value: Any) -> bool:
    """Whether msgspec's sorted encoding of ``value`` is its JCS: every object's member
    names ASCII (where code-point order, msgspec's, is UTF-16 order, RFC 8785's), only
    JSON's own types, no float, no integer beyond 2^53 - 1. No path is built: this is the
    write path's check of every signed command, and ``False`` sends :func:`jcs` to
    :func:`_canonical`, which names the path of what it refuses."""
    t = type(value)
    if t is dict:
        try:
            names = "".join(value)
        except TypeError:  # a member name that is not a string: the full path decides
            return False
        if not names.isascii():
            return False
        members: Any = value.values()
    elif t is list:
        members = value
    elif t is int:
        return bool(-_MAX_EXACT_INT <= value <= _MAX_EXACT_INT)
    else:
        return t in _LEAVES
    for v in members:  # noqa: SIM110 - a loop: all() over a generator costs 1 us more here
        if type(v) not in _LEAVES and not _plain(v):
            return False
    return True


def jcs(value: Any) -> bytes:
    """RFC 8785 canonical JSON of a decoded JSON value without floats (docs/proofs.md).

    msgspec writes strings exactly as RFC 8785 does (minimal escapes, UTF-8, lower-case
    ``\\u00xx``). Where every member name is ASCII, msgspec's sorted order is RFC 8785's
    and it sorts as it encodes; otherwise the members are put in RFC 8785's order (UTF-16
    code units) first.
    """
    if _plain(value):
        return _SORTED.encode(value)
    return msgspec.json.encode(_canonical(value, "$"))


def decode_payload(payload: bytes) -> dict[str, Any]:
    """A stored payload as a JSON object, else :class:`SignatureInvalid`."""
    try:
        obj = _DECODER.decode(payload)
    except msgspec.DecodeError as e:
        msg = "payload: is not JSON"
        raise SignatureInvalid(msg) from e
    if not isinstance(obj, dict):
        msg = "payload: is not a JSON object"
        raise SignatureInvalid(msg)
    return obj


def assertion(subject: str, obj: Mapping[str, Any]) -> bytes:
    """What an agency signs for a payload on ``subject``, decoded as ``obj`` (a JSON object;
    not changed): the context, the subject and the JCS of ``obj`` less ``recorded_at``."""
    asserted = {name: value for name, value in obj.items() if name != STAMPED}
    return ASSERTION_CONTEXT + subject.encode() + b"\n" + jcs(asserted)


def asserted_bytes(subject: str, payload: bytes) -> bytes:
    """What an agency signs for the stored ``payload`` on ``subject`` (docs/proofs.md)."""
    return assertion(subject, decode_payload(payload))


class SignatureHeader(msgspec.Struct, frozen=True):
    """A ``Ledger-Signature`` header: ``ed25519 <agency> <key_id> <base64 signature>``."""

    agency: str
    key_id: str
    signature: bytes

    def format(self) -> str:
        return f"{_ALGORITHM} {self.agency} {self.key_id} {b64(self.signature)}"

    @classmethod
    def parse(cls, value: str) -> SignatureHeader:
        parts = value.split(" ")
        if len(parts) != 4 or parts[0] != _ALGORITHM or not parts[1] or not parts[2]:
            msg = (
                f"{HDR_SIGNATURE}: is not 'ed25519 <agency> <key_id> <base64 signature>'"
                " (single spaces)"
            )
            raise SignatureInvalid(msg)
        raw = unb64(parts[3], field=HDR_SIGNATURE, size=_SIGNATURE_SIZE)
        return cls(agency=parts[1], key_id=parts[2], signature=raw)


def sign_assertion(
    key: Ed25519PrivateKey, agency: str, key_id: str, subject: str, payload: bytes
) -> SignatureHeader:
    """The agency's signature over what it asserts with ``payload`` on ``subject``."""
    return SignatureHeader(agency, key_id, ed25519.sign(key, asserted_bytes(subject, payload)))


def verify_assertion(
    public_key: bytes | Ed25519PublicKey, header: SignatureHeader, subject: str, payload: bytes
) -> None:
    """Return if ``header`` signs ``payload`` on ``subject`` with ``public_key``, else raise."""
    verify_asserted(public_key, header, asserted_bytes(subject, payload))


def verify_asserted(
    public_key: bytes | Ed25519PublicKey, header: SignatureHeader, message: bytes
) -> None:
    """Return if ``header`` signs the assertion ``message`` with ``public_key`` (raw, or a key
    object; :func:`ledger.proofs.ed25519.verify`'s rule), else raise."""
    if not ed25519.verify(public_key, header.signature, message):
        msg = (
            f"{HDR_SIGNATURE}: does not verify with key '{header.key_id}' of agency "
            f"'{header.agency}' over what the event asserts"
        )
        raise SignatureInvalid(msg)
