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
   is present when the partnership requires signatures on the event's ``recorded_at``;
6. every checkpoint of this size (see :mod:`ledger.proofs.checkpoints`) has the root of the
   Merkle tree over the entries so far.

Memory is O(subjects): per subject its partnership, kind, version and last entry hash; for
the tree, a frontier of O(log n) hashes; never a payload.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, NamedTuple

from ledger.proofs._keyring import KEY_EVENTS, KeyRing
from ledger.proofs.entry import SignatureHeader, b64, entry_hash, verify_assertion
from ledger.proofs.errors import SignatureInvalid, VerificationFailed
from schemas import EVENT_TYPES, Event, InvalidEvent, decode_event_as
from schemas.wire import (
    AGGREGATE_ID_PATTERN,
    HDR_PREV_HASH,
    HDR_SIGNATURE,
    HDR_TOPIC,
    HDR_VERSION,
    TRACKING_SPACE,
)

__all__ = ["RootCheck", "StoredMessage", "StreamVerifier", "Summary"]

_TRACKING_TOPIC: Final = "Tracking"


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

    def finish(self, last: int, *, whole: bool, keys: KeyRing) -> tuple[int, int]:
        """Check what waited for the end; ``(checkpoints, cosignatures)`` checked."""
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


class StreamVerifier:
    """Checks stored messages fed in order from sequence ``start``.

    ``prefix`` is the stream's subject prefix. From a ``start`` after 1, each subject's first
    event in range is taken on trust for its ``Ledger-Version`` and ``Ledger-Prev-Hash``
    (counted as a trusted link), and the key ring must be :meth:`prime`'d with the partnership
    events before ``start``. ``roots`` checks checkpoints (only from ``start`` 1).
    """

    def __init__(self, prefix: str, *, start: int = 1, roots: RootCheck | None = None) -> None:
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
        if roots is not None:
            roots.bind(self.keys)
        self._chains: dict[str, _Chain] = {}
        self.summary = Summary(first=start, last=start - 1)

    # -- before the range ------------------------------------------------------------

    def prime(self, subject: str, headers: Mapping[str, str], payload: bytes, seq: int) -> None:
        """Fold a partnership event from before ``start`` into the key ring, unchecked."""
        topic = headers.get(HDR_TOPIC, "")
        match = AGGREGATE_ID_PATTERN.fullmatch(subject[self._cut :])
        if topic not in KEY_EVENTS or match is None or seq >= self._start:
            return
        cls = EVENT_TYPES.get(topic)
        if cls is None:
            return
        try:
            event = decode_event_as(payload, cls)
        except InvalidEvent:
            return
        self.keys.fold(seq, match.group(1), event)

    # -- the range -------------------------------------------------------------------

    def feed(self, seq: int, subject: str, headers: Mapping[str, str], payload: bytes) -> None:
        """Check one message; :class:`VerificationFailed` names it (or the sequence missing)."""
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

    def finish(self, *, whole: bool) -> Summary:
        """End of the range: check what waited for it. ``whole``: the range ran to the
        stream's end, so a checkpoint beyond the last sequence means messages were removed."""
        if self._roots is not None:
            checked = self._roots.finish(self.summary.last, whole=whole, keys=self.keys)
            self.summary.checkpoints, self.summary.cosignatures = checked
        self.summary.subjects = len(self._chains)
        return self.summary

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
        last_version, last_hash = chain.version, chain.last_hash
        version = self._version(seq, headers.get(HDR_VERSION, ""))
        prev = headers.get(HDR_PREV_HASH, "")
        if last_hash is None and self._start > 1 and version > 1:
            self.summary.trusted_links += 1  # the chain entered mid-way: taken on trust
        elif version != last_version + 1:
            why = (
                f"{HDR_VERSION}: is {version} where the subject's last version is "
                f"{last_version}; versions run on by one from 1"
            )
            raise VerificationFailed(seq, why)
        elif last_hash is None and prev:
            why = f"{HDR_PREV_HASH}: is set on the first event of its subject, which has none"
            raise VerificationFailed(seq, why)
        elif last_hash is not None and prev != b64(last_hash):
            why = (
                f"{HDR_PREV_HASH}: is not the entry hash of the subject's previous event"
                if prev
                else f"{HDR_PREV_HASH}: is missing where the subject has a previous event"
            )
            raise VerificationFailed(seq, why)
        event, tag = self._decode(seq, headers.get(HDR_TOPIC, ""), payload, chain.kind, version)
        self._signature(seq, subject, headers, payload, chain.partnership, event)
        if tag in KEY_EVENTS:
            problem = self.keys.fold(seq, chain.partnership, event)
            if problem is not None:
                raise VerificationFailed(seq, problem)
        chain.version, chain.last_hash = version, leaf
        self._chains[subject] = chain
        self.summary.events += 1

    @staticmethod
    def _version(seq: int, value: str) -> int:
        if not (value.isascii() and value.isdigit()) or str(int(value)) != value:
            why = f"{HDR_VERSION}: is not a version in decimal (1, 2, ... without leading zeros)"
            raise VerificationFailed(seq, why)
        return int(value)

    @staticmethod
    def _decode(seq: int, topic: str, payload: bytes, kind: str, version: int) -> tuple[Event, str]:
        cls = EVENT_TYPES.get(topic)
        if cls is None:
            raise VerificationFailed(seq, f"{HDR_TOPIC}: names no event type of the ledger")
        try:
            event = decode_event_as(payload, cls)
        except InvalidEvent as e:
            raise VerificationFailed(seq, f"payload: {e}") from e
        if cls.aggregate_kind != kind:
            why = f"{HDR_TOPIC}: {topic} is an event of a {cls.aggregate_kind}, not of a {kind}"
            raise VerificationFailed(seq, why)
        if cls.opens != (version == 1):
            why = (
                f"{topic} at version {version}: an aggregate's first event, and only it, "
                "is one that opens it"
            )
            raise VerificationFailed(seq, why)
        return event, topic

    def _signature(
        self,
        seq: int,
        subject: str,
        headers: Mapping[str, str],
        payload: bytes,
        partnership: str,
        event: Event,
    ) -> None:
        value = headers.get(HDR_SIGNATURE)
        if not value:
            if self.keys.requires_signature(partnership, event.recorded_at):
                since = self.keys.required_from[partnership]
                why = (
                    f"{HDR_SIGNATURE}: is missing; partnership '{partnership}' requires "
                    f"signatures on events recorded from {since.isoformat()}"
                )
                raise VerificationFailed(seq, why)
            return
        try:
            header = SignatureHeader.parse(value)
        except SignatureInvalid as e:
            raise VerificationFailed(seq, str(e)) from e
        if header.agency != event.recorded_by.agency:
            why = (
                f"{HDR_SIGNATURE}: is by agency '{header.agency}' on an event recorded by "
                f"'{event.recorded_by.agency}'; an agency signs only what it records"
            )
            raise VerificationFailed(seq, why)
        key = self.keys.key(partnership, header.agency, header.key_id)
        if key is None:
            why = (
                f"{HDR_SIGNATURE}: key '{header.key_id}' of agency '{header.agency}' is not "
                f"registered on partnership '{partnership}' before this event"
            )
            raise VerificationFailed(seq, why)
        if key.revoked_at is not None:
            why = (
                f"{HDR_SIGNATURE}: key '{header.key_id}' of agency '{header.agency}' was "
                f"revoked at sequence {key.revoked_at}, before this event"
            )
            raise VerificationFailed(seq, why)
        try:
            verify_assertion(key.public_key, header, subject, payload)
        except SignatureInvalid as e:
            raise VerificationFailed(seq, str(e)) from e
        self.summary.signatures += 1
