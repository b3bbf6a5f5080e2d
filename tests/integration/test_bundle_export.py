"""The inspector's bundle from a real service on a real nats-server: the checkpointer runs,
two agencies witness, ``ledger export`` writes the bundle, and ``python -m ledger.verify``
checks it in another process that has nothing but the file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_scenario import HEALTH, LA, PARTNERSHIP, POLICE, establish
from typer.testing import CliRunner

from interfaces.cli import app
from ledger.proofs.bundle import read_bundle
from ledger.proofs.entry import b64
from ledger.proofs.note import split_checkpoint
from ledger.proofs.witness import Witness
from runtime.service import Service, open_service
from runtime.settings import Settings

CASE = "c-77"
CHILD = "ch_0123456789abcdef"
KEYS = {a["agency"]: Ed25519PrivateKey.generate() for a in (LA, POLICE, HEALTH)}


@pytest.fixture
def settings(tmp_path: Path, nats_url: str, stream_name: str, subject_prefix: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        nats_url=nats_url,
        auth=False,
        stream=stream_name,
        subject_prefix=subject_prefix,
        checkpoint_every=1,
        checkpoint_seconds=0.2,
    )


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    with open_service(settings, configure_logs=False) as running:
        yield running


def record_case(service: Service) -> None:
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


def witness(service: Service, agency: str, tmp_path: Path) -> None:
    log = service.merkle_log
    w = Witness(agency, KEYS[agency], log.origin, log.log_key, tmp_path / f"w-{agency}")
    note = log.latest_checkpoint()
    line = w.consider(note, [])
    cp, _ = split_checkpoint(note)
    log.add_cosignature(agency, f"{cp.body()}\n{line}\n".encode())


class TestExport:
    def test_a_bundle_written_by_ledger_export_verifies_offline_in_another_process(
        self, service: Service, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        record_case(service)
        size = checkpoint_all(service)
        for agency in ("police", "health"):
            witness(service, agency, tmp_path)
        env_of = {
            "LEDGER_DATA_DIR": str(settings.data_dir),
            "NATS_URL": settings.nats_url or "",
            "LEDGER_AUTH": "0",
            "NATS_STREAM": settings.stream,
            "NATS_SUBJECT_PREFIX": settings.subject_prefix,
        }
        for name, value in env_of.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr("runtime.bootstrap.configure_logging", lambda **_: None)
        out = tmp_path / "out" / "bundle.json"
        result = CliRunner().invoke(
            app, ["export", "--case", CASE, "--partnership", PARTNERSHIP, "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        bundle = read_bundle(out)
        assert [e.headers["Ledger-Version"] for e in bundle.events] == ["1", "2", "3"]
        assert len(bundle.keys) == 3
        # Another process, no NATS address, no data dir: only the package and the file.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "NATS"))}
        verified = subprocess.run(
            [sys.executable, "-m", "ledger.verify", str(out), "--witnesses", "2"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
        assert verified.returncode == 0, verified.stderr
        assert verified.stdout.strip() == (
            f"3 events of case {CASE} verified against checkpoint {size}, "
            "witnessed by health, police"
        )
