"""An in-memory ledger log for the proofs' tests: chained, signed messages, a Merkle tree over
them, signed checkpoints, and bundles built from them, all with the package's own functions.

Two logs can share a prefix and then diverge (:meth:`MemoryLog.fork`): the split view.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.proofs.bundle import KEY_EVENTS, Bundle, BundleEntry, stored_headers
from ledger.proofs.entry import b64, entry_hash, sign_assertion
from ledger.proofs.note import (
    SIG_COSIGNATURE_V1,
    Checkpoint,
    cosigned_note,
    format_verifier_key,
    sign_checkpoint,
)
from ledger.proofs.tree import MemoryTree
from schemas.wire import HDR_PREV_HASH, HDR_SIGNATURE, HDR_TOPIC, HDR_VERSION

PREFIX = "ledger"
PARTNERSHIP = "north"
ORIGIN = "ledger.test/LEDGER"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@dataclass
class Message:
    seq: int
    subject: str
    headers: dict[str, str]
    payload: bytes


def subject(kind: str, ident: str) -> str:
    return f"{PREFIX}.{PARTNERSHIP}.{kind}.{ident}"


@dataclass
class MemoryLog:
    """A ledger stream in memory, appended as the service would (chain, signatures)."""

    log_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    messages: list[Message] = field(default_factory=list)
    tree: MemoryTree = field(default_factory=MemoryTree)
    agency_keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    origin: str = ORIGIN

    @property
    def size(self) -> int:
        return len(self.messages)

    def append(
        self,
        subj: str,
        tag: str,
        agency: str,
        body: dict[str, Any] | None = None,
        *,
        sign: bool = True,
        key: Ed25519PrivateKey | None = None,
        key_id: str | None = None,
        signed_as: str | None = None,
    ) -> Message:
        """Record one event on ``subj``, signed by ``agency``'s key when it has one."""
        previous = [m for m in self.messages if m.subject == subj]
        at = (T0 + dt.timedelta(minutes=self.size)).isoformat()
        payload_obj = {
            "type": tag,
            "occurred_at": at,
            "recorded_at": at,
            "recorded_by": {"agency": agency, "actor": "act_000001"},
            "source": {"kind": "case_record"},
            **(body or {}),
        }
        payload = msgspec.json.encode(payload_obj)
        headers = {HDR_TOPIC: tag, HDR_VERSION: str(len(previous) + 1)}
        if previous:
            last = previous[-1]
            headers[HDR_PREV_HASH] = b64(entry_hash(last.subject, last.headers, last.payload))
        signer = key or self.agency_keys.get(agency)
        if sign and signer is not None:
            by = signed_as or agency
            header = sign_assertion(signer, by, key_id or f"{by}-1", subj, payload)
            headers[HDR_SIGNATURE] = header.format()
        return self.store(Message(self.size + 1, subj, headers, payload))

    def store(self, message: Message) -> Message:
        self.messages.append(message)
        self.tree.append([entry_hash(message.subject, message.headers, message.payload)])
        return message

    def register_agency(self, agency: str) -> Ed25519PrivateKey:
        """A key for ``agency``, registered on the partnership (as the admin records it)."""
        key = Ed25519PrivateKey.generate()
        public = b64(key.public_key().public_bytes_raw())
        self.append(
            subject("partnership", PARTNERSHIP),
            "AgencyKeyRegistered",
            "admin",
            {
                "agency": agency,
                "key_id": f"{agency}-1",
                "algorithm": "ed25519",
                "public_key": public,
                "custody": "agency",
            },
        )
        self.agency_keys[agency] = key
        return key

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        n = self.size if size is None else size
        return Checkpoint(self.origin, n, self.tree.root(n))

    def note(self, size: int | None = None) -> str:
        return sign_checkpoint(self.checkpoint(size), self.origin, self.log_key)

    def verifier_key(self) -> str:
        return format_verifier_key(self.origin, self.log_key.public_key())

    def fork(self) -> MemoryLog:
        """Another log with the same history and keys so far (to diverge from here)."""
        other = MemoryLog(log_key=self.log_key, origin=self.origin)
        other.agency_keys = dict(self.agency_keys)
        for m in self.messages:
            other.store(copy.deepcopy(m))
        return other

    def bundle(self, case: str, note: str, *, size: int | None = None) -> Bundle:
        """The bundle of ``case`` against the checkpoint ``note`` of ``size``."""
        n = self.size if size is None else size
        case_subject = subject("case", case)
        partnership_subject = subject("partnership", PARTNERSHIP)

        def entry(m: Message) -> BundleEntry:
            return BundleEntry(
                seq=m.seq,
                subject=m.subject,
                headers=stored_headers(m.headers),
                payload=m.payload,
                proof=self.tree.inclusion_proof(m.seq - 1, n),
            )

        within = self.messages[:n]
        return Bundle(
            origin=self.origin,
            log_key=self.verifier_key(),
            checkpoint=note,
            witnesses=[
                format_verifier_key(a, k.public_key(), SIG_COSIGNATURE_V1)
                for a, k in sorted(self.agency_keys.items())
            ],
            partnership=PARTNERSHIP,
            case=case,
            subject=case_subject,
            events=[entry(m) for m in within if m.subject == case_subject],
            keys=[
                entry(m)
                for m in within
                if m.subject == partnership_subject and m.headers.get(HDR_TOPIC) in KEY_EVENTS
            ],
        )


def cosigned(log: MemoryLog, lines: list[str], size: int | None = None) -> str:
    """The log's checkpoint note at ``size`` carrying the log's signature and ``lines``."""
    note = log.note(size)
    log_line = note.rstrip("\n").split("\n")[-1]
    return cosigned_note(log.checkpoint(size), [log_line, *lines])


def sample_log() -> MemoryLog:
    """A partnership with three agencies' keys, one case of four events, other traffic between."""
    log = MemoryLog()
    log.append(subject("partnership", PARTNERSHIP), "PartnershipEstablished", "admin")
    for agency in ("la", "police", "health"):
        log.register_agency(agency)
    case = subject("case", "c1")
    log.append(case, "CaseOpened", "la")
    log.append(subject("case", "c2"), "CaseOpened", "la")
    log.append(case, "AgencyJoinedCase", "police")
    log.append(case, "ActionRecorded", "health")
    log.append(subject("case", "c2"), "ActionRecorded", "police")
    log.append(case, "CooperationRefused", "police")
    return log
