"""The one key registry: which key may sign an event, and which cosignature counts.

The rules are docs/proofs.md's ("Signatures", "Witnesses"); the stream verifier, the bundle
verifier and the service's cosignature check all ask :class:`KeyRing` these questions.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, TypedDict

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.proofs.entry import b64
from ledger.proofs.keys import KeyRing
from ledger.proofs.note import Checkpoint, cosign
from schemas import (
    AgencyKeyRegistered,
    AgencyKeyRevoked,
    RecordedBy,
    SignaturesRequired,
    Source,
    SourceKind,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
POLICE = Ed25519PrivateKey.from_private_bytes(b"police".ljust(32, b"k"))
ROOT = bytes(range(32))


class Stamp(TypedDict):
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    recorded_by: RecordedBy
    source: Source


Reason = Literal["rotated", "retired", "compromised"]


def _stamp(at: dt.datetime) -> Stamp:
    return {
        "occurred_at": at,
        "recorded_at": at,
        "recorded_by": RecordedBy(agency="la", actor="act_000001"),
        "source": Source(kind=SourceKind.CASE_RECORD),
    }


def registered(key: Ed25519PrivateKey = POLICE, key_id: str = "k1") -> AgencyKeyRegistered:
    public = b64(key.public_key().public_bytes_raw())
    return AgencyKeyRegistered(
        **_stamp(T0), agency="police", key_id=key_id, algorithm="ed25519", public_key=public
    )


def revoked(at: dt.datetime, reason: Reason = "compromised") -> AgencyKeyRevoked:
    return AgencyKeyRevoked(**_stamp(at), agency="police", key_id="k1", reason=reason)


def ring_with_revocation(revoked_seq: int, at: dt.datetime) -> KeyRing:
    ring = KeyRing()
    assert ring.fold(2, "north", registered()) is None
    assert ring.fold(revoked_seq, "north", revoked(at)) is None
    return ring


def cosignature(size: int, when: dt.datetime) -> tuple[Checkpoint, str]:
    cp = Checkpoint("ledger.test/LEDGER", size, ROOT)
    return cp, cosign(cp, "police", POLICE, int(when.timestamp()))


class TestSigningKeys:
    def test_a_key_signs_only_events_after_its_registration_and_before_its_revocation(
        self,
    ) -> None:
        ring = ring_with_revocation(10, T0)
        allowed = {
            seq: not isinstance(ring.signing_key("north", "police", "k1", seq), str)
            for seq in (2, 3, 10, 11)
        }
        assert allowed == {2: False, 3: True, 10: True, 11: False}

    def test_a_key_of_another_partnership_or_agency_does_not_sign(self) -> None:
        ring = ring_with_revocation(10, T0)
        assert "not registered" in str(ring.signing_key("south", "police", "k1", 5))
        assert "not registered" in str(ring.signing_key("north", "health", "k1", 5))

    def test_a_key_id_is_registered_once_and_only_a_registered_key_is_revoked(self) -> None:
        ring = KeyRing()
        assert ring.fold(1, "north", registered()) is None
        assert "registered once" in str(ring.fold(2, "north", registered()))
        other = AgencyKeyRevoked(**_stamp(T0), agency="police", key_id="k9", reason="retired")
        assert "never registered" in str(ring.fold(3, "north", other))

    def test_a_registration_of_a_key_that_no_signature_verifies_with_is_not_folded(
        self,
    ) -> None:
        ring = KeyRing()
        identity = b64((1).to_bytes(32, "little"))
        event = AgencyKeyRegistered(
            **_stamp(T0), agency="police", key_id="k1", algorithm="ed25519", public_key=identity
        )
        problem = ring.fold(1, "north", event)
        assert problem is not None
        assert "public_key is a point of small order" in problem
        assert ring.registered("police") == []

    def test_signatures_are_required_after_the_requirement_on_events_from_its_date(
        self,
    ) -> None:
        ring = KeyRing()
        required = SignaturesRequired(**_stamp(T0), required_from=dt.date(2026, 3, 3))
        ring.fold(5, "north", required)
        day = dt.timedelta(days=1)
        assert ring.required_from("north", 5, T0 + day) is None  # not after it
        assert ring.required_from("north", 6, T0) is None  # recorded before the date
        assert ring.required_from("north", 6, T0 + day) == dt.date(2026, 3, 3)
        assert ring.required_from("south", 6, T0 + day) is None


class TestCosigningKeys:
    def test_an_unrevoked_registered_key_counts_whatever_the_tree_or_time(self) -> None:
        ring = KeyRing()
        ring.fold(40, "north", registered())  # registered after the tree it cosigns: counts
        cp, line = cosignature(4, T0 + dt.timedelta(days=400))
        verdict = ring.cosigning_key("police", cp, line)
        assert verdict.counts
        assert verdict.key is not None
        assert verdict.key.partnership == "north"

    @pytest.mark.parametrize("reason", ["rotated", "retired", "compromised"])
    def test_a_revoked_key_counts_for_a_cosignature_made_before_its_revocation(
        self, reason: Reason
    ) -> None:
        ring = KeyRing()
        ring.fold(2, "north", registered())
        ring.fold(10, "north", revoked(T0 + dt.timedelta(hours=1), reason))
        cp, line = cosignature(9, T0)
        assert ring.cosigning_key("police", cp, line).counts

    def test_a_revoked_key_does_not_count_for_a_cosignature_made_after_its_revocation(
        self,
    ) -> None:
        ring = ring_with_revocation(10, T0)
        cp, line = cosignature(9, T0 + dt.timedelta(seconds=1))
        verdict = ring.cosigning_key("police", cp, line)
        assert (verdict.counts, verdict.verified) == (False, True)
        assert "revoked" in verdict.problem

    def test_a_tree_that_holds_the_revocation_is_not_counted_whatever_the_timestamp(
        self,
    ) -> None:
        ring = ring_with_revocation(10, T0)
        cp, backdated = cosignature(10, T0 - dt.timedelta(days=30))
        verdict = ring.cosigning_key("police", cp, backdated)
        assert (verdict.counts, verdict.verified) == (False, True)
        assert "within the tree of size 10" in verdict.problem

    def test_the_same_key_in_force_on_another_partnership_still_counts(self) -> None:
        ring = ring_with_revocation(10, T0)
        ring.fold(11, "south", registered())
        cp, line = cosignature(12, T0 + dt.timedelta(days=1))
        verdict = ring.cosigning_key("police", cp, line)
        assert verdict.key is not None
        assert verdict.key.partnership == "south"

    def test_a_first_key_of_the_same_agency_id_on_another_partnership_does_not_cosign(
        self,
    ) -> None:
        # The operator registers the agency id on a partnership of its own, with its own key
        # as the agency's first there (allowed: on its word), and cosigns as the agency.
        ring = KeyRing()
        ring.fold(2, "north", registered())
        operator = Ed25519PrivateKey.generate()
        ring.fold(5, "elsewhere", registered(operator, "k9"))
        cp = Checkpoint("ledger.test/LEDGER", 4, ROOT)
        forged = cosign(cp, "police", operator, int(T0.timestamp()))
        verdict = ring.cosigning_key("police", cp, forged)
        assert not verdict.counts
        assert verdict.key is None
        honest = cosign(cp, "police", POLICE, int(T0.timestamp()))
        assert ring.cosigning_key("police", cp, honest).counts

    def test_a_cosignature_by_an_unregistered_key_or_agency_is_not_verified(self) -> None:
        ring = ring_with_revocation(10, T0)
        cp = Checkpoint("ledger.test/LEDGER", 4, ROOT)
        stranger = cosign(cp, "police", Ed25519PrivateKey.generate(), int(T0.timestamp()))
        verdict = ring.cosigning_key("police", cp, stranger)
        assert (verdict.counts, verdict.verified) == (False, False)
        assert "registered no key" in ring.cosigning_key("health", cp, stranger).problem

    def test_among_restricts_the_keys_tried(self) -> None:
        ring = ring_with_revocation(10, T0)
        cp, line = cosignature(4, T0 - dt.timedelta(days=1))
        assert ring.cosigning_key("police", cp, line).counts
        assert not ring.cosigning_key("police", cp, line, among={bytes(32)}).counts
