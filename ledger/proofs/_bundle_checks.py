"""The checks of an inspector's bundle, one concern each; :func:`ledger.verify.verify_bundle`
runs them in order. Each raises :class:`VerificationFailed` naming the sequence and the rule.

Payloads are read as plain JSON (not decoded as the package's event types), so a bundle of
events of a type this version does not know still verifies: the proofs cover bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.proofs.bundle import KEY_EVENTS, Bundle, BundleEntry
from ledger.proofs.entry import SignatureHeader, b64, entry_hash, unb64, verify_assertion
from ledger.proofs.errors import ProofError, VerificationFailed
from ledger.proofs.merkle import verify_inclusion
from ledger.proofs.note import Checkpoint
from schemas.wire import HDR_PREV_HASH, HDR_SIGNATURE, HDR_TOPIC, HDR_VERSION

__all__ = [
    "KeyFold",
    "check_case",
    "check_inclusion",
    "fold_keys",
    "payload_of",
    "subject_prefix",
]

_PUBLIC_KEY_SIZE: Final = 32


def payload_of(entry: BundleEntry) -> dict[str, Any]:
    """The entry's payload as a JSON object, else the failure naming its sequence."""
    try:
        obj = msgspec.json.decode(entry.payload)
    except msgspec.DecodeError:
        obj = None
    if not isinstance(obj, dict):
        raise VerificationFailed(entry.seq, "the payload is not a JSON object")
    return obj


def check_inclusion(entries: Sequence[BundleEntry], checkpoint: Checkpoint) -> None:
    """Each entry's leaf hash is proven at leaf ``seq - 1`` of the checkpoint's tree."""
    for entry in entries:
        if not 1 <= entry.seq <= checkpoint.size:
            reason = (
                f"the sequence is not in the checkpoint's tree of size {checkpoint.size} "
                "(rule: leaf index = sequence - 1, below the tree size)"
            )
            raise VerificationFailed(entry.seq, reason)
        leaf = entry_hash(entry.subject, entry.headers, entry.payload)
        try:
            verify_inclusion(leaf, entry.seq - 1, checkpoint.size, entry.proof, checkpoint.root)
        except ProofError as e:
            reason = f"the stored message is not proven in the checkpoint: {e}"
            raise VerificationFailed(entry.seq, reason) from e


@dataclass(slots=True)
class _Key:
    public_key: Ed25519PublicKey
    raw: bytes
    registered_at: int
    revoked_at: int | None = None


@dataclass(slots=True)
class KeyFold:
    """The partnership's agency keys and signature requirement, folded from its key events."""

    keys: dict[tuple[str, str], _Key] = field(default_factory=dict)
    required_from: dt.date | None = None
    required_at: int | None = None

    def valid_at(self, agency: str, key_id: str, seq: int) -> _Key | str:
        """The key, if registered before ``seq`` and not revoked before it; else why not."""
        key = self.keys.get((agency, key_id))
        if key is None or key.registered_at >= seq:
            return f"key '{key_id}' of agency '{agency}' is not registered before this event"
        if key.revoked_at is not None and key.revoked_at < seq:
            return (
                f"key '{key_id}' of agency '{agency}' was revoked at sequence {key.revoked_at},"
                " before this event"
            )
        return key

    def agency_keys(self, agency: str, at: int) -> list[bytes]:
        """The raw public keys of ``agency`` registered and not revoked up to ``at``."""
        return [
            k.raw
            for (a, _), k in self.keys.items()
            if a == agency and k.registered_at <= at and (k.revoked_at is None or k.revoked_at > at)
        ]


def fold_keys(bundle: Bundle) -> KeyFold:
    """Fold the bundle's key events (proven included beforehand), in sequence order."""
    fold = KeyFold()
    p = bundle.partnership
    partnership_subject = f"{subject_prefix(bundle)}.{p}.partnership.{p}"
    last = 0
    for entry in bundle.keys:
        if entry.seq <= last:
            raise VerificationFailed(entry.seq, "the key events are not in sequence order")
        last = entry.seq
        if entry.subject != partnership_subject:
            raise VerificationFailed(entry.seq, "a key event is not on the partnership's subject")
        obj = payload_of(entry)
        tag = obj.get("type")
        if tag not in KEY_EVENTS or entry.headers.get(HDR_TOPIC) != tag:
            raise VerificationFailed(entry.seq, "a key event is not a key registration event")
        _fold_one(fold, entry.seq, tag, obj)
    return fold


def _fold_one(fold: KeyFold, seq: int, tag: str, obj: dict[str, Any]) -> None:
    if tag == "SignaturesRequired":
        try:
            fold.required_from = msgspec.convert(obj.get("required_from"), dt.date)
        except msgspec.ValidationError as e:
            raise VerificationFailed(seq, "required_from is not a date") from e
        fold.required_at = seq
        return
    agency, key_id = str(obj.get("agency", "")), str(obj.get("key_id", ""))
    if tag == "AgencyKeyRegistered":
        try:
            raw = unb64(str(obj.get("public_key", "")), field="public_key", size=_PUBLIC_KEY_SIZE)
        except ProofError as e:
            raise VerificationFailed(seq, str(e)) from e
        if (agency, key_id) in fold.keys:
            raise VerificationFailed(seq, f"key '{key_id}' of agency '{agency}' registered twice")
        public = Ed25519PublicKey.from_public_bytes(raw)
        fold.keys[(agency, key_id)] = _Key(public_key=public, raw=raw, registered_at=seq)
        return
    key = fold.keys.get((agency, key_id))  # AgencyKeyRevoked
    if key is None:
        raise VerificationFailed(seq, f"key '{key_id}' of agency '{agency}' revoked unregistered")
    if key.revoked_at is None:
        key.revoked_at = seq


def subject_prefix(bundle: Bundle) -> str:
    """The subject prefix of the bundle's case subject ``<prefix>.<partnership>.case.<case>``."""
    parts = bundle.subject.split(".")
    if len(parts) != 4 or parts[1:] != [bundle.partnership, "case", bundle.case]:
        raise VerificationFailed(None, "the bundle's subject is not its case's")
    return parts[0]


def check_case(bundle: Bundle, keys: KeyFold) -> int:
    """The case's events: on its subject, from version 1, versions contiguous, each linked to
    the previous by ``Ledger-Prev-Hash``, recorded by ``as_of``, and each signature valid
    (required ones present). Returns how many events were signed."""
    subject_prefix(bundle)
    previous: BundleEntry | None = None
    signed = 0
    for entry in bundle.events:
        _check_link(bundle, entry, previous)
        obj = payload_of(entry)
        if obj.get("type") != entry.headers.get(HDR_TOPIC):
            raise VerificationFailed(entry.seq, f"the {HDR_TOPIC} header is not the payload's type")
        recorded_at = _recorded_at(entry.seq, obj)
        if bundle.as_of is not None and recorded_at > bundle.as_of:
            raise VerificationFailed(entry.seq, "the event was recorded after the bundle's as-of")
        signed += _check_signature(entry, obj, recorded_at, keys)
        previous = entry
    return signed


def _check_link(bundle: Bundle, entry: BundleEntry, previous: BundleEntry | None) -> None:
    if entry.subject != bundle.subject:
        raise VerificationFailed(entry.seq, "the event is not on the case's subject")
    version = entry.headers.get(HDR_VERSION, "")
    want = 1 if previous is None else int(previous.headers[HDR_VERSION]) + 1
    if version != str(want):
        where = "first event shown" if previous is None else f"event after version {want - 1}"
        reason = (
            f"{HDR_VERSION} is '{version}' where {want} is required ({where}; rule: a case's "
            "versions run 1, 2, 3 ... with none missing)"
        )
        raise VerificationFailed(entry.seq, reason)
    if previous is None:
        if entry.headers.get(HDR_PREV_HASH):
            raise VerificationFailed(entry.seq, f"the case's first event carries a {HDR_PREV_HASH}")
        return
    if entry.seq <= previous.seq:
        raise VerificationFailed(entry.seq, "the case's events are not in sequence order")
    link = b64(entry_hash(previous.subject, previous.headers, previous.payload))
    if entry.headers.get(HDR_PREV_HASH) != link:
        reason = (
            f"{HDR_PREV_HASH} is not the leaf hash of the case's previous event (sequence "
            f"{previous.seq}): an event is missing, altered or out of place"
        )
        raise VerificationFailed(entry.seq, reason)


def _recorded_at(seq: int, obj: dict[str, Any]) -> dt.datetime:
    try:
        value = msgspec.convert(obj.get("recorded_at"), dt.datetime)
    except msgspec.ValidationError as e:
        raise VerificationFailed(seq, "recorded_at is not an RFC 3339 instant") from e
    if value.tzinfo is None:
        raise VerificationFailed(seq, "recorded_at has no UTC offset")
    return value


def _check_signature(
    entry: BundleEntry, obj: dict[str, Any], recorded_at: dt.datetime, keys: KeyFold
) -> int:
    value = entry.headers.get(HDR_SIGNATURE)
    if not value:
        since, at = keys.required_from, keys.required_at
        if since is not None and at is not None and entry.seq > at and recorded_at.date() >= since:
            reason = f"the event is not signed, and signatures are required from {since}"
            raise VerificationFailed(entry.seq, reason)
        return 0
    try:
        header = SignatureHeader.parse(value)
    except ProofError as e:
        raise VerificationFailed(entry.seq, str(e)) from e
    recorded_by = obj.get("recorded_by")
    agency = recorded_by.get("agency") if isinstance(recorded_by, dict) else None
    if header.agency != agency:
        reason = (
            f"the signature is by agency '{header.agency}', the event recorded by '{agency}' "
            "(rule: an agency signs only what it records)"
        )
        raise VerificationFailed(entry.seq, reason)
    key = keys.valid_at(header.agency, header.key_id, entry.seq)
    if isinstance(key, str):
        raise VerificationFailed(entry.seq, key)
    try:
        verify_assertion(key.public_key, header, entry.subject, entry.payload)
    except ProofError as e:
        raise VerificationFailed(entry.seq, str(e)) from e
    return 1
