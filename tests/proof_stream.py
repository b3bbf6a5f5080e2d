"""A ledger stream built in memory for the verifier's tests: real events, chains, signatures.

The events come from the Ledger application run in memory (so the payloads are the ones the
ledger writes); this module lays them out as stored messages the way the writer does (subject,
``Ledger-Topic``, ``Ledger-Version``, ``Ledger-Prev-Hash``, ``Ledger-Signature``), with each
agency's key registered on the partnership after the agency, signatures required from a date,
every event after its agency's key signed, and a tracking position among them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.application import Ledger
from ledger.proofs.entry import b64, entry_hash, sign_assertion
from ledger.proofs.merkle import Frontier
from ledger.proofs.note import Checkpoint, cosign, cosigned_note, sign_checkpoint
from ledger.proofs.roots import WitnessedRoot, checkpoint_roots, cosigned_roots
from ledger.proofs.verifier import StoredMessage
from schemas.wire import HDR_PREV_HASH, HDR_SIGNATURE, HDR_TOPIC, HDR_VERSION
from tests.ledger_scenario import CASE, HEALTH, LA, PARTNERSHIP, POLICE, FixedClock, establish

PREFIX = "ledger"
ORIGIN = "ledger.test/LEDGER"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(b"the log's key".ljust(32, b"."))
AGENCIES = ("la", "police", "health")


@dataclass(frozen=True)
class Fact:
    """What the writer is given: the subject, the type tag and the payload as stored."""

    subject: str
    topic: str
    payload: bytes


@dataclass
class Keys:
    """Each agency's private key, under key id ``<agency>-1``."""

    private: dict[str, Ed25519PrivateKey] = field(default_factory=dict)

    @classmethod
    def seeded(cls, agencies: Iterable[str] = AGENCIES) -> Keys:
        return cls(
            {a: Ed25519PrivateKey.from_private_bytes(a.encode().ljust(32, b"k")) for a in agencies}
        )

    def public_b64(self, agency: str) -> str:
        raw = self.private[agency].public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return b64(raw)


def ledger_facts(prefix: str = PREFIX) -> list[Fact]:
    """The facts of a small partnership's life, as the Ledger writes them, in order."""
    clock = FixedClock()
    app = Ledger(clock=clock)
    try:
        establish(app)
        c = {"partnership": PARTNERSHIP, "case": CASE}
        app.open_case(
            **c, recorded_by=LA, children=[{"child": "ch_0123456789abcdef", "age_band": "5_9"}]
        )
        clock.advance(hours=1)
        app.join_case(**c, recorded_by=LA, agency="police")
        app.join_case(**c, recorded_by=LA, agency="health")
        app.record_action(**c, recorded_by=LA, action="referral_received")
        app.open_case(
            partnership=PARTNERSHIP,
            case="c-2",
            recorded_by=POLICE,
            children=[{"child": "ch_fedcba9876543210", "age_band": "1_4"}],
        )
        clock.advance(days=1)
        app.request_information(**c, recorded_by=LA, request="rq-1", to_agency="health")
        app.record_action(
            partnership=PARTNERSHIP, case="c-2", recorded_by=POLICE, action="home_visit"
        )
        clock.advance(days=2)
        app.refuse_cooperation(
            **c,
            recorded_by=HEALTH,
            agency="health",
            kind="information_withheld",
            basis="consent_not_given",
            request="rq-1",
        )
        app.record_action(**c, recorded_by=POLICE, action="home_visit")
        notes = app.recorder.select_notifications(start=1, limit=1000)
        return [Fact(f"{prefix}.{n.originator_id}", n.topic, n.state) for n in notes]
    finally:
        app.close()


def _key_registered(after: bytes, agency: str, keys: Keys) -> bytes:
    """An ``AgencyKeyRegistered`` payload stamped like ``after`` (the agency's registration)."""
    base = msgspec.json.decode(after)
    payload: dict[str, Any] = {
        "type": "AgencyKeyRegistered",
        "schema_version": 1,
        "occurred_at": base["occurred_at"],
        "recorded_at": base["recorded_at"],
        "recorded_by": {"agency": agency, "actor": "act_keys0001"},
        "source": base["source"],
        "agency": agency,
        "key_id": f"{agency}-1",
        "algorithm": "ed25519",
        "public_key": keys.public_b64(agency),
    }
    return msgspec.json.encode(payload)


def with_keys(facts: Sequence[Fact], keys: Keys) -> list[Fact]:
    """``facts`` with each agency's key registered right after the agency, and a tracking
    position after the first case event."""
    out: list[Fact] = []
    tracked = False
    for f in facts:
        out.append(f)
        if f.topic == "AgencyRegistered":
            agency = msgspec.json.decode(f.payload)["agency"]
            if agency in keys.private:
                out.append(
                    Fact(f.subject, "AgencyKeyRegistered", _key_registered(f.payload, agency, keys))
                )
        elif ".case." in f.subject and not tracked:
            prefix = f.subject.split(".", 1)[0]
            out.append(Fact(f"{prefix}._tracking.views", "Tracking", b'{"position":1}'))
            tracked = True
    return out


def key_fact(like: Fact, topic: str, agency: str, **fields: str) -> Fact:
    """A key event of ``agency`` (``AgencyKeyRegistered`` or ``AgencyKeyRevoked``, its
    ``fields``) recorded by the agency on ``like``'s subject, stamped like ``like``."""
    base = msgspec.json.decode(like.payload)
    payload: dict[str, Any] = {
        "type": topic,
        "schema_version": 1,
        "occurred_at": base["occurred_at"],
        "recorded_at": base["recorded_at"],
        "recorded_by": {"agency": agency, "actor": "act_keys0001"},
        "source": base["source"],
        "agency": agency,
        **fields,
    }
    if topic == "AgencyKeyRegistered":
        payload.setdefault("algorithm", "ed25519")
    return Fact(like.subject, topic, msgspec.json.encode(payload))


#: Who signs a fact instead of its agency's first key: ``(agency, key, key_id)``, or None.
Signer = tuple[str, Ed25519PrivateKey, str] | None


def write(
    facts: Sequence[Fact],
    keys: Keys,
    *,
    start: int = 1,
    signers: dict[int, Signer] | None = None,
) -> list[StoredMessage]:
    """Lay ``facts`` out as the writer stores them: versions and prev-hashes per subject,
    each event signed by its agency's first key (``<agency>-1``) once that is registered;
    ``signers`` overrides that for the facts at the indexes it holds."""
    last: dict[str, tuple[int, bytes]] = {}
    registered: set[str] = set()
    out: list[StoredMessage] = []
    for index, f in enumerate(facts):
        seq = start + index
        headers = {HDR_TOPIC: f.topic}
        if "._tracking." not in f.subject:
            version, prev = last.get(f.subject, (0, b""))
            headers[HDR_VERSION] = str(version + 1)
            if prev:
                headers[HDR_PREV_HASH] = b64(prev)
            agency = msgspec.json.decode(f.payload)["recorded_by"]["agency"]
            signer: Signer = (
                (agency, keys.private[agency], f"{agency}-1") if agency in registered else None
            )
            if signers is not None and index in signers:
                signer = signers[index]
            if signer is not None:
                by, key, key_id = signer
                signed = sign_assertion(key, by, key_id, f.subject, f.payload)
                headers[HDR_SIGNATURE] = signed.format()
            if f.topic == "AgencyKeyRegistered":
                registered.add(agency)
        out.append(StoredMessage(seq, f.subject, headers, f.payload))
        if HDR_VERSION in headers:
            last[f.subject] = (int(headers[HDR_VERSION]), entry_hash(f.subject, headers, f.payload))
    return out


def roots_at(
    messages: Sequence[StoredMessage], sizes: Iterable[int], label: str = "checkpoint"
) -> list[WitnessedRoot]:
    """The log's roots of ``messages`` at ``sizes`` (what checkpoints of them say)."""
    wanted = set(sizes)
    tree = Frontier()
    out: list[WitnessedRoot] = []
    for m in messages:
        tree.append(entry_hash(m.subject, m.headers, m.payload))
        if tree.size in wanted:
            out.append(WitnessedRoot(tree.size, tree.root(), f"{label} of size {tree.size}"))
    return out


def recorded_day(message: StoredMessage) -> dt.date:
    """The day a stored event was recorded."""
    stamp = msgspec.json.decode(message.payload)["recorded_at"]
    return dt.datetime.fromisoformat(stamp).date()


def checkpoints_of(messages: Sequence[StoredMessage], sizes: Iterable[int]) -> list[Checkpoint]:
    """The checkpoints of ``messages`` at ``sizes``, as the checkpointer makes them."""
    return [Checkpoint(ORIGIN, w.size, w.root) for w in roots_at(messages, sizes)]


def signed_notes(checkpoints: Iterable[Checkpoint]) -> list[str]:
    """Each checkpoint as the log publishes it: a note signed by the log key."""
    return [sign_checkpoint(cp, ORIGIN, LOG_KEY) for cp in checkpoints]


def cosignature_note(cp: Checkpoint, agency: str, key: Ed25519PrivateKey) -> str:
    """What an agency's witness publishes: the checkpoint text and its cosignature line."""
    return cosigned_note(cp, [cosign(cp, agency, key, timestamp=1_780_000_000)])


def witnessed(
    notes: Iterable[str], cosignatures: Iterable[tuple[str, str]] = ()
) -> list[WitnessedRoot]:
    """The roots of checkpoint ``notes`` and ``(agency, note)`` cosignatures, as the
    verifier takes them."""
    out: list[WitnessedRoot] = []
    for n, note in enumerate(notes, start=1):
        out += checkpoint_roots(
            f"checkpoint {n}", note, origin=ORIGIN, log_key=LOG_KEY.public_key()
        )
    for n, (agency, note) in enumerate(cosignatures, start=1):
        out += cosigned_roots(f"cosignature {n}", agency, note, origin=ORIGIN)
    return out
