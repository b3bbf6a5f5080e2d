"""The stream verifier: fed the stored messages in order, it names the first that fails.

Pure (no I/O): ``ledger verify`` reads the stream and feeds it here, and a test feeds a stream
it built in memory. The rules, and which sequence each kind of change is named at, are
docs/proofs.md's ("Verifying the stream"). In order, for each message:

1. its sequence is the one expected next (a gap, a duplicate, a reordering);
2. its subject is an aggregate's (``<prefix>.<partnership>.<kind>.<id>``) or a tracking
   position's (``<prefix>._tracking.<app>``, a leaf and nothing more);
3. ``Ledger-Version`` is the subject's last version plus one, and ``Ledger-Prev-Hash`` the
   entry hash of the subject's previous event (none on its first);
4. the payload decodes as the event type ``Ledger-Topic`` names, of the subject's kind, and
   opens the aggregate exactly when it is the first event;
5. ``Ledger-Signature``, if present, verifies with a key its agency (the event's
   ``recorded_by``) registered on the subject's partnership before, not revoked before; and
   is present when the partnership requires signatures on the event's ``recorded_at``; an
   agency's key registration or revocation is signed by one of its live keys once it has one
   (:func:`ledger.proofs.keys.key_event_authority`);
6. every checkpoint of this size (see :mod:`ledger.proofs.checkpoints`) has the root of the
   Merkle tree over the entries so far.

Memory is O(subjects): per subject its partnership, kind, version and last entry hash; for
the tree, a frontier of O(log n) hashes; never a payload but those of the signatures queued.

The link and signature checks are :mod:`ledger.proofs._checks`' (the bundle verifier's too);
the Ed25519 verifications run in batches on a pool when one is given (worker processes in
``ledger verify``; :mod:`ledger.proofs._signatures`), and every failure found is held back
until the queued signatures before it are settled, so the sequence named is the same with a
pool or without.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, TypeVar

import msgspec

from ledger.proofs import _signatures
from ledger.proofs._checks import (
    Signed,
    check_link,
    key_event_signer,
    parse_version,
    signer,
    verify_signature,
)
from ledger.proofs._signatures import BATCH as SIGNATURE_BATCH
from ledger.proofs._signatures import SignatureChecks
from ledger.proofs.entry import entry_hash
from ledger.proofs.errors import VerificationFailed
from ledger.proofs.keys import (
    AGENCY_KEY_EVENTS,
    KEY_EVENTS,
    AgencyPins,
    KeyEvent,
    KeyRing,
    unpinned,
)
from schemas import (
    EVENT_TYPES,
    AgencyKeyRegistered,
    AgencyKeyRevoked,
    Event,
    InvalidEvent,
    decode_event_as,
)
from schemas.wire import (
    AGGREGATE_ID_PATTERN,
    HDR_PREV_HASH,
    HDR_TOPIC,
    HDR_VERSION,
    TRACKING_SPACE,
)

__all__ = [
    "SIGNATURE_WORKER",
    "RootCheck",
    "StoredMessage",
    "StreamVerifier",
    "Summary",
    "check_stored_key_event",
    "decode_once",
]

_TRACKING_TOPIC: Final = "Tracking"
#: The module a worker process of the signature pool runs (to import it ahead of time).
SIGNATURE_WORKER: Final = _signatures.__name__
_json: Final = msgspec.json.Decoder()
E = TypeVar("E", bound=Event)


class StoredMessage(NamedTuple):
    """One message as the stream stores it."""

    seq: int
    subject: str
    headers: Mapping[str, str]
    payload: bytes


class RootCheck:
    """What a verifier asks of the Merkle side: a tree of the entries, and the roots to meet.

    :class:`ledger.proofs.checkpoints.Checkpoints` is the real one; ``None`` for a range that
    does not start at 1 (no root can be checked without every entry before it).
    """

    def bind(self, keys: KeyRing) -> None:
        """Check cosignatures against ``keys``, the verifier's ring as it folds the stream."""
        raise NotImplementedError

    def append(self, seq: int, leaf: bytes) -> None:
        """Add the entry hash of sequence ``seq``; raise :class:`VerificationFailed` at a
        checkpoint's size whose root differs."""
        raise NotImplementedError

    def pending(self, keys: KeyRing) -> VerificationFailed | None:
        """A failure held back (a cosigned root that differs) that still counts with
        ``keys``, the earliest; None if there is none."""
        raise NotImplementedError

    def finish(self, last: int, *, whole: bool, keys: KeyRing) -> tuple[int, int, int]:
        """Check what waited for the end; ``(checkpoints, cosignatures, uncounted)``:
        cosignatures counted, and those by a key revoked before they were made."""
        raise NotImplementedError


class _Chain:
    """A subject's chain so far: its partnership and kind, last version and entry hash."""

    __slots__ = ("kind", "last_hash", "partnership", "version")

    def __init__(self, partnership: str, kind: str) -> None:
        self.partnership = partnership
        self.kind = kind
        self.version = 0
        self.last_hash: bytes | None = None


@dataclass(slots=True)
class Summary:
    """What a verification checked."""

    first: int
    last: int
    events: int = 0
    positions: int = 0
    subjects: int = 0
    signatures: int = 0
    trusted_links: int = 0
    checkpoints: int = 0
    cosignatures: int = 0
    #: Cosignatures that verify with a key revoked before they were made: not counted.
    uncounted: int = 0
    #: Pinned agencies with at least one key registered (each one pinned), and pinned
    #: agencies with none: a pin that constrained nothing (a mistyped id?).
    pinned: list[str] = field(default_factory=list)
    pins_unused: list[str] = field(default_factory=list)


class StreamVerifier:
    """Checks stored messages fed in order from sequence ``start``.

    ``prefix`` is the stream's subject prefix. From a ``start`` after 1, each subject's first
    event in range is taken on trust for its ``Ledger-Version`` and ``Ledger-Prev-Hash``
    (counted as a trusted link), and the key ring must be :meth:`prime`'d with the partnership
    events before ``start``. ``roots`` checks checkpoints (only from ``start`` 1). ``pool``
    verifies signatures in parallel (see the module's doc), ``signature_batch`` at a time; the
    caller owns it. ``pins``: per agency, the public keys the verifier had from the agency
    itself; a key registered for a pinned agency that is not among them fails
    (:func:`~ledger.proofs.keys.unpinned`), before the range too.
    """

    def __init__(
        self,
        prefix: str,
        *,
        start: int = 1,
        roots: RootCheck | None = None,
        pool: Executor | None = None,
        signature_batch: int = SIGNATURE_BATCH,
        pins: AgencyPins | None = None,
    ) -> None:
        if start < 1:
            msg = f"start: {start} is not a stream sequence (they begin at 1)"
            raise ValueError(msg)
        if roots is not None and start != 1:
            msg = "roots: checkpoints can be checked only from sequence 1"
            raise ValueError(msg)
        self._prefix = prefix + "."
        self._tracking = f"{prefix}.{TRACKING_SPACE}."
        self._cut = len(self._prefix)
        self._start = start
        self._next = start
        self._roots = roots
        self._append: Callable[[int, bytes], None] | None = roots.append if roots else None
        self.keys = KeyRing()
        self._pins: AgencyPins = pins or {}
        if roots is not None:
            roots.bind(self.keys)
        self._chains: dict[str, _Chain] = {}
        self._signatures = SignatureChecks(pool, batch=signature_batch)
        self.summary = Summary(first=start, last=start - 1)

    # -- before the range ------------------------------------------------------------

    def prime(self, subject: str, headers: Mapping[str, str], payload: bytes, seq: int) -> None:
        """Fold a partnership event from before ``start`` into the key ring, unchecked but
        for the pins."""
        topic = headers.get(HDR_TOPIC, "")
        match = AGGREGATE_ID_PATTERN.fullmatch(subject[self._cut :])
        if topic not in KEY_EVENTS or match is None or seq >= self._start:
            return
        if self._pins and topic == "AgencyKeyRegistered":
            try:
                registered = decode_event_as(payload, AgencyKeyRegistered)
            except InvalidEvent:
                pass  # the fold names it
            else:
                if (problem := unpinned(registered, self._pins)) is not None:
                    raise VerificationFailed(seq, f"{problem} (before the range)")
        self.keys.fold_stored(seq, match.group(1), topic, payload)

    # -- the range -------------------------------------------------------------------

    def feed(self, seq: int, subject: str, headers: Mapping[str, str], payload: bytes) -> None:
        """Check one message; :class:`VerificationFailed` names it (or the sequence missing),
        or an earlier one whose failure was held back."""
        try:
            self._feed(seq, subject, headers, payload)
        except VerificationFailed as found:
            failure = self._earliest(found)
            assert failure is not None
            if failure is found:
                raise
            raise failure from None

    def finish(self, *, whole: bool, last: int | None = None) -> Summary:
        """End of the range: check what waited for it. ``whole``: the range ran to the
        stream's end, so a checkpoint beyond the last sequence means messages were removed.
        ``last``: the sequence the stream said it holds up to, if known."""
        found = None
        if last is not None and self.summary.last < last:
            missing = self.summary.last + 1
            why = f"sequence {missing} is missing: the stream ends before it"
            found = VerificationFailed(missing, why)
        held = self._earliest(found)
        if held is not None:
            raise held
        self.summary.signatures = self._signatures.checked
        if self._roots is not None:
            checked = self._roots.finish(self.summary.last, whole=whole, keys=self.keys)
            self.summary.checkpoints, self.summary.cosignatures, self.summary.uncounted = checked
        self.summary.subjects = len(self._chains)
        self.summary.pinned = sorted(a for a in self._pins if self.keys.registered(a))
        self.summary.pins_unused = sorted(a for a in self._pins if not self.keys.registered(a))
        return self.summary

    def _earliest(self, found: VerificationFailed | None) -> VerificationFailed | None:
        """The failure to name: of ``found``, a queued signature's and a held-back root's,
        the one at the earliest sequence (at one sequence, in the order they are checked)."""
        failures: list[tuple[float, int, VerificationFailed]] = []
        try:
            self._signatures.drain()
        except VerificationFailed as e:
            failures.append((_at(e), 0, e))
        if found is not None:
            failures.append((_at(found), 1, found))
        if self._roots is not None and (held := self._roots.pending(self.keys)) is not None:
            failures.append((_at(held), 2, held))
        return min(failures, key=lambda f: f[:2])[2] if failures else None

    def _feed(self, seq: int, subject: str, headers: Mapping[str, str], payload: bytes) -> None:
        expected = self._next
        if seq != expected:
            if seq < expected:
                why = f"sequence {seq} again after {expected - 1}: a duplicate or a reordering"
                raise VerificationFailed(seq, why)
            why = f"sequence {expected} is missing: the next message read has sequence {seq}"
            raise VerificationFailed(expected, why)
        leaf = entry_hash(subject, headers, payload)
        if not subject.startswith(self._prefix):
            raise VerificationFailed(seq, f"subject is not under the prefix '{self._prefix}'")
        if subject.startswith(self._tracking):
            self._position(seq, headers)
        else:
            self._event(seq, subject, headers, payload, leaf)
        self._next = seq + 1
        self.summary.last = seq
        if self._append is not None:
            self._append(seq, leaf)

    # -- one message -----------------------------------------------------------------

    def _position(self, seq: int, headers: Mapping[str, str]) -> None:
        topic = headers.get(HDR_TOPIC, "")
        if topic != _TRACKING_TOPIC:
            why = f"{HDR_TOPIC}: is '{topic}' on a tracking subject, where only 'Tracking' is"
            raise VerificationFailed(seq, why)
        self.summary.positions += 1

    def _event(
        self, seq: int, subject: str, headers: Mapping[str, str], payload: bytes, leaf: bytes
    ) -> None:
        chain = self._chains.get(subject)
        if chain is None:
            match = AGGREGATE_ID_PATTERN.fullmatch(subject[self._cut :])
            if match is None:
                why = (
                    "subject is neither '<prefix>.<partnership>.<kind>.<id>' (safe tokens, "
                    "kind partnership/case/challenge/review) nor a tracking position"
                )
                raise VerificationFailed(seq, why)
            chain = _Chain(match.group(1), match.group(2))
        version = parse_version(seq, headers.get(HDR_VERSION, ""))
        if chain.last_hash is None and self._start > 1 and version > 1:
            self.summary.trusted_links += 1  # the chain entered mid-way: taken on trust
        else:
            prev = headers.get(HDR_PREV_HASH, "")
            check_link(seq, version, prev, chain.version, chain.last_hash)
        tag = headers.get(HDR_TOPIC, "")
        event, obj = self._decode(seq, tag, payload, chain.kind, version)
        if isinstance(event, AgencyKeyRegistered) and (problem := unpinned(event, self._pins)):
            raise VerificationFailed(seq, problem)
        if tag in AGENCY_KEY_EVENTS and isinstance(event, AgencyKeyRegistered | AgencyKeyRevoked):
            found = key_event_signer(self.keys, seq, chain.partnership, headers, event)
        else:
            found = signer(
                self.keys,
                seq,
                chain.partnership,
                headers,
                event.recorded_by.agency,
                event.recorded_at,
            )
        if found is not None:
            self._signatures.add(Signed(seq, subject, obj, *found, stored=payload))
        if tag in KEY_EVENTS:
            problem = self.keys.fold(seq, chain.partnership, event)
            if problem is not None:
                raise VerificationFailed(seq, problem)
        chain.version, chain.last_hash = version, leaf
        self._chains[subject] = chain
        self.summary.events += 1

    @staticmethod
    def _decode(
        seq: int, topic: str, payload: bytes, kind: str, version: int
    ) -> tuple[Event, dict[str, Any]]:
        cls = EVENT_TYPES.get(topic)
        if cls is None:
            raise VerificationFailed(seq, f"{HDR_TOPIC}: names no event type of the ledger")
        event, obj = decode_once(payload, cls)
        if event is None:
            try:
                decode_event_as(payload, cls)  # the schemas' own words for what is wrong
            except InvalidEvent as e:
                raise VerificationFailed(seq, f"payload: {e}") from e
            why = f"payload: does not convert to {topic} (though it decodes as one)"
            raise VerificationFailed(seq, why)
        if cls.aggregate_kind != kind:
            why = f"{HDR_TOPIC}: {topic} is an event of a {cls.aggregate_kind}, not of a {kind}"
            raise VerificationFailed(seq, why)
        if cls.opens != (version == 1):
            why = (
                f"{topic} at version {version}: an aggregate's first event, and only it, "
                "is one that opens it"
            )
            raise VerificationFailed(seq, why)
        return event, obj


def decode_once(payload: bytes, cls: type[E]) -> tuple[E | None, dict[str, Any]]:
    """``payload`` decoded once: as a JSON object (what a signature covers) and, from that,
    as ``cls`` (``None`` where it is not one, or not a JSON object: the caller asks the
    schemas' decoder why). msgspec's ``convert`` applies the same rules to the decoded
    object as its decoder applies to the bytes (tests/unit/test_stream_verifier.py checks
    that they accept the same payloads)."""
    try:
        obj = _json.decode(payload)
    except (msgspec.DecodeError, RecursionError):
        return None, {}
    if type(obj) is not dict:
        return None, {}
    try:
        return msgspec.convert(obj, cls), obj
    except (msgspec.ValidationError, RecursionError):
        return None, obj


def _at(failure: VerificationFailed) -> float:
    return math.inf if failure.seq is None else failure.seq


def check_stored_key_event(
    ring: KeyRing,
    seq: int,
    subject: str,
    partnership: str,
    headers: Mapping[str, str],
    topic: str,
    payload: bytes,
) -> KeyEvent | str:
    """A stored agency key event of ``partnership`` at ``seq`` (``topic``
    ``AgencyKeyRegistered`` or ``AgencyKeyRevoked``: a ``SignaturesRequired`` needs no
    agency's authority and is folded as it is), decoded and checked as the verifiers check it
    before folding it (:func:`key_event_signer`, then the signature itself), or why it may
    not be folded: for readers of the stream that keep a :class:`KeyRing` without verifying
    the whole stream (the service's, runtime/_agency_keys.py)."""
    try:
        event = decode_event_as(payload, EVENT_TYPES[topic])
    except (KeyError, InvalidEvent) as e:
        return f"{topic}: {e}"
    if not isinstance(event, AgencyKeyRegistered | AgencyKeyRevoked):
        return f"{topic}: is not a key event"
    try:
        found = key_event_signer(ring, seq, partnership, headers, event)
        if found is not None:
            obj = msgspec.json.decode(payload)
            verify_signature(Signed(seq, subject, obj, *found, stored=payload))
    except VerificationFailed as e:
        return e.reason
    return event
