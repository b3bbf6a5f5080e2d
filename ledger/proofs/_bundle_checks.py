"""The checks of an inspector's bundle, one concern each; :func:`ledger.verify.verify_bundle`
runs them in order. Each raises :class:`VerificationFailed` naming the sequence and the rule.

The case's payloads are read as plain JSON (not decoded as the package's event types), so a
bundle of events of a type this version does not know still verifies: the proofs cover bytes.
The key events are folded into the one key registry (:class:`ledger.proofs.keys.KeyRing`),
and each event's link and signature are checked by :mod:`ledger.proofs._checks`, as
``ledger verify`` checks them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec

from ledger.proofs._checks import (
    Signed,
    check_link,
    key_event_signer,
    parse_version,
    signer,
    verify_signature,
)
from ledger.proofs.bundle import Bundle, BundleEntry
from ledger.proofs.entry import entry_hash
from ledger.proofs.errors import ProofError, VerificationFailed
from ledger.proofs.keys import KEY_EVENTS, AgencyPins, KeyRing, unpinned
from ledger.proofs.merkle import verify_inclusion
from ledger.proofs.note import Checkpoint
from schemas import (
    EVENT_TYPES,
    AgencyKeyRegistered,
    AgencyKeyRevoked,
    InvalidEvent,
    decode_event_as,
)
from schemas.wire import HDR_PREV_HASH, HDR_TOPIC, HDR_VERSION

__all__ = ["check_case", "check_inclusion", "fold_keys", "payload_of", "subject_prefix"]


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


def fold_keys(bundle: Bundle, pins: AgencyPins | None = None) -> KeyRing:
    """Fold the bundle's key events (proven included beforehand), in sequence order; an
    agency's key registration or revocation is checked for its authority and signature
    first, as ``ledger verify`` checks it (:func:`key_event_signer`), and against ``pins``
    (:func:`~ledger.proofs.keys.unpinned`)."""
    ring = KeyRing()
    p = bundle.partnership
    partnership_subject = f"{subject_prefix(bundle)}.{p}.partnership.{p}"
    last = 0
    for entry in bundle.keys:
        if entry.seq <= last:
            raise VerificationFailed(entry.seq, "the key events are not in sequence order")
        last = entry.seq
        if entry.subject != partnership_subject:
            raise VerificationFailed(entry.seq, "a key event is not on the partnership's subject")
        topic = entry.headers.get(HDR_TOPIC, "")
        if topic not in KEY_EVENTS:
            raise VerificationFailed(entry.seq, "a key event is not a key registration event")
        try:
            event = decode_event_as(entry.payload, EVENT_TYPES[topic])
        except InvalidEvent as e:
            raise VerificationFailed(entry.seq, f"{topic}: {e}") from e
        if isinstance(event, AgencyKeyRegistered) and (problem := unpinned(event, pins or {})):
            raise VerificationFailed(entry.seq, problem)
        if isinstance(event, AgencyKeyRegistered | AgencyKeyRevoked):  # the agency's authority
            found = key_event_signer(ring, entry.seq, p, entry.headers, event)
            if found is not None:
                verify_signature(Signed(entry.seq, entry.subject, payload_of(entry), *found))
        problem = ring.fold(entry.seq, p, event)
        if problem is not None:
            raise VerificationFailed(entry.seq, problem)
    return ring


def subject_prefix(bundle: Bundle) -> str:
    """The subject prefix of the bundle's case subject ``<prefix>.<partnership>.case.<case>``."""
    parts = bundle.subject.split(".")
    if len(parts) != 4 or parts[1:] != [bundle.partnership, "case", bundle.case]:
        raise VerificationFailed(None, "the bundle's subject is not its case's")
    return parts[0]


def check_case(bundle: Bundle, keys: KeyRing) -> int:
    """The case's events: on its subject, from version 1, versions contiguous, each linked to
    the previous by ``Ledger-Prev-Hash``, recorded by ``as_of``, and each signature valid
    (required ones present). Returns how many events were signed."""
    subject_prefix(bundle)
    last_seq, version, last_hash = 0, 0, None
    signed = 0
    for entry in bundle.events:
        seq = entry.seq
        if entry.subject != bundle.subject:
            raise VerificationFailed(seq, "the event is not on the case's subject")
        if seq <= last_seq:
            raise VerificationFailed(seq, "the case's events are not in sequence order")
        headers = entry.headers
        current = parse_version(seq, headers.get(HDR_VERSION, ""))
        check_link(seq, current, headers.get(HDR_PREV_HASH, ""), version, last_hash)
        obj = payload_of(entry)
        if obj.get("type") != headers.get(HDR_TOPIC):
            raise VerificationFailed(seq, f"the {HDR_TOPIC} header is not the payload's type")
        recorded_at = _recorded_at(seq, obj)
        if bundle.as_of is not None and recorded_at > bundle.as_of:
            raise VerificationFailed(seq, "the event was recorded after the bundle's as-of")
        recorded_by = obj.get("recorded_by")
        agency = recorded_by.get("agency") if isinstance(recorded_by, dict) else None
        found = signer(keys, seq, bundle.partnership, headers, agency, recorded_at)
        if found is not None:
            verify_signature(Signed(seq, entry.subject, obj, *found))
            signed += 1
        last_seq, version = seq, current
        last_hash = entry_hash(entry.subject, headers, entry.payload)
    return signed


def _recorded_at(seq: int, obj: dict[str, Any]) -> dt.datetime:
    try:
        value = msgspec.convert(obj.get("recorded_at"), dt.datetime)
    except msgspec.ValidationError as e:
        raise VerificationFailed(seq, "recorded_at is not an RFC 3339 instant") from e
    if value.tzinfo is None:
        raise VerificationFailed(seq, "recorded_at has no UTC offset")
    return value
