"""The per-event checks both verifiers make, once: a chain's link and an event's signature.

The stream verifier (:mod:`ledger.proofs.verifier`, ``ledger verify``) and the bundle's
(:mod:`ledger.proofs._bundle_checks`, ``python -m ledger.verify``) call these, so the two
cannot disagree on a version, a ``Ledger-Prev-Hash`` or a ``Ledger-Signature``. Each raises
:class:`VerificationFailed` naming the sequence and the rule (docs/proofs.md, "Hash chain",
"Signatures", "Verifying the stream").

An agency's key events (``AgencyKeyRegistered``, ``AgencyKeyRevoked``) are checked by
:func:`key_event_signer` instead: besides :func:`signer`'s rules, once the agency has a live
key the event must be signed by one of them (:func:`ledger.proofs.keys.key_event_authority`),
and the registration of a first key may be signed by that very key.

A signature is checked in two steps: :func:`signer` (the header parses, is by the agency
that recorded the event, with a key the ring allows at that sequence, and is present where
the partnership requires one) and :func:`verify_signature` (the Ed25519 verification over
what the event asserts), so the stream verifier can run the second in parallel
(:mod:`ledger.proofs._signatures`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, NamedTuple

from ledger.proofs.entry import SignatureHeader, assertion, b64, verify_asserted
from ledger.proofs.errors import SignatureInvalid, VerificationFailed
from ledger.proofs.keys import AgencyKey, KeyEvent, KeyRing, key_event_authority
from schemas import (
    AgencyKeyRegistered,
)
from schemas.wire import HDR_PREV_HASH, HDR_SIGNATURE, HDR_VERSION

__all__ = [
    "Signed",
    "check_link",
    "key_event_signer",
    "parse_version",
    "signer",
    "verify_signature",
]


class Signed(NamedTuple):
    """A signature to verify: the event's sequence, subject and payload (decoded, as the
    JSON object stored), the key and the header."""

    seq: int
    subject: str
    payload: Mapping[str, Any]
    key: AgencyKey
    header: SignatureHeader
    #: The payload as stored (what a process pool is sent instead of ``payload``).
    stored: bytes = b""


def parse_version(seq: int, value: str) -> int:
    """``Ledger-Version`` as a number: decimal, no leading zeros."""
    if not (value.isascii() and value.isdigit()) or str(int(value)) != value:
        why = f"{HDR_VERSION}: is not a version in decimal (1, 2, ... without leading zeros)"
        raise VerificationFailed(seq, why)
    return int(value)


def check_link(
    seq: int, version: int, prev: str, last_version: int, last_hash: bytes | None
) -> None:
    """The event at ``seq`` follows its subject's last (``last_version`` 0 and ``last_hash``
    None before the first): its version is the next, and its ``Ledger-Prev-Hash`` (``prev``,
    "" when absent) is the last one's entry hash, absent on the first."""
    if version != last_version + 1:
        why = (
            f"{HDR_VERSION}: is {version} where the subject's last version is "
            f"{last_version}; versions run on by one from 1 with none missing"
        )
        raise VerificationFailed(seq, why)
    if last_hash is None:
        if prev:
            why = f"{HDR_PREV_HASH}: is set on the first event of its subject, which has none"
            raise VerificationFailed(seq, why)
    elif prev != b64(last_hash):
        why = (
            f"{HDR_PREV_HASH}: is not the entry hash of the subject's previous event: an "
            "event is missing, altered or out of place"
            if prev
            else f"{HDR_PREV_HASH}: is missing where the subject has a previous event"
        )
        raise VerificationFailed(seq, why)


def signer(
    ring: KeyRing,
    seq: int,
    partnership: str,
    headers: Mapping[str, str],
    recorded_by: str | None,
    recorded_at: dt.datetime,
) -> tuple[AgencyKey, SignatureHeader] | None:
    """The key and header of the event's signature, None if it is unsigned and need not be;
    :class:`VerificationFailed` if it is missing where required, malformed, by another
    agency than ``recorded_by``, or by a key the ring does not allow at ``seq``."""
    value = headers.get(HDR_SIGNATURE)
    if not value:
        since = ring.required_from(partnership, seq, recorded_at)
        if since is not None:
            why = (
                f"{HDR_SIGNATURE}: is missing; signatures are required on partnership "
                f"'{partnership}' events recorded from {since.isoformat()}"
            )
            raise VerificationFailed(seq, why)
        return None
    try:
        header = SignatureHeader.parse(value)
    except SignatureInvalid as e:
        raise VerificationFailed(seq, str(e)) from e
    if header.agency != recorded_by:
        why = (
            f"{HDR_SIGNATURE}: is by agency '{header.agency}' on an event recorded by "
            f"'{recorded_by}'; an agency signs only what it records"
        )
        raise VerificationFailed(seq, why)
    key = ring.signing_key(partnership, header.agency, header.key_id, seq)
    if isinstance(key, str):
        raise VerificationFailed(seq, f"{HDR_SIGNATURE}: {key}")
    return key, header


def key_event_signer(
    ring: KeyRing, seq: int, partnership: str, headers: Mapping[str, str], event: KeyEvent
) -> tuple[AgencyKey, SignatureHeader] | None:
    """:func:`signer` for an agency's key event at ``seq`` (before the ring folds it): also
    :class:`VerificationFailed` unless the agency's authority allows it (its live keys'
    signature once it has one); a first key's registration may be signed by that key."""
    live = ring.live(partnership, event.agency, seq)
    value = headers.get(HDR_SIGNATURE)
    header = None
    if value:
        try:
            header = SignatureHeader.parse(value)
        except SignatureInvalid as e:
            raise VerificationFailed(seq, str(e)) from e
    signed_by = None if header is None else (header.agency, header.key_id)
    problem = key_event_authority(event, [k.key_id for k in live], signed_by)
    if problem is not None:
        raise VerificationFailed(seq, problem)
    recorded_by = event.recorded_by.agency
    if header is None or live or not isinstance(event, AgencyKeyRegistered):
        return signer(ring, seq, partnership, headers, recorded_by, event.recorded_at)
    if header.agency != recorded_by:  # signed by the first key it registers
        why = (
            f"{HDR_SIGNATURE}: is by agency '{header.agency}' on an event recorded by "
            f"'{recorded_by}'; an agency signs only what it records"
        )
        raise VerificationFailed(seq, why)
    key = ring.proposed(seq, partnership, event)
    if isinstance(key, str):
        raise VerificationFailed(seq, key)
    return key, header


def verify_signature(signed: Signed) -> None:
    """The signature verifies over what the event asserts, else :class:`VerificationFailed`."""
    try:
        message = assertion(signed.subject, signed.payload)
        verify_asserted(signed.key.raw, signed.header, message)
    except SignatureInvalid as e:
        raise VerificationFailed(signed.seq, str(e)) from e
