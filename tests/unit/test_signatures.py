"""Agency signatures at write time (docs/proofs.md, "Signatures"), on the in-memory ledger.

Each refusal is checked by the ``rejected`` fixture: the right error, and nothing written.
The stored signature is read back from the recorder and verified with
:func:`ledger.proofs.entry.verify_assertion`, as any verifier would.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_scenario import CASE, LA, PARTNERSHIP, POLICE, T0, FixedClock, Rejected, written

import ledger._signing as signing_module
import ledger.application as application_module
from ledger._aggregate import signature_of
from ledger._commands._base import build_fact
from ledger._commands._unpack import unpack
from ledger._signing import Signing
from ledger.application import Ledger
from ledger.errors import InvalidCommand, RuleViolation
from ledger.proofs.entry import SignatureHeader, verify_assertion
from ledger.proofs.errors import SignatureInvalid, SignatureRefused
from ledger.signing import command_payload, public_key_text, sign_command
from runtime.agency_keys import service_key_path, write_service_key
from schemas import Event as Fact
from schemas.commands import RecordAction, RegisterAgencyKey, RevokeAgencyKey

SUBJECT = f"ledger.{PARTNERSHIP}.case.{CASE}"
HAPPENED = T0 - timedelta(hours=1)


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "agencies"


@pytest.fixture
def ledger(clock: FixedClock, keys_dir: Path) -> Iterator[Ledger]:
    """The in-memory ledger with a directory for the keys the service holds."""
    app = Ledger(env={"LEDGER_AGENCY_KEYS_DIR": str(keys_dir)}, clock=clock)
    yield app
    app.close()


@pytest.fixture
def police_key(ledger: Ledger, case: str) -> Ed25519PrivateKey:
    """Police's own key ``k1``, registered."""
    key = Ed25519PrivateKey.generate()
    register(ledger, POLICE, "k1", key)
    return key


def register(
    ledger: Ledger, who: dict[str, str], key_id: str, key: Ed25519PrivateKey, **more: str
) -> None:
    ledger.register_agency_key(
        partnership=PARTNERSHIP,
        recorded_by=who,
        agency=who["agency"],
        key_id=key_id,
        public_key=public_key_text(key),
        **more,
    )


def register_signed(
    ledger: Ledger,
    who: dict[str, str],
    key_id: str,
    key: Ed25519PrivateKey,
    *,
    by: Ed25519PrivateKey,
    by_id: str,
    custody: str = "agency",
) -> None:
    """Register ``key`` as ``key_id``, the registration signed by key ``by_id`` (``by``)."""
    command = RegisterAgencyKey(
        partnership=PARTNERSHIP,
        agency=who["agency"],
        key_id=key_id,
        public_key=public_key_text(key),
        custody=custody,  # type: ignore[arg-type]
        occurred_at=HAPPENED,
    )
    ledger.execute(command, recorded_by=who, signature=sign_command(command, who, by, by_id))


def revoke(
    ledger: Ledger,
    who: dict[str, str],
    key_id: str,
    *,
    by: Ed25519PrivateKey,
    by_id: str,
    reason: str = "compromised",
) -> None:
    """Revoke ``key_id``, the revocation signed by key ``by_id`` (``by``)."""
    command = RevokeAgencyKey(
        partnership=PARTNERSHIP,
        agency=who["agency"],
        key_id=key_id,
        reason=reason,  # type: ignore[arg-type]
        occurred_at=HAPPENED,
    )
    ledger.execute(command, recorded_by=who, signature=sign_command(command, who, by, by_id))


def action(**changes: object) -> RecordAction:
    fields: dict[str, object] = {
        "partnership": PARTNERSHIP,
        "case": CASE,
        "action": "home_visit",
        "seen": True,
        "occurred_at": HAPPENED,
    }
    fields.update(changes)
    return RecordAction(**fields)  # type: ignore[arg-type]


def stored_signature(ledger: Ledger, version: int | None = None) -> tuple[str | None, bytes]:
    """The signature and payload the recorder holds for the case's last (or given) event."""
    events = ledger.recorder.select_events(f"{PARTNERSHIP}.case.{CASE}")
    event = events[-1] if version is None else events[version - 1]
    return signature_of(event), event.state


class TestASignedCommand:
    def test_a_good_signature_is_stored_with_the_event_and_verifies_from_the_store(
        self, ledger: Ledger, police_key: Ed25519PrivateKey
    ) -> None:
        command = action()
        signature = sign_command(command, POLICE, police_key, "k1")
        ledger.execute(command, recorded_by=POLICE, signature=signature)
        stored, payload = stored_signature(ledger)
        assert stored == signature
        header = SignatureHeader.parse(stored)
        assert (header.agency, header.key_id) == ("police", "k1")
        verify_assertion(police_key.public_key(), header, SUBJECT, payload)

    def test_the_client_s_payload_is_the_stored_one_less_recorded_at(
        self, ledger: Ledger, police_key: Ed25519PrivateKey
    ) -> None:
        command = action()
        ledger.execute(
            command, recorded_by=POLICE, signature=sign_command(command, POLICE, police_key, "k1")
        )
        _, stored = stored_signature(ledger)
        subject, built = command_payload(command, POLICE, recorded_at=T0)  # the ledger's clock
        assert subject == SUBJECT
        assert built == stored

    def test_a_signed_command_that_does_not_say_when_it_happened_is_refused(
        self, ledger: Ledger, police_key: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        signature = sign_command(action(), POLICE, police_key, "k1")
        with rejected(InvalidCommand, field="occurred_at", match="must state when it happened"):
            ledger.execute(action(occurred_at=None), recorded_by=POLICE, signature=signature)


class TestRefusedSignatures:
    def test_a_forged_signature_is_refused(
        self, ledger: Ledger, police_key: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        forger = Ed25519PrivateKey.generate()
        forged = sign_command(action(), POLICE, forger, "k1")
        with rejected(SignatureInvalid, match="does not verify with key 'k1'"):
            ledger.execute(action(), recorded_by=POLICE, signature=forged)

    def test_a_signature_over_another_command_is_refused(
        self, ledger: Ledger, police_key: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        signature = sign_command(action(seen=True), POLICE, police_key, "k1")
        with rejected(SignatureInvalid, match="does not verify"):
            ledger.execute(action(seen=False), recorded_by=POLICE, signature=signature)

    def test_a_signature_for_another_subject_prefix_is_refused(
        self, ledger: Ledger, police_key: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        signature = sign_command(action(), POLICE, police_key, "k1", prefix="other")
        with rejected(SignatureInvalid):
            ledger.execute(action(), recorded_by=POLICE, signature=signature)

    def test_a_signature_by_another_agency_s_key_is_refused(
        self, ledger: Ledger, police_key: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        la_key = Ed25519PrivateKey.generate()
        register(ledger, LA, "la-1", la_key)
        by_la = sign_command(action(), LA, la_key, "la-1")
        with rejected(SignatureRefused, match="is by agency 'la', but the command is recorded by"):
            ledger.execute(action(), recorded_by=POLICE, signature=by_la)
        as_police = sign_command(action(), POLICE, la_key, "la-1")
        with rejected(SignatureRefused, match="key 'la-1' of agency 'police' is not registered"):
            ledger.execute(action(), recorded_by=POLICE, signature=as_police)

    def test_a_signature_by_a_revoked_key_is_refused(
        self, ledger: Ledger, police_key: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        revoke(ledger, POLICE, "k1", by=police_key, by_id="k1")
        signature = sign_command(action(), POLICE, police_key, "k1")
        with rejected(SignatureRefused, match="key 'k1' of agency 'police' is revoked"):
            ledger.execute(action(), recorded_by=POLICE, signature=signature)

    def test_a_malformed_header_is_refused(
        self, ledger: Ledger, police_key: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        with rejected(SignatureInvalid, match="Ledger-Signature: is not 'ed25519"):
            ledger.execute(action(), recorded_by=POLICE, signature="ed25519 police k1")


class TestVerifiedBeforeTheLock:
    """The Ed25519 arithmetic runs before the command takes its aggregate's lock; every
    check is made again under it, and only the arithmetic over the same bytes with the
    same key is not repeated."""

    def test_the_signature_is_verified_once_outside_the_lock_over_the_bytes_then_stored(
        self, ledger: Ledger, police_key: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        seen: list[tuple[bool, bytes]] = []
        stripe = ledger._locks[hash(f"{PARTNERSHIP}.case.{CASE}") % len(ledger._locks)]

        def spy(key: object, header: SignatureHeader, subject: str, payload: bytes) -> None:
            seen.append((stripe.locked(), payload))
            verify_assertion(key, header, subject, payload)  # type: ignore[arg-type]

        monkeypatch.setattr(signing_module, "verify_assertion", spy)
        command = action()
        ledger.execute(
            command, recorded_by=POLICE, signature=sign_command(command, POLICE, police_key, "k1")
        )
        _, stored = stored_signature(ledger)
        assert seen == [(False, stored)]

    def test_a_key_revoked_after_the_early_check_is_still_refused_and_nothing_written(
        self,
        ledger: Ledger,
        police_key: Ed25519PrivateKey,
        rejected: Rejected,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        stale = copy.deepcopy(ledger.get_partnership(PARTNERSHIP))  # k1 not yet revoked here
        revoke(ledger, POLICE, "k1", by=police_key, by_id="k1")
        early: list[str | None] = []

        def on_stale(party: object, fact: object, signing: Signing) -> None:
            signing_module.verify_early(stale, fact, signing)  # type: ignore[arg-type]
            early.append(signing.verified)

        monkeypatch.setattr(application_module, "verify_early", on_stale)
        signature = sign_command(action(), POLICE, police_key, "k1")
        with rejected(SignatureRefused, match="key 'k1' of agency 'police' is revoked"):
            ledger.execute(action(), recorded_by=POLICE, signature=signature)
        assert early == [public_key_text(police_key)]  # it did verify, early, on stale state

    def test_a_forged_signature_is_refused_under_the_lock_whatever_the_early_check_saw(
        self, ledger: Ledger, police_key: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        forged = sign_command(action(), POLICE, Ed25519PrivateKey.generate(), "k1")
        signing = Signing(SUBJECT, forged)
        party = ledger.get_partnership(PARTNERSHIP)
        signing_module.verify_early(party, _fact(ledger), signing)
        assert signing.verified is None
        with rejected(SignatureInvalid, match="does not verify with key 'k1'"):
            ledger.execute(action(), recorded_by=POLICE, signature=forged)


def _fact(ledger: Ledger) -> Fact:
    """The fact the ledger would build for :func:`action` by police now."""
    found = unpack(action(), POLICE)
    return build_fact(
        found.event,
        recorded_at=T0,
        occurred_at=HAPPENED,
        recorded_by=POLICE,
        source=found.source,
        fields=found.fields,
    )


class TestRequiringSignatures:
    def test_an_unsigned_command_is_refused_from_the_required_date_and_accepted_before(
        self, ledger: Ledger, clock: FixedClock, police_key: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        required = T0.date() + timedelta(days=1)
        ledger.require_signatures(partnership=PARTNERSHIP, recorded_by=LA, required_from=required)
        ledger.execute(action(), recorded_by=POLICE)  # the day before: accepted unsigned
        clock.advance(days=1)
        with rejected(SignatureRefused, match="requires signatures on events recorded from"):
            ledger.execute(action(), recorded_by=POLICE)
        signed = sign_command(action(), POLICE, police_key, "k1")
        ledger.execute(action(), recorded_by=POLICE, signature=signed)
        assert stored_signature(ledger)[0] == signed

    def test_a_key_is_registered_once_signatures_are_required_by_signing_with_itself(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        ledger.require_signatures(partnership=PARTNERSHIP, recorded_by=LA, required_from=T0.date())
        key = Ed25519PrivateKey.generate()
        command_fields = {
            "partnership": PARTNERSHIP,
            "recorded_by": POLICE,
            "agency": "police",
            "key_id": "k1",
            "public_key": public_key_text(key),
        }
        with rejected(SignatureRefused):
            ledger.register_agency_key(**command_fields)  # type: ignore[arg-type]
        register_command = RegisterAgencyKey(
            partnership=PARTNERSHIP,
            agency="police",
            key_id="k1",
            public_key=public_key_text(key),
            occurred_at=HAPPENED,
        )
        signature = sign_command(register_command, POLICE, key, "k1")
        ledger.execute(register_command, recorded_by=POLICE, signature=signature)
        assert ledger.get_partnership(PARTNERSHIP).key("police", "k1") is not None

    def test_a_self_signed_registration_of_a_small_order_key_is_refused_as_such(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        identity = base64.b64encode((1).to_bytes(32, "little")).decode()
        command = RegisterAgencyKey(
            partnership=PARTNERSHIP,
            agency="police",
            key_id="k1",
            public_key=identity,
            occurred_at=HAPPENED,
        )
        signature = sign_command(command, POLICE, Ed25519PrivateKey.generate(), "k1")
        with rejected(RuleViolation, field="public_key", match="small order"):
            ledger.execute(command, recorded_by=POLICE, signature=signature)

    def test_a_signature_with_a_non_canonical_s_is_refused_and_nothing_written(
        self, ledger: Ledger, police_key: Ed25519PrivateKey, rejected: Rejected
    ) -> None:
        header = SignatureHeader.parse(sign_command(action(), POLICE, police_key, "k1"))
        s = int.from_bytes(header.signature[32:], "little")
        order = 2**252 + 27742317777372353535851937790883648493
        malleated = header.signature[:32] + (s + order).to_bytes(32, "little")
        signature = SignatureHeader(header.agency, header.key_id, malleated).format()
        with rejected(SignatureInvalid, match="does not verify with key 'k1'"):
            ledger.execute(action(), recorded_by=POLICE, signature=signature)


class TestDelegation:
    def test_the_service_signs_for_an_agency_with_the_key_it_holds_and_the_record_says_which(
        self, ledger: Ledger, keys_dir: Path, case: str
    ) -> None:
        held = write_service_key(keys_dir, "police", "svc-1")
        register(ledger, POLICE, "svc-1", held, custody="service")
        ledger.require_signatures(partnership=PARTNERSHIP, recorded_by=LA, required_from=T0.date())
        before = written(ledger)
        ledger.execute(action(), recorded_by=POLICE)
        assert written(ledger) == before + 1
        stored, payload = stored_signature(ledger)
        assert stored is not None
        header = SignatureHeader.parse(stored)
        assert (header.agency, header.key_id) == ("police", "svc-1")
        verify_assertion(held.public_key(), header, SUBJECT, payload)
        registered = ledger.get_partnership(PARTNERSHIP).key("police", "svc-1")
        assert registered is not None
        assert registered.custody == "service"

    def test_the_key_files_are_the_owner_s_only(self, keys_dir: Path) -> None:
        write_service_key(keys_dir, "police", "svc-1")
        path = service_key_path(keys_dir, "police", "svc-1")
        assert path.stat().st_mode & 0o777 == 0o600
        for folder in (path.parent, keys_dir, keys_dir.parent):
            assert folder.stat().st_mode & 0o777 == 0o700

    def test_a_key_the_service_does_not_hold_cannot_be_registered_into_its_custody(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(SignatureRefused, match="the service cannot sign for agency 'police'"):
            register(ledger, POLICE, "svc-1", Ed25519PrivateKey.generate(), custody="service")

    def test_a_key_registered_into_custody_must_be_the_one_the_service_holds(
        self, ledger: Ledger, keys_dir: Path, case: str, rejected: Rejected
    ) -> None:
        write_service_key(keys_dir, "police", "svc-1")
        with rejected(SignatureRefused, match="is not the public key of the service's key"):
            register(ledger, POLICE, "svc-1", Ed25519PrivateKey.generate(), custody="service")

    def test_a_revoked_service_key_no_longer_signs(
        self, ledger: Ledger, keys_dir: Path, case: str, rejected: Rejected
    ) -> None:
        held = write_service_key(keys_dir, "police", "svc-1")
        register(ledger, POLICE, "svc-1", held, custody="service")
        ledger.revoke_agency_key(
            partnership=PARTNERSHIP,
            recorded_by=POLICE,
            agency="police",
            key_id="svc-1",
            reason="retired",
        )
        ledger.execute(action(), recorded_by=POLICE)
        assert stored_signature(ledger)[0] is None
        ledger.require_signatures(partnership=PARTNERSHIP, recorded_by=LA, required_from=T0.date())
        with rejected(SignatureRefused, match="has no key in the service's custody"):
            ledger.execute(action(), recorded_by=POLICE)


def test_public_key_text_is_the_raw_key_in_standard_base64() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    raw = base64.b64decode(public_key_text(key))
    assert len(raw) == 32
    assert public_key_text(key).endswith("=")
