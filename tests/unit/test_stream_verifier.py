"""The stream verifier names the first sequence at which a stream stops being the one written.

The stream is built in memory from the Ledger's own events (tests/proof_stream.py) with real
chains, Ed25519 signatures and the log's roots; every change an operator could make to a
stored copy is made to it, and the sequence the verifier names is the one docs/proofs.md
("Verifying the stream") says.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.proofs.entry import sign_assertion
from ledger.proofs.errors import VerificationFailed
from ledger.proofs.note import Checkpoint, sign_checkpoint
from ledger.proofs.roots import Roots, WitnessedRoot
from ledger.proofs.verifier import StoredMessage, StreamVerifier, Summary, decode_once
from schemas import EVENT_TYPES, InvalidEvent, decode_event_as
from schemas.wire import HDR_PREV_HASH, HDR_SIGNATURE, HDR_TOPIC, HDR_VERSION
from tests.proof_stream import (
    LOG_KEY,
    ORIGIN,
    PREFIX,
    Fact,
    Keys,
    checkpoints_of,
    cosignature_note,
    ledger_facts,
    signed_notes,
    with_keys,
    write,
)
from tests.proof_stream import witnessed as roots_of

PARTS = ("subject", HDR_TOPIC, HDR_VERSION, HDR_PREV_HASH, HDR_SIGNATURE, "payload")
#: The headers a changed byte of is always caught at its own message.
SELF_CHECKED = (HDR_TOPIC, HDR_VERSION, HDR_PREV_HASH, HDR_SIGNATURE)
PROPERTY = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def stream() -> tuple[StoredMessage, ...]:
    keys = Keys.seeded()
    return tuple(write(with_keys(ledger_facts(), keys), keys))


def checkpoint_sizes() -> tuple[int, ...]:
    """A checkpoint in the middle and one of the whole stream."""
    return (len(stream()) // 2, len(stream()))


@functools.cache
def witnessed() -> tuple[WitnessedRoot, ...]:
    """The log's checkpoints at :func:`checkpoint_sizes`; police cosigned the first."""
    checkpoints = checkpoints_of(stream(), checkpoint_sizes())
    police = cosignature_note(checkpoints[0], "police", Keys.seeded().private["police"])
    return tuple(roots_of(signed_notes(checkpoints), [("police", police)]))


@functools.cache
def pool() -> ThreadPoolExecutor:
    """Two signature-verifying threads, for the whole session: the batching and ordering
    are the same as with the processes ``ledger verify`` uses (tests/integration/
    test_verify_cli.py runs those), and threads start at once."""
    return ThreadPoolExecutor(2, thread_name_prefix="test-verify")


def verify(
    messages: Sequence[StoredMessage],
    roots: Sequence[WitnessedRoot] | None = None,
    *,
    parallel: bool = False,
) -> Summary:
    verifier = StreamVerifier(
        PREFIX,
        roots=Roots(witnessed() if roots is None else roots),
        pool=pool() if parallel else None,
        signature_batch=2,
    )
    for m in messages:
        verifier.feed(*m)
    return verifier.finish(whole=True)


def named(messages: Sequence[StoredMessage], roots: Sequence[WitnessedRoot] | None = None) -> int:
    """The sequence the verifier names for ``messages``, the same with signatures verified
    in parallel (batches of two) as one at a time; fails the test if none is."""
    found = []
    for parallel in (False, True):
        with pytest.raises(VerificationFailed) as info:
            verify(messages, roots, parallel=parallel)
        assert info.value.seq is not None, info.value
        found.append((info.value.seq, info.value.reason))
    assert found[0] == found[1]
    return found[0][0]


def fails_on_its_own(messages: Sequence[StoredMessage], at: int) -> bool:
    """Whether message ``at`` (an index) breaks a rule of its own, given those before it."""
    try:
        verify(messages[: at + 1], roots=[])
    except VerificationFailed as e:
        blamed = e.seq
    else:
        return False
    assert blamed == messages[at].seq  # nothing before it is blamed
    return True


def next_on(messages: Sequence[StoredMessage], subject: str, after: int) -> int | None:
    """The sequence of the next event on ``subject`` after index ``after``."""
    return next((m.seq for m in messages[after + 1 :] if m.subject == subject), None)


def first_checkpoint_covering(seq: int) -> int:
    return min(size for size in checkpoint_sizes() if size >= seq)


def recorded_at_span(payload: bytes) -> range:
    """The bytes of the ``recorded_at`` value in a payload (the one member no agency signs)."""
    start = payload.index(b'"recorded_at":"') + len(b'"recorded_at":"')
    return range(start, payload.index(b'"', start))


def altered(message: StoredMessage, part: str, at: int, new: str | int) -> StoredMessage:
    """``message`` with the byte (or character) at ``at`` of ``part`` changed to ``new``."""
    if part == "payload":
        data = bytearray(message.payload)
        data[at] ^= int(new)
        return message._replace(payload=bytes(data))
    text = message.subject if part == "subject" else message.headers[part]
    changed = text[:at] + str(new) + text[at + 1 :]
    if part == "subject":
        return message._replace(subject=changed)
    return message._replace(headers={**message.headers, part: changed})


class TestTheStreamAsWritten:
    @pytest.mark.parametrize("parallel", [False, True])
    def test_verifies_and_says_what_it_checked(self, parallel: bool) -> None:
        summary = verify(stream(), parallel=parallel)
        assert summary.events == len(stream()) - 1  # one tracking position
        assert summary.positions == 1
        assert summary.subjects == 3
        signed = sum(1 for m in stream() if HDR_SIGNATURE in m.headers)
        assert summary.signatures == signed > 0
        assert summary.checkpoints == len(checkpoint_sizes())
        assert summary.cosignatures == 1

    def test_a_range_from_the_middle_takes_each_chains_first_link_on_trust(self) -> None:
        start = 10
        verifier = StreamVerifier(PREFIX, start=start)
        for m in stream()[: start - 1]:
            verifier.prime(m.subject, m.headers, m.payload, m.seq)
        for m in stream()[start - 1 :]:
            verifier.feed(*m)
        summary = verifier.finish(whole=True)
        assert summary.events == len(stream()) - start + 1
        assert summary.trusted_links == 1  # c-1 entered at version 2; c-2 starts in range
        assert summary.signatures == sum(
            1 for m in stream()[start - 1 :] if HDR_SIGNATURE in m.headers
        )


class TestAChangedByte:
    @PROPERTY
    @given(data=st.data())
    def test_is_named_at_its_message_or_where_the_docs_say(self, data: st.DataObject) -> None:
        messages = list(stream())
        i = data.draw(st.integers(0, len(messages) - 1), label="index")
        original = messages[i]
        parts = [p for p in PARTS if p in ("subject", "payload") or original.headers.get(p)]
        part = data.draw(st.sampled_from(parts), label="part")
        if part == "payload":
            at = data.draw(st.integers(0, len(original.payload) - 1), label="byte")
            new: str | int = data.draw(st.integers(1, 255), label="xor")
        else:
            text = original.subject if part == "subject" else original.headers[part]
            at = data.draw(st.integers(0, len(text) - 1), label="char")
            new = data.draw(
                st.characters(exclude_characters="\n" + text[at], exclude_categories=["Cs"]),
                label="char",
            )
        messages[i] = changed = altered(original, part, at, new)
        seq = original.seq

        got = named(messages)

        if part in SELF_CHECKED or (
            part == "payload"
            and HDR_SIGNATURE in original.headers
            and at not in recorded_at_span(original.payload)
        ):
            assert got == seq  # a rule of its own: the signature covers it, or the chain
        elif fails_on_its_own(messages, i):
            assert got == seq
        else:  # only what comes after shows it: the chain, else the root
            later = [
                next_on(messages, original.subject, i),
                next_on(messages, changed.subject, i),
                first_checkpoint_covering(seq),
            ]
            assert got == min(s for s in later if s is not None)


class TestAMessageOutOfPlace:
    @given(i=st.integers(0, len(stream()) - 1))
    def test_a_dropped_message_is_named_as_the_missing_sequence(self, i: int) -> None:
        messages = list(stream())
        del messages[i]
        assert named(messages) == i + 1

    @given(i=st.integers(0, len(stream()) - 1))
    def test_a_duplicated_message_is_named_at_its_sequence(self, i: int) -> None:
        messages = list(stream())
        messages.insert(i + 1, messages[i])
        assert named(messages) == i + 1

    @given(i=st.integers(0, len(stream()) - 2), by=st.integers(1, 5))
    def test_a_message_moved_later_is_named_at_its_sequence(self, i: int, by: int) -> None:
        messages = list(stream())
        j = min(i + by, len(messages) - 1)
        messages.insert(j, messages.pop(i))
        assert named(messages) == i + 1

    def test_the_last_message_removed_is_named_by_the_checkpoint_that_covered_it(self) -> None:
        messages = list(stream())[:-1]
        assert named(messages) == len(stream())


class TestARepublishedCopy:
    """The copy renumbered from 1, as a new stream numbers what is published into it."""

    @given(i=st.integers(0, len(stream()) - 1))
    def test_a_removed_message_is_named_where_its_absence_first_shows(self, i: int) -> None:
        kept = [m for k, m in enumerate(stream()) if k != i]
        copy = [m._replace(seq=n) for n, m in enumerate(kept, start=1)]
        removed = stream()[i]
        shows = [first_checkpoint_covering(removed.seq)]
        successor = next_on(stream(), removed.subject, i)
        if successor is not None and "._tracking." not in removed.subject:
            shows.append(successor - 1)  # renumbered one down
        if removed.headers.get(HDR_TOPIC) == "AgencyKeyRegistered":
            agency = msgspec.json.decode(removed.payload)["agency"]
            shows += [
                m.seq - 1
                for m in stream()[i + 1 :]
                if m.headers.get(HDR_SIGNATURE, "").startswith(f"ed25519 {agency} ")
            ][:1]
        assert named(copy) == min(shows)

    @given(i=st.integers(0, len(stream()) - 2))
    def test_two_messages_swapped_are_named_where_it_first_shows(self, i: int) -> None:
        messages = list(stream())
        a, b = messages[i], messages[i + 1]
        messages[i], messages[i + 1] = b._replace(seq=a.seq), a._replace(seq=b.seq)
        if a.subject == b.subject and "._tracking." not in a.subject:
            assert named(messages) == a.seq  # its version is not the next
        else:  # two independent entries: only the root shows the order
            got = named(messages)
            assert got in (a.seq, first_checkpoint_covering(a.seq))


class TestCheckpointsAndCosignatures:
    def test_a_checkpoint_of_another_origin_is_refused_before_any_message(self) -> None:
        cp = checkpoints_of(stream(), [len(stream())])[0]
        note = sign_checkpoint(
            Checkpoint("elsewhere.example/LOG", cp.size, cp.root), ORIGIN, LOG_KEY
        )
        with pytest.raises(VerificationFailed, match="origin") as info:
            roots_of([note])
        assert info.value.seq is None

    def test_a_checkpoint_the_log_key_did_not_sign_is_refused(self) -> None:
        cp = checkpoints_of(stream(), [len(stream())])[0]
        forged = sign_checkpoint(cp, ORIGIN, Ed25519PrivateKey.generate())
        with pytest.raises(VerificationFailed, match="no signature by key") as info:
            roots_of([forged])
        assert info.value.seq is None

    def test_a_cosignature_by_a_key_the_agency_never_registered_is_refused(self) -> None:
        cp = checkpoints_of(stream(), [len(stream())])[0]
        forged = cosignature_note(cp, "police", Ed25519PrivateKey.generate())
        with pytest.raises(VerificationFailed, match="cosigned by police") as info:
            verify(stream(), roots_of([], [("police", forged)]))
        assert info.value.seq is None

    def test_a_cosignature_by_an_agency_without_a_key_is_refused(self) -> None:
        cp = checkpoints_of(stream(), [len(stream())])[0]
        note = cosignature_note(cp, "school", Ed25519PrivateKey.generate())
        with pytest.raises(VerificationFailed, match="registered no key"):
            verify(stream(), roots_of([], [("school", note)]))

    def test_a_root_that_differs_is_named_at_the_checkpoints_size(self) -> None:
        cp = checkpoints_of(stream(), [5])[0]
        wrong = Checkpoint(ORIGIN, 5, bytes(32))
        assert named(stream(), roots_of(signed_notes([wrong]))) == cp.size


class TestTheOperatorsRewrite:
    """All chains rewritten, one unsigned fact altered and one event removed: only a root an
    agency cosigned before shows it; the operator's own new checkpoints do not."""

    def rewritten(self) -> list[StoredMessage]:
        keys = Keys.seeded()
        facts = with_keys(ledger_facts(), keys)
        refusal = next(i for i, f in enumerate(facts) if f.topic == "CooperationRefused")
        del facts[refusal]
        first = facts[0]  # PartnershipEstablished: recorded before any key, so unsigned
        facts[0] = Fact(
            first.subject, first.topic, first.payload.replace(b"Northshire", b"Southshire")
        )
        return write(facts, keys)

    def test_passes_against_the_operators_own_checkpoints(self) -> None:
        messages = self.rewritten()
        notes = signed_notes(checkpoints_of(messages, [len(messages)]))
        assert verify(messages, roots_of(notes)).checkpoints == 1

    def test_fails_against_a_checkpoint_an_agency_cosigned_before(self) -> None:
        messages = self.rewritten()
        notes = signed_notes(checkpoints_of(messages, [len(messages)]))
        cosigned = [w for w in witnessed() if w.agency == "police"]
        with pytest.raises(VerificationFailed, match="cosigned by police") as info:
            verify(messages, [*roots_of(notes), *cosigned])
        assert info.value.seq == checkpoint_sizes()[0]


def signed_indexes() -> list[int]:
    return [i for i, m in enumerate(stream()) if HDR_SIGNATURE in m.headers]


def with_bad_signature(messages: list[StoredMessage], i: int) -> None:
    """Message ``i`` signed by its agency's key over other bytes: well formed, not verifying."""
    m = messages[i]
    agency = m.headers[HDR_SIGNATURE].split(" ")[1]
    key = Keys.seeded().private[agency]
    other = sign_assertion(key, agency, f"{agency}-1", m.subject, b'{"other":1}')
    messages[i] = m._replace(headers={**m.headers, HDR_SIGNATURE: other.format()})


class TestSignaturesInParallel:
    """Signatures are verified in batches on a pool; the failure named is still the first."""

    @given(data=st.data())
    def test_a_bad_signature_is_named_before_any_later_failure(self, data: st.DataObject) -> None:
        messages = list(stream())
        i = data.draw(st.sampled_from(signed_indexes()[:-1]), label="bad signature")
        j = data.draw(st.integers(i + 1, len(messages) - 1), label="later failure")
        with_bad_signature(messages, i)
        if data.draw(st.booleans(), label="second bad signature") and j in signed_indexes():
            with_bad_signature(messages, j)
        else:
            messages[j] = altered(messages[j], "payload", 0, 0x20)  # no longer JSON
        with pytest.raises(VerificationFailed) as info:
            verify(messages, roots=[], parallel=True)
        assert info.value.seq == messages[i].seq
        assert "does not verify" in info.value.reason

    def test_a_bad_signature_in_the_last_batch_is_named_at_the_end(self) -> None:
        messages = list(stream())
        with_bad_signature(messages, signed_indexes()[-1])
        assert named(messages, roots=[]) == messages[signed_indexes()[-1]].seq


def revocation(recorded_at: str) -> Fact:
    """Police's key revoked (as compromised) by police, signed with that key (:func:`write`
    signs it), recorded at the time given."""
    registration = next(
        f for f in with_keys(ledger_facts(), Keys.seeded()) if f.topic == "AgencyKeyRegistered"
    )
    base = msgspec.json.decode(registration.payload)
    payload = {
        "type": "AgencyKeyRevoked",
        "schema_version": 1,
        "occurred_at": recorded_at,
        "recorded_at": recorded_at,
        "recorded_by": {"agency": "police", "actor": "act_keys0001"},
        "source": base["source"],
        "agency": "police",
        "key_id": "police-1",
        "reason": "compromised",
    }
    return Fact(registration.subject, "AgencyKeyRevoked", msgspec.json.encode(payload))


class TestACosignatureByARevokedKey:
    """Police cosigned (at time 1,780,000,000: 2026-05-28) a checkpoint of the first five
    entries; its key is revoked at the end of the stream."""

    BEFORE = "2026-05-01T00:00:00+00:00"  # revoked before the cosignature was made
    AFTER = "2026-06-30T00:00:00+00:00"  # revoked after it

    def messages(self, revoked_at: str) -> list[StoredMessage]:
        keys = Keys.seeded()
        return write([*with_keys(ledger_facts(), keys), revocation(revoked_at)], keys)

    def cosigned(
        self, messages: Sequence[StoredMessage], root: bytes | None = None
    ) -> list[WitnessedRoot]:
        cp = checkpoints_of(messages, [5])[0]
        if root is not None:
            cp = Checkpoint(cp.origin, cp.size, root)
        note = cosignature_note(cp, "police", Keys.seeded().private["police"])
        return roots_of([], [("police", note)])

    @pytest.mark.parametrize("parallel", [False, True])
    def test_made_after_the_revocation_it_is_left_uncounted(self, parallel: bool) -> None:
        messages = self.messages(self.BEFORE)
        summary = verify(messages, self.cosigned(messages), parallel=parallel)
        assert (summary.cosignatures, summary.uncounted) == (0, 1)

    def test_made_before_the_revocation_it_counts(self) -> None:
        messages = self.messages(self.AFTER)
        summary = verify(messages, self.cosigned(messages))
        assert (summary.cosignatures, summary.uncounted) == (1, 0)

    def test_a_root_it_vouches_for_after_the_revocation_is_not_held_against_the_stream(
        self,
    ) -> None:
        messages = self.messages(self.BEFORE)
        summary = verify(messages, self.cosigned(messages, root=bytes(32)))
        assert (summary.cosignatures, summary.uncounted) == (0, 1)

    def test_a_root_it_vouched_for_before_the_revocation_is_named_at_its_size(self) -> None:
        messages = self.messages(self.AFTER)
        assert named(messages, self.cosigned(messages, root=bytes(32))) == 5


class TestDecodingOnce:
    """The verifier decodes a payload once (as JSON, then converted to its event type)."""

    @PROPERTY
    @given(data=st.data())
    def test_it_accepts_exactly_the_payloads_the_schemas_decoder_accepts(
        self, data: st.DataObject
    ) -> None:
        m = data.draw(st.sampled_from([m for m in stream() if "._tracking." not in m.subject]))
        payload = bytearray(m.payload)
        for _ in range(data.draw(st.integers(0, 2), label="changes")):
            at = data.draw(st.integers(0, len(payload) - 1), label="byte")
            payload[at] = data.draw(st.integers(0, 255), label="value")
        cls = EVENT_TYPES[m.headers[HDR_TOPIC]]
        once, obj = decode_once(bytes(payload), cls)
        try:
            expected = decode_event_as(bytes(payload), cls)
        except InvalidEvent:
            expected = None
        assert once == expected
        if once is not None:
            assert obj == msgspec.json.decode(bytes(payload))
