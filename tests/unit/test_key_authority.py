"""Who may register and revoke an agency's keys (docs/proofs.md): the operator alone may not.

An agency's first key is registered on the operator's word (an admin command, unsigned or
signed by that key itself). Once the agency has a live key, every later registration and
every revocation of its keys must be signed by one of its live keys: refused otherwise, with
nothing written (rule ``key_events_signed_by_live_key``), and named at its sequence by the
stream verifier and the bundle verifier when an operator publishes one behind the write
path's back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_scenario import (
    CASE,
    LA,
    PARTNERSHIP,
    POLICE,
    T0,
    FixedClock,
    Rejected,
    establish,
    written,
)

from ledger._aggregate import signature_of
from ledger.application import Ledger
from ledger.proofs.entry import SignatureHeader, verify_assertion
from ledger.proofs.errors import KeyEventUnauthorised, SignatureRefused, VerificationFailed
from ledger.proofs.verifier import StoredMessage, StreamVerifier, Summary
from ledger.signing import public_key_text, sign_command
from ledger.verify import verify_bundle
from runtime.agency_keys import write_service_key
from schemas.commands import RecordAction, RegisterAgencyKey, RevokeAgencyKey
from schemas.wire import HDR_SIGNATURE
from tests.proof_stream import PREFIX, Fact, Keys, Signer, key_fact, ledger_facts, with_keys, write
from tests.proofs_support import PARTNERSHIP as BUNDLE_PARTNERSHIP
from tests.proofs_support import sample_log as bundle_log
from tests.proofs_support import subject

HAPPENED = T0 - timedelta(hours=1)
RULE = "key_events_signed_by_live_key"


def key(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32)


# -- at write time ---------------------------------------------------------------------


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "agencies"


@pytest.fixture
def ledger(clock: FixedClock, keys_dir: Path) -> Iterator[Ledger]:
    """The in-memory ledger (with a directory for the keys the service holds), the
    partnership established with la, police and health."""
    app = Ledger(env={"LEDGER_AGENCY_KEYS_DIR": str(keys_dir)}, clock=clock)
    establish(app)
    yield app
    app.close()


def registration(
    agency: str, key_id: str, public: Ed25519PrivateKey, **more: str
) -> RegisterAgencyKey:
    return RegisterAgencyKey(
        partnership=PARTNERSHIP,
        agency=agency,
        key_id=key_id,
        public_key=public_key_text(public),
        occurred_at=HAPPENED,
        **more,  # type: ignore[arg-type]
    )


def revocation(agency: str, key_id: str, reason: str = "rotated") -> RevokeAgencyKey:
    return RevokeAgencyKey(
        partnership=PARTNERSHIP,
        agency=agency,
        key_id=key_id,
        reason=reason,  # type: ignore[arg-type]
        occurred_at=HAPPENED,
    )


def record(
    ledger: Ledger,
    command: RegisterAgencyKey | RevokeAgencyKey | RecordAction,
    *,
    by: Ed25519PrivateKey | None = None,
    by_id: str = "",
    who: dict[str, str] = POLICE,
    as_agency: dict[str, str] | None = None,
) -> None:
    """Record ``command`` as ``who`` (the admin's token for that agency), signed by key
    ``by_id`` (``by``) of ``as_agency`` (``who`` by default) when ``by`` is given."""
    signature = None
    if by is not None:
        signature = sign_command(command, as_agency or who, by, by_id)
    ledger.execute(command, recorded_by=who, signature=signature)


def police_key_ids(ledger: Ledger) -> dict[str, bool]:
    """Police's key ids and whether each is revoked."""
    party = ledger.get_partnership(PARTNERSHIP)
    return {k: v.revoked for k, v in party.keys.get("police", {}).items()}


@pytest.fixture
def k1(ledger: Ledger) -> Ed25519PrivateKey:
    """Police's first key ``k1``, registered by the admin unsigned (bootstrap)."""
    record(ledger, registration("police", "k1", key(1)))
    return key(1)


class TestAtWriteTime:
    def test_an_agency_s_first_key_is_registered_by_the_admin_unsigned(
        self, ledger: Ledger, k1: Ed25519PrivateKey
    ) -> None:
        assert police_key_ids(ledger) == {"k1": False}

    def test_a_second_key_registered_by_the_admin_without_the_agency_s_signature_is_refused(
        self, ledger: Ledger, k1: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        with rejected(KeyEventUnauthorised, match=f"is not signed; rule {RULE}") as info:
            record(ledger, registration("police", "k2", key(2)))
        assert isinstance(info.value, SignatureRefused)  # a 403 on the API
        assert "live key (k1)" in str(info.value)
        assert police_key_ids(ledger) == {"k1": False}

    def test_a_second_key_signed_by_the_live_key_is_accepted_and_the_signature_stored(
        self, ledger: Ledger, k1: Ed25519PrivateKey
    ) -> None:
        command = registration("police", "k2", key(2))
        record(ledger, command, by=k1, by_id="k1")
        assert police_key_ids(ledger) == {"k1": False, "k2": False}
        stored = ledger.recorder.select_events(f"{PARTNERSHIP}.partnership.{PARTNERSHIP}")[-1]
        signature = signature_of(stored)
        assert signature is not None
        header = SignatureHeader.parse(signature)
        assert (header.agency, header.key_id) == ("police", "k1")
        subject_ = f"ledger.{PARTNERSHIP}.partnership.{PARTNERSHIP}"
        verify_assertion(k1.public_key(), header, subject_, stored.state)

    @pytest.mark.parametrize("signer", ["the new key itself", "another agency's key"])
    def test_a_second_key_signed_otherwise_is_refused(
        self, ledger: Ledger, k1: Ed25519PrivateKey, rejected: Rejected, signer: str
    ) -> None:
        command = registration("police", "k2", key(2))
        if signer == "the new key itself":
            with rejected(KeyEventUnauthorised, match="signed by key 'k2' of agency 'police'"):
                record(ledger, command, by=key(2), by_id="k2")
        else:
            record(ledger, registration("la", "la-1", key(9)), who=LA)
            with rejected(KeyEventUnauthorised, match="signed by key 'la-1' of agency 'la'"):
                record(ledger, command, by=key(9), by_id="la-1", as_agency=LA)
        assert police_key_ids(ledger) == {"k1": False}

    def test_a_second_key_signed_by_a_revoked_key_is_refused(
        self, ledger: Ledger, k1: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        record(ledger, registration("police", "k2", key(2)), by=k1, by_id="k1")
        record(ledger, revocation("police", "k1", "compromised"), by=key(2), by_id="k2")
        with rejected(
            KeyEventUnauthorised,
            match="by key 'k1' of agency 'police', not by a live key.*\\(k2\\)",
        ):
            record(ledger, registration("police", "k3", key(3)), by=k1, by_id="k1")

    def test_a_revocation_without_the_agency_s_signature_is_refused(
        self, ledger: Ledger, k1: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        with rejected(KeyEventUnauthorised, match=f"revocation of key 'k1'.*rule {RULE}"):
            record(ledger, revocation("police", "k1", "compromised"))
        assert police_key_ids(ledger) == {"k1": False}

    def test_rotation_registers_the_new_key_under_the_old_and_revokes_the_old_under_the_new(
        self, ledger: Ledger, k1: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        children = [{"child": "ch_0123456789abcdef", "age_band": "5_9"}]
        ledger.open_case(partnership=PARTNERSHIP, case=CASE, recorded_by=LA, children=children)
        ledger.join_case(partnership=PARTNERSHIP, case=CASE, recorded_by=LA, agency="police")
        k2 = key(2)
        record(ledger, registration("police", "k2", k2), by=k1, by_id="k1")
        record(ledger, revocation("police", "k1"), by=k2, by_id="k2")
        assert police_key_ids(ledger) == {"k1": True, "k2": False}
        act = RecordAction(
            partnership=PARTNERSHIP, case=CASE, action="home_visit", occurred_at=HAPPENED
        )
        record(ledger, act, by=k2, by_id="k2")
        with rejected(SignatureRefused, match="is revoked"):
            record(ledger, act, by=k1, by_id="k1")

    def test_an_agency_that_revoked_its_last_key_itself_has_its_next_registered_by_the_admin(
        self, ledger: Ledger, k1: Ed25519PrivateKey
    ) -> None:
        record(ledger, revocation("police", "k1", "compromised"), by=k1, by_id="k1")
        record(ledger, registration("police", "k2", key(2)))  # no live key: bootstrap again
        assert police_key_ids(ledger) == {"k1": True, "k2": False}


class TestKeysInTheServicesCustody:
    def test_the_service_rotates_its_own_custody_key(self, ledger: Ledger, keys_dir: Path) -> None:
        first = write_service_key(keys_dir, "police", "svc-1")
        record(ledger, registration("police", "svc-1", first, custody="service"))
        second = write_service_key(keys_dir, "police", "svc-2")
        record(ledger, registration("police", "svc-2", second, custody="service"))
        record(ledger, revocation("police", "svc-1"))
        assert police_key_ids(ledger) == {"svc-1": True, "svc-2": False}
        events = ledger.recorder.select_events(f"{PARTNERSHIP}.partnership.{PARTNERSHIP}")
        by = [SignatureHeader.parse(signature_of(e) or "").key_id for e in events[-3:]]
        assert by == ["svc-1", "svc-1", "svc-2"]  # itself, then each under the live one

    def test_a_service_key_for_an_agency_with_its_own_live_key_needs_that_key_s_signature(
        self, ledger: Ledger, keys_dir: Path, k1: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        held = write_service_key(keys_dir, "police", "svc-1")
        command = registration("police", "svc-1", held, custody="service")
        with rejected(KeyEventUnauthorised, match="is not signed"):
            record(ledger, command)
        record(ledger, command, by=k1, by_id="k1")
        assert police_key_ids(ledger) == {"k1": False, "svc-1": False}

    def test_a_delegation_signed_by_the_agency_must_still_be_a_key_the_service_holds(
        self, ledger: Ledger, keys_dir: Path, k1: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        write_service_key(keys_dir, "police", "svc-1")
        command = registration("police", "svc-1", key(5), custody="service")
        with rejected(SignatureRefused, match="is not the public key of the service's key"):
            record(ledger, command, by=k1, by_id="k1")


# -- in the stream verifier ------------------------------------------------------------

KEYS = Keys.seeded()
POLICE_1 = KEYS.private["police"]
POLICE_2, POLICE_3 = key(12), key(13)


def base() -> list[Fact]:
    return with_keys(ledger_facts(), KEYS)


def police_fact(facts: Sequence[Fact], topic: str, **fields: str) -> Fact:
    """A key event of police on the partnership, stamped like police's registration."""
    like = next(f for f in facts if f.topic == "AgencyKeyRegistered" and b'"police"' in f.payload)
    return key_fact(like, topic, "police", **fields)


def registered(facts: Sequence[Fact], key_id: str, public: Ed25519PrivateKey) -> Fact:
    return police_fact(
        facts, "AgencyKeyRegistered", key_id=key_id, public_key=public_key_text(public)
    )


def revoked(facts: Sequence[Fact], key_id: str) -> Fact:
    return police_fact(facts, "AgencyKeyRevoked", key_id=key_id, reason="rotated")


def police_action(facts: Sequence[Fact]) -> Fact:
    """Police's last case event, recorded again."""
    return next(
        f
        for f in reversed(facts)
        if ".case." in f.subject
        and msgspec.json.decode(f.payload)["recorded_by"]["agency"] == "police"
    )


def stream_of(extra: Sequence[tuple[Fact, Signer | str]]) -> list[StoredMessage]:
    """The base stream and ``extra`` facts after it, each signed by its ``Signer`` (None:
    unsigned) or, given ``"default"``, by its agency's first key."""
    facts = base()
    signers = {len(facts) + i: signer for i, (_, signer) in enumerate(extra) if signer != "default"}
    return write([*facts, *(f for f, _ in extra)], KEYS, signers=signers)  # type: ignore[arg-type]


def verify(messages: Sequence[StoredMessage]) -> Summary:
    verifier = StreamVerifier(PREFIX)
    for m in messages:
        verifier.feed(*m)
    return verifier.finish(whole=True)


def fails_at(messages: Sequence[StoredMessage]) -> tuple[int | None, str]:
    with pytest.raises(VerificationFailed) as info:
        verify(messages)
    return info.value.seq, info.value.reason


class TestInTheStreamVerifier:
    """The operator publishes key events straight to the stream, bypassing the write path."""

    def test_an_unsigned_second_key_is_named_at_its_sequence(self) -> None:
        facts = base()
        messages = stream_of([(registered(facts, "police-2", POLICE_2), None)])
        seq, reason = fails_at(messages)
        assert seq == messages[-1].seq
        assert RULE in reason
        assert "police-2" in reason

    @pytest.mark.parametrize(
        "signer",
        [("police", POLICE_2, "police-2"), ("la", KEYS.private["la"], "la-1")],
        ids=["by itself", "by another agency"],
    )
    def test_a_second_key_signed_by_anything_but_a_live_key_is_named(self, signer: Signer) -> None:
        facts = base()
        messages = stream_of([(registered(facts, "police-2", POLICE_2), signer)])
        seq, reason = fails_at(messages)
        assert (seq, RULE in reason) == (messages[-1].seq, True)

    def test_a_second_key_signed_by_a_revoked_key_is_named(self) -> None:
        facts = base()
        messages = stream_of(
            [
                (registered(facts, "police-2", POLICE_2), "default"),  # by police-1
                (revoked(facts, "police-1"), ("police", POLICE_2, "police-2")),
                (registered(facts, "police-3", POLICE_3), ("police", POLICE_1, "police-1")),
            ]
        )
        seq, reason = fails_at(messages)
        assert (seq, RULE in reason) == (messages[-1].seq, True)

    def test_an_unsigned_revocation_is_named(self) -> None:
        facts = base()
        messages = stream_of([(revoked(facts, "police-1"), None)])
        assert fails_at(messages)[0] == messages[-1].seq

    def test_a_rotation_verifies_and_the_old_key_signs_nothing_after_it(self) -> None:
        facts = base()
        rotation: list[tuple[Fact, Signer | str]] = [
            (registered(facts, "police-2", POLICE_2), "default"),
            (revoked(facts, "police-1"), ("police", POLICE_2, "police-2")),
            (police_action(facts), ("police", POLICE_2, "police-2")),
        ]
        summary = verify(stream_of(rotation))
        assert summary.signatures >= 3
        late = stream_of([*rotation, (police_action(facts), ("police", POLICE_1, "police-1"))])
        seq, reason = fails_at(late)
        assert (seq, "revoked" in reason) == (late[-1].seq, True)

    def test_a_first_key_signed_by_itself_verifies(self) -> None:
        facts = base()
        first = next(i for i, f in enumerate(facts) if f.topic == "AgencyKeyRegistered")
        agency = msgspec.json.decode(facts[first].payload)["agency"]
        signers: dict[int, Signer] = {first: (agency, KEYS.private[agency], f"{agency}-1")}
        messages = write(facts, KEYS, signers=signers)
        assert HDR_SIGNATURE in messages[first].headers
        verify(messages)

    def test_an_agency_that_revoked_its_last_key_itself_may_be_given_one_by_the_operator(
        self,
    ) -> None:
        facts = base()
        verify(
            stream_of(
                [
                    (revoked(facts, "police-1"), "default"),
                    (registered(facts, "police-2", POLICE_2), None),
                ]
            )
        )


# -- in the bundle verifier ------------------------------------------------------------


class TestInTheBundleVerifier:
    def _register_police_2(self, *, sign: bool) -> tuple[int, Exception | None]:
        log = bundle_log()
        body = {
            "agency": "police",
            "key_id": "police-2",
            "algorithm": "ed25519",
            "public_key": public_key_text(POLICE_2),
            "custody": "agency",
        }
        at = log.append(
            subject("partnership", BUNDLE_PARTNERSHIP),
            "AgencyKeyRegistered",
            "police",
            body,
            sign=sign,
        )
        note = log.note()
        try:
            verify_bundle(log.bundle("c1", note))
        except VerificationFailed as e:
            return at.seq, e
        return at.seq, None

    def test_a_key_registered_without_the_agency_s_live_key_is_named_at_its_sequence(
        self,
    ) -> None:
        seq, error = self._register_police_2(sign=False)
        assert isinstance(error, VerificationFailed)
        assert (error.seq, RULE in error.reason) == (seq, True)

    def test_a_key_registered_under_the_agency_s_live_key_verifies(self) -> None:
        assert self._register_police_2(sign=True)[1] is None


def test_nothing_is_written_by_a_refused_key_event(ledger: Ledger, k1: Ed25519PrivateKey) -> None:
    before = written(ledger)
    with pytest.raises(KeyEventUnauthorised):
        record(ledger, registration("police", "k2", key(2)))
    assert written(ledger) == before
