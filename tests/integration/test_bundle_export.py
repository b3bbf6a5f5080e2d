"""The inspector's bundle from a real service on a real nats-server: the checkpointer runs,
two agencies witness, ``ledger export`` writes the bundle, and ``python -m ledger.verify``
checks it in another process that has nothing but the file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_scenario import PARTNERSHIP
from log_support import CASE, checkpoint_all, log_settings, record_case, witness
from typer.testing import CliRunner

from interfaces.cli import app
from ledger.proofs.bundle import read_bundle
from runtime.service import Service, open_service
from runtime.settings import Settings


@pytest.fixture
def settings(tmp_path: Path, nats_url: str, stream_name: str, subject_prefix: str) -> Settings:
    return log_settings(tmp_path / "data", nats_url, stream_name, subject_prefix)


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    with open_service(settings, configure_logs=False) as running:
        yield running


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
