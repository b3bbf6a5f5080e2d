"""A real service with its checkpointer, for the Merkle log's integration tests: a case
recorded by agencies with registered keys, checkpoints published, witnesses cosigning.

A plain module (not a conftest) so that test modules can import its names.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_scenario import HEALTH, LA, PARTNERSHIP, POLICE, establish

from ledger.proofs.entry import b64
from ledger.proofs.note import split_checkpoint
from ledger.proofs.witness import Witness
from runtime.service import Service
from runtime.settings import Settings

CASE = "c-77"
CHILD = "ch_0123456789abcdef"
KEYS = {a["agency"]: Ed25519PrivateKey.generate() for a in (LA, POLICE, HEALTH)}


def log_settings(data_dir: Path, nats_url: str, stream_name: str, subject_prefix: str) -> Settings:
    """A service on ``nats_url`` without authentication, checkpointing every event."""
    return Settings(
        data_dir=data_dir,
        nats_url=nats_url,
        auth=False,
        stream=stream_name,
        subject_prefix=subject_prefix,
        checkpoint_every=1,
        checkpoint_seconds=0.2,
    )


def record_case(service: Service) -> None:
    """The partnership, the three agencies' keys, and case ``CASE`` of three events."""
    ledger = service.ledger
    establish(ledger)
    for agency, key in KEYS.items():
        ledger.register_agency_key(
            partnership=PARTNERSHIP,
            recorded_by={"agency": agency, "actor": "act_admin01"},
            agency=agency,
            key_id=f"{agency}-1",
            public_key=b64(key.public_key().public_bytes_raw()),
        )
    ledger.open_case(
        partnership=PARTNERSHIP,
        case=CASE,
        recorded_by=LA,
        children=[{"child": CHILD, "age_band": "5_9"}],
    )
    ledger.join_case(partnership=PARTNERSHIP, case=CASE, recorded_by=LA, agency="police")
    ledger.record_action(
        partnership=PARTNERSHIP, case=CASE, recorded_by=POLICE, action="strategy_discussion"
    )


def checkpoint_all(service: Service) -> int:
    """Run the checkpointer until it has published a checkpoint of the whole stream."""
    checkpointer = service.checkpointer()
    checkpointer.catch_up()
    target = service.ledger.recorder.max_notification_id() or 0
    runner = threading.Thread(target=checkpointer.follow, daemon=True)
    runner.start()
    try:
        for _ in range(200):
            latest = checkpointer.latest
            if latest is not None and latest.size >= target:
                return latest.size
            threading.Event().wait(0.05)
    finally:
        checkpointer.stop()
        runner.join(timeout=10)
    pytest.fail("the checkpointer published no checkpoint of the whole stream")


def witness_of(service: Service, agency: str, state: Path) -> Witness:
    log = service.merkle_log
    return Witness(agency, KEYS[agency], log.origin, log.log_key, state)


def witness(service: Service, agency: str, tmp_path: Path) -> None:
    """``agency`` cosigns the latest checkpoint and sends it as over ``POST /log/cosignatures``."""
    w = witness_of(service, agency, tmp_path / f"w-{agency}")
    log = service.merkle_log
    note = log.latest_checkpoint()
    line = w.consider(note, [])
    cp, _ = split_checkpoint(note)
    log.add_cosignature(agency, f"{cp.body()}\n{line}\n".encode())
