"""The agencies' keys, folded from the stream's own partnership events: the one key registry.

Keys are registered (``AgencyKeyRegistered``) and revoked (``AgencyKeyRevoked``) by events on
the partnership's subject; ``SignaturesRequired`` makes signatures compulsory from a date on.
Every verifier folds those events in stream order into a :class:`KeyRing` and asks it the same
questions (docs/proofs.md, "Signatures" and "Witnesses"):

- :meth:`KeyRing.signing_key`: may this key sign the event at sequence ``seq``? It was
  registered by the agency on the event's partnership at an earlier sequence and not revoked
  at an earlier sequence;
- :meth:`KeyRing.required_from`: must the event at ``seq`` be signed? A ``SignaturesRequired``
  at an earlier sequence dates it on or before the event's ``recorded_at``;
- :meth:`KeyRing.cosigning_key`: does this cosignature count? It verifies with a key the
  agency registered (on any partnership: a cosignature names no partnership) that had not
  been revoked when the cosignature was made (:meth:`AgencyKey.cosigns`).

Who may register and revoke an agency's keys (:func:`key_event_authority`): an agency with
no live key on the partnership (its first key) has it registered on the operator's word,
unsigned or signed by that key itself; once it has a live key, every ``AgencyKeyRegistered``
and ``AgencyKeyRevoked`` of its keys must be signed by one of its live keys.

The stream verifier (:mod:`ledger.proofs.verifier`), the bundle verifier
(:mod:`ledger.verify`) and the service counting cosignatures (:mod:`runtime.log`) all use it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from ledger.proofs import ed25519
from ledger.proofs.entry import unb64
from ledger.proofs.errors import CheckpointInvalid, SignatureInvalid
from ledger.proofs.note import Checkpoint, verify_cosignature
from schemas import (
    EVENT_TYPES,
    AgencyKeyRegistered,
    AgencyKeyRevoked,
    Event,
    InvalidEvent,
    SignaturesRequired,
    decode_event_as,
)
from schemas.wire import is_identifier

__all__ = [
    "AGENCY_KEY_EVENTS",
    "KEY_AUTHORITY",
    "KEY_EVENTS",
    "PINNED_KEYS",
    "AgencyKey",
    "AgencyPins",
    "CosignatureVerdict",
    "KeyEvent",
    "KeyRing",
    "key_event_authority",
    "parse_agency_pins",
    "unpinned",
]

#: The type tags of the partnership events a key ring folds.
KEY_EVENTS: Final = frozenset({"AgencyKeyRegistered", "AgencyKeyRevoked", "SignaturesRequired"})
#: Of those, the ones that change an agency's keys (:data:`KeyEvent`): they need the agency's
#: authority, and are delivered to it.
AGENCY_KEY_EVENTS: Final = frozenset({"AgencyKeyRegistered", "AgencyKeyRevoked"})
_PUBLIC_KEY_SIZE: Final = 32
#: The rule an agency's key events obey once it has a live key (docs/proofs.md, "Who may
#: register and revoke an agency's keys"); :class:`~ledger.proofs.errors.KeyEventUnauthorised`.
KEY_AUTHORITY: Final = "key_events_signed_by_live_key"
#: The events that change an agency's keys, and so need its authority.
KeyEvent: TypeAlias = AgencyKeyRegistered | AgencyKeyRevoked


def key_event_authority(
    event: KeyEvent, live: Collection[str], signed_by: tuple[str, str] | None
) -> str | None:
    """Why ``event`` may not be recorded signed by ``signed_by`` (``(agency, key_id)`` of its
    ``Ledger-Signature``; None when unsigned), or None if it may.

    ``live`` holds the ids of the keys ``event.agency`` has live on the event's partnership
    just before it (registered, not revoked). With none (the agency's first key, or none left
    after it revoked its last itself), a registration is the operator's word: unsigned, or
    signed by the very key it registers (proof that its holder has it). With some, the event
    must be signed by one of them: the operator alone can neither add a key nor take one
    away. A key may sign its own revocation.
    """
    what = "registration" if isinstance(event, AgencyKeyRegistered) else "revocation"
    about = f"{type(event).__name__}: the {what} of key '{event.key_id}' of agency '{event.agency}'"
    if not live:
        own = (event.agency, event.key_id)
        if isinstance(event, AgencyKeyRegistered) and signed_by not in (None, own):
            return (
                f"{about} is signed by key '{signed_by[1]}' of agency '{signed_by[0]}', which "
                f"is not a live key of '{event.agency}' (it has none); rule {KEY_AUTHORITY}: "
                "an agency's first key is registered unsigned or signed by itself"
            )
        return None
    names = ", ".join(sorted(live))
    if signed_by is None:
        why = "is not signed"
    elif signed_by[0] != event.agency or signed_by[1] not in live:
        why = (
            f"is signed by key '{signed_by[1]}' of agency '{signed_by[0]}', not by a live key "
            f"of '{event.agency}'"
        )
    else:
        return None
    return (
        f"{about} {why}; rule {KEY_AUTHORITY}: once an agency has a live key ({names}), its "
        "keys are registered and revoked only under a signature by one of them"
    )


#: The rule an inspector's pinned keys impose (``--agency-key``: docs/proofs.md, "Pinning
#: agencies' keys").
PINNED_KEYS: Final = "pinned_agency_keys"
#: Per agency, the raw public keys an inspector had from the agency itself.
AgencyPins: TypeAlias = Mapping[str, frozenset[bytes]]


def parse_agency_pins(texts: Iterable[str], *, option: str = "--agency-key") -> AgencyPins:
    """``AGENCY:PUBLIC_KEY`` values (the key in standard base64, as ``ledger keys generate``
    prints it) as pins; :class:`SignatureInvalid` naming the first bad one and the rule."""
    pins: dict[str, set[bytes]] = {}
    for text in texts:
        agency, sep, key = text.partition(":")
        if not sep or not is_identifier(agency):
            msg = (
                f"{option}: {text[:80]!r} is not AGENCY:PUBLIC_KEY (an agency id, a colon, and "
                "its Ed25519 public key in standard base64)"
            )
            raise SignatureInvalid(msg)
        raw = unb64(key, field=f"{option} {agency}", size=_PUBLIC_KEY_SIZE)
        problem = ed25519.public_key_problem(raw)
        if problem is not None:
            msg = f"{option} {agency}: the public key {problem}"
            raise SignatureInvalid(msg)
        pins.setdefault(agency, set()).add(raw)
    return {agency: frozenset(raws) for agency, raws in pins.items()}


def unpinned(event: AgencyKeyRegistered, pins: AgencyPins) -> str | None:
    """Why ``event`` breaks the inspector's pins (it registers, for a pinned agency, a key
    that agency did not give), or None. A malformed key is left to the fold to name."""
    allowed = pins.get(event.agency)
    if allowed is None:
        return None
    try:
        raw = unb64(event.public_key, field="public_key", size=_PUBLIC_KEY_SIZE)
    except SignatureInvalid:
        return None
    if raw in allowed:
        return None
    return (
        f"AgencyKeyRegistered: key '{event.key_id}' of agency '{event.agency}' is not one of "
        f"the {len(allowed)} key(s) pinned for it; rule {PINNED_KEYS}: every key registered "
        "for a pinned agency is one the agency gave the verifier (someone else registered it)"
    )


@dataclass(slots=True)
class AgencyKey:
    """One registered key: whose, its public half (32 raw bytes), its custody, and when it
    was revoked."""

    partnership: str
    agency: str
    key_id: str
    raw: bytes
    custody: str
    registered_at: int
    revoked_at: int | None = None
    #: The revocation's ``recorded_at``: when the ledger accepted it.
    revoked_time: dt.datetime | None = None
    revoked_reason: str | None = None

    def signs_at(self, seq: int) -> str | None:
        """Why this key may not sign the event at ``seq``, or None if it may: registered at
        an earlier sequence, not revoked at an earlier sequence."""
        if self.registered_at >= seq:
            return (
                f"key '{self.key_id}' of agency '{self.agency}' is not registered on "
                f"partnership '{self.partnership}' before this event"
            )
        if self.revoked_at is not None and self.revoked_at < seq:
            return (
                f"key '{self.key_id}' of agency '{self.agency}' was revoked at sequence "
                f"{self.revoked_at}, before this event"
            )
        return None

    def cosigns(self, size: int, timestamp: int) -> str | None:
        """Why this key's cosignature of a tree of ``size`` made at ``timestamp`` (POSIX
        seconds) does not count, or None if it does.

        A revoked key counts only for a cosignature made before its revocation: over a tree
        that does not hold the revocation (``size`` below its sequence: a checkpoint that
        holds it was made after it) and timestamped before the revocation's ``recorded_at``.
        Whatever the reason (``rotated``, ``retired``, ``compromised``): a thief of the key
        can set any timestamp, but cannot cosign a tree that holds the revocation.
        """
        if self.revoked_at is None or self.revoked_time is None:
            return None
        if size >= self.revoked_at:
            return (
                f"key '{self.key_id}' of agency '{self.agency}' was revoked at sequence "
                f"{self.revoked_at} ({self.revoked_reason}), within the tree of size {size} "
                "it cosigns"
            )
        if timestamp >= self.revoked_time.timestamp():
            return (
                f"key '{self.key_id}' of agency '{self.agency}' was revoked "
                f"({self.revoked_reason}) at {self.revoked_time.isoformat()}, before the "
                f"cosignature's time {timestamp}"
            )
        return None


@dataclass(frozen=True, slots=True)
class CosignatureVerdict:
    """What a key ring says of one cosignature line."""

    #: The key it counts for; None if it does not count.
    key: AgencyKey | None
    #: It verifies with a key the agency registered (counted, or revoked before it was made).
    verified: bool
    #: Why it does not count ("" if it does).
    problem: str = ""

    @property
    def counts(self) -> bool:
        return self.key is not None


@dataclass(slots=True)
class KeyRing:
    """Every partnership's agency keys and signature requirements, as of the events folded."""

    keys: dict[tuple[str, str, str], AgencyKey] = field(default_factory=dict)
    #: Per partnership, each ``SignaturesRequired`` as (its sequence, its date), in order.
    required: dict[str, list[tuple[int, dt.date]]] = field(default_factory=dict)
    _by_agency: dict[str, list[AgencyKey]] = field(default_factory=dict)
    #: Each agency id's first partnership to register a key for it: the one whose keys
    #: cosign for it (:meth:`cosigning_key`).
    _witnessing: dict[str, str] = field(default_factory=dict)

    # -- folding -----------------------------------------------------------------------

    def fold(self, seq: int, partnership: str, event: Event) -> str | None:
        """Fold a partnership event; the rule it breaks if it cannot be folded, else None."""
        if isinstance(event, AgencyKeyRegistered):
            return self._register(seq, partnership, event)
        if isinstance(event, AgencyKeyRevoked):
            key = self.keys.get((partnership, event.agency, event.key_id))
            if key is None:
                return (
                    f"AgencyKeyRevoked: key '{event.key_id}' of agency '{event.agency}' was "
                    "never registered; only a registered key can be revoked"
                )
            if key.revoked_at is None:
                key.revoked_at, key.revoked_time = seq, event.recorded_at
                key.revoked_reason = event.reason
        elif isinstance(event, SignaturesRequired):
            self.required.setdefault(partnership, []).append((seq, event.required_from))
        return None

    def fold_stored(self, seq: int, partnership: str, topic: str, payload: bytes) -> str | None:
        """Fold a stored message of ``partnership`` (decoded here if it is a key event; any
        other is ignored); the rule it breaks if it cannot be folded, else None."""
        if topic not in KEY_EVENTS:
            return None
        try:
            event = decode_event_as(payload, EVENT_TYPES[topic])
        except InvalidEvent as e:
            return f"{topic}: {e}"
        return self.fold(seq, partnership, event)

    def _register(self, seq: int, partnership: str, event: AgencyKeyRegistered) -> str | None:
        agency, key_id = event.agency, event.key_id
        key = self.proposed(seq, partnership, event)
        if isinstance(key, str):
            return key
        previous = self.keys.get((partnership, agency, key_id))
        if previous is not None:
            return (
                f"AgencyKeyRegistered: key '{key_id}' of agency '{agency}' was registered "
                f"before (at sequence {previous.registered_at}); a key id is registered once"
            )
        self.keys[(partnership, agency, key_id)] = key
        self._by_agency.setdefault(agency, []).append(key)
        self._witnessing.setdefault(agency, partnership)
        return None

    @staticmethod
    def proposed(seq: int, partnership: str, event: AgencyKeyRegistered) -> AgencyKey | str:
        """The key ``event`` (at ``seq``) registers, not folded; why not if it is malformed."""
        try:
            raw = unb64(event.public_key, field="public_key", size=_PUBLIC_KEY_SIZE)
        except SignatureInvalid as e:
            return str(e)
        problem = ed25519.public_key_problem(raw)
        if problem is not None:
            return (
                f"AgencyKeyRegistered: public_key {problem} (rule: a registered key is the "
                "canonical encoding of a point of prime order; docs/proofs.md, 'Ed25519')"
            )
        return AgencyKey(
            partnership=partnership,
            agency=event.agency,
            key_id=event.key_id,
            raw=raw,
            custody=event.custody,
            registered_at=seq,
        )

    # -- questions ---------------------------------------------------------------------

    def live(self, partnership: str, agency: str, seq: int) -> list[AgencyKey]:
        """The keys ``agency`` has live on ``partnership`` for the event at ``seq``: registered
        at an earlier sequence and not revoked at an earlier one (:meth:`AgencyKey.signs_at`)."""
        return [
            k
            for k in self._by_agency.get(agency, ())
            if k.partnership == partnership and k.signs_at(seq) is None
        ]

    def required_from(self, partnership: str, seq: int, recorded_at: dt.datetime) -> dt.date | None:
        """The date from which ``partnership`` requires the event at ``seq``, recorded at
        ``recorded_at``, to be signed; None if it need not be."""
        found = None
        for at, since in self.required.get(partnership, ()):
            if at >= seq:
                break
            found = since
        return found if found is not None and recorded_at.date() >= found else None

    def signing_key(self, partnership: str, agency: str, key_id: str, seq: int) -> AgencyKey | str:
        """The key that may sign the event at ``seq`` (see :meth:`AgencyKey.signs_at`), or
        why there is none."""
        key = self.keys.get((partnership, agency, key_id))
        if key is None:
            return (
                f"key '{key_id}' of agency '{agency}' is not registered on partnership "
                f"'{partnership}' before this event"
            )
        problem = key.signs_at(seq)
        return key if problem is None else problem

    def registered(self, agency: str) -> list[AgencyKey]:
        """Every key ``agency`` registered, on any partnership, in sequence order."""
        return list(self._by_agency.get(agency, ()))

    def cosigning_key(
        self, agency: str, cp: Checkpoint, line: str, *, among: Collection[bytes] | None = None
    ) -> CosignatureVerdict:
        """Whether ``agency``'s cosignature ``line`` of ``cp`` counts: it verifies with a key
        the agency registered whose public key is one registered on the agency's witnessing
        partnership (the first to register a key for that agency id: a cosignature names no
        partnership, and a first key elsewhere is only the operator's word), and that key
        :meth:`AgencyKey.cosigns` it. ``among``: only keys with these raw public bytes are
        tried."""
        registered = self.registered(agency)
        witnessing = self._witnessing.get(agency)
        witness_keys = {k.raw for k in registered if k.partnership == witnessing}
        keys = [
            k for k in registered if k.raw in witness_keys and (among is None or k.raw in among)
        ]
        if not keys:
            return CosignatureVerdict(None, False, f"agency '{agency}' registered no key")
        failures: list[str] = []
        revoked: list[str] = []
        for key in keys:
            try:
                timestamp = verify_cosignature(cp, line, agency, key.raw)
            except CheckpointInvalid as e:
                failures.append(str(e))
                continue
            problem = key.cosigns(cp.size, timestamp)
            if problem is None:
                return CosignatureVerdict(key, True)
            revoked.append(problem)
        if revoked:
            return CosignatureVerdict(None, True, f"it does not count: {revoked[0]}")
        why = f"verifies with none of agency '{agency}' keys ({failures[0]})"
        return CosignatureVerdict(None, False, why)
