"""``ledger serve --demo`` delegates signing: every demo agency gets a key the service holds
(``custody: service``), once, and what the demo's agencies record from then on is signed."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger._aggregate import signature_of
from ledger.application import Ledger
from ledger.proofs.entry import SignatureHeader, verify_assertion
from ledger.signing import load_private_key, public_key_text
from runtime.agency_keys import service_key_path, write_service_key
from runtime.demo_partnership import DEMO_KEY_ID, DEMO_PARTNERSHIP, delegate_demo_keys
from runtime.synthetic import SYNTHETIC_KEY_ID, synthetic_agency_key

AGENCIES = ("northvale-csc", "northvale-police")
CSC = {"agency": AGENCIES[0], "actor": "act_sw-000001"}


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "agencies"


@pytest.fixture
def ledger(keys_dir: Path) -> Iterator[Ledger]:
    app = Ledger(env={"LEDGER_AGENCY_KEYS_DIR": str(keys_dir)})
    app.establish_partnership(
        partnership=DEMO_PARTNERSHIP,
        recorded_by=CSC,
        name="Northvale",
        nation="england",
        escalation_stages=[{"stage": 1, "title": "Practitioners", "response_working_days": 5}],
    )
    for agency, kind in zip(AGENCIES, ("local_authority", "police"), strict=True):
        app.register_agency(
            partnership=DEMO_PARTNERSHIP,
            recorded_by=CSC,
            agency=agency,
            name=kind,
            kind=kind,
            role="statutory_partner",
        )
    yield app
    app.close()


def test_every_agency_gets_a_service_held_key_once_and_its_records_are_signed(
    ledger: Ledger, keys_dir: Path
) -> None:
    assert delegate_demo_keys(ledger, keys_dir) == sorted(AGENCIES)
    partnership = ledger.get_partnership(DEMO_PARTNERSHIP)
    for agency in AGENCIES:
        key = partnership.key(agency, DEMO_KEY_ID)
        assert key is not None
        assert key.custody == "service"
        path = service_key_path(keys_dir, agency, DEMO_KEY_ID)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert delegate_demo_keys(ledger, keys_dir) == []  # a second --demo registers none

    ledger.open_case(
        partnership=DEMO_PARTNERSHIP,
        case="c1",
        recorded_by=CSC,
        children=[{"child": "ch_0123456789abcdef", "age_band": "5_9"}],
    )
    stored = ledger.recorder.select_events(f"{DEMO_PARTNERSHIP}.case.c1")[-1]
    signature = signature_of(stored)
    assert signature is not None
    header = SignatureHeader.parse(signature)
    assert (header.agency, header.key_id) == (AGENCIES[0], DEMO_KEY_ID)
    held = load_private_key(service_key_path(keys_dir, AGENCIES[0], DEMO_KEY_ID))
    verify_assertion(held.public_key(), header, f"ledger.{DEMO_PARTNERSHIP}.case.c1", stored.state)


def test_a_key_written_by_a_stopped_load_is_the_one_registered(
    ledger: Ledger, keys_dir: Path
) -> None:
    left = write_service_key(keys_dir, AGENCIES[1], DEMO_KEY_ID)  # registered by nobody yet
    delegate_demo_keys(ledger, keys_dir)
    key = ledger.get_partnership(DEMO_PARTNERSHIP).key(AGENCIES[1], DEMO_KEY_ID)
    assert key is not None
    assert key.public_key == public_key_text(left)


def test_an_agency_with_the_generator_s_key_authorises_its_delegation_with_it(
    ledger: Ledger, keys_dir: Path
) -> None:
    csc, police = AGENCIES
    for agency, key in ((csc, synthetic_agency_key(csc)), (police, Ed25519PrivateKey.generate())):
        ledger.register_agency_key(  # their first keys, on the operator's word
            partnership=DEMO_PARTNERSHIP,
            recorded_by={"agency": agency, "actor": "act_keys-000001"},
            agency=agency,
            key_id=SYNTHETIC_KEY_ID,
            public_key=public_key_text(key),
        )
    # csc's key is the generator's, which the demo can make; police's is not
    assert delegate_demo_keys(ledger, keys_dir) == [csc]
    stored = ledger.recorder.select_events(f"{DEMO_PARTNERSHIP}.partnership.{DEMO_PARTNERSHIP}")
    signature = signature_of(stored[-1])
    assert signature is not None
    header = SignatureHeader.parse(signature)
    assert (header.agency, header.key_id) == (csc, SYNTHETIC_KEY_ID)
    partnership = ledger.get_partnership(DEMO_PARTNERSHIP)
    assert partnership.key(police, DEMO_KEY_ID) is None
