"""The agencies' keys as a verifier folds them from the stream's own partnership events.

Keys are registered (``AgencyKeyRegistered``) and revoked (``AgencyKeyRevoked``) by events on
the partnership's subject; ``SignaturesRequired`` makes signatures compulsory from a date on.
A verifier folds those events in stream order, so "registered before use" and "not revoked
before the event" are both questions about what the ring held when the event was read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.proofs.entry import unb64
from ledger.proofs.errors import SignatureInvalid
from schemas import AgencyKeyRegistered, AgencyKeyRevoked, Event, SignaturesRequired

__all__ = ["KEY_EVENTS", "AgencyKey", "KeyRing"]

#: The type tags of the partnership events a key ring folds.
KEY_EVENTS: Final = frozenset({"AgencyKeyRegistered", "AgencyKeyRevoked", "SignaturesRequired"})
_PUBLIC_KEY_SIZE: Final = 32


@dataclass(slots=True)
class AgencyKey:
    """One registered key: its public half, its custody, and the sequence that revoked it."""

    public_key: Ed25519PublicKey
    raw: bytes
    custody: str
    registered_at: int
    revoked_at: int | None = None


@dataclass(slots=True)
class KeyRing:
    """Every partnership's agency keys and signature requirement, as of the events folded."""

    keys: dict[tuple[str, str, str], AgencyKey] = field(default_factory=dict)
    required_from: dict[str, dt.date] = field(default_factory=dict)

    def fold(self, seq: int, partnership: str, event: Event) -> str | None:
        """Fold a partnership event; the rule it breaks if it cannot be folded, else None."""
        if isinstance(event, AgencyKeyRegistered):
            agency, key_id = event.agency, event.key_id
            try:
                raw = unb64(event.public_key, field="public_key", size=_PUBLIC_KEY_SIZE)
            except SignatureInvalid as e:
                return str(e)
            previous = self.keys.get((partnership, agency, key_id))
            if previous is not None:
                return (
                    f"AgencyKeyRegistered: key '{key_id}' of agency '{agency}' was registered "
                    f"before (at sequence {previous.registered_at}); a key id is registered once"
                )
            self.keys[(partnership, agency, key_id)] = AgencyKey(
                public_key=Ed25519PublicKey.from_public_bytes(raw),
                raw=raw,
                custody=event.custody,
                registered_at=seq,
            )
        elif isinstance(event, AgencyKeyRevoked):
            agency, key_id = event.agency, event.key_id
            key = self.keys.get((partnership, agency, key_id))
            if key is None:
                return (
                    f"AgencyKeyRevoked: key '{key_id}' of agency '{agency}' was never "
                    "registered; only a registered key can be revoked"
                )
            if key.revoked_at is None:
                key.revoked_at = seq
        elif isinstance(event, SignaturesRequired):
            self.required_from[partnership] = event.required_from
        return None

    def requires_signature(self, partnership: str, recorded_at: dt.datetime) -> bool:
        """Whether an event of ``partnership`` recorded at ``recorded_at`` must be signed."""
        since = self.required_from.get(partnership)
        return since is not None and recorded_at.date() >= since

    def key(self, partnership: str, agency: str, key_id: str) -> AgencyKey | None:
        """The key ``key_id`` of ``agency`` in ``partnership``, if it was registered."""
        return self.keys.get((partnership, agency, key_id))

    def agency_keys(self, agency: str) -> list[tuple[bytes, Ed25519PublicKey]]:
        """Every key ``agency`` registered in any partnership (its cosigning keys)."""
        return [(k.raw, k.public_key) for (_, a, _), k in self.keys.items() if a == agency]
