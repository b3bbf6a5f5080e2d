"""``ledger keys generate`` and ``ledger record ... --key FILE --key-id ID`` on the data dir,
against a real nats-server: the stored event carries the signature and it verifies."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import CASE, PARTNERSHIP_COMMANDS, P, ledger, receipt
from structlog.testing import capture_logs

from ledger.nats import Factory, _stream
from ledger.proofs.entry import SignatureHeader, verify_assertion
from ledger.signing import load_private_key, public_key_text


@pytest.fixture
def env(
    nats_url: str,
    stream_name: str,
    subject_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    values = {
        "NATS_URL": nats_url,
        "NATS_STREAM": stream_name,
        "NATS_SUBJECT_PREFIX": subject_prefix,
        "LEDGER_DATA_DIR": str(tmp_path / "data"),
        "LEDGER_PARTNERSHIP": P,
        "LEDGER_AGENCY": "la",
        "LEDGER_ACTOR": "act_la-000001",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LEDGER_URL", raising=False)
    monkeypatch.delenv("LEDGER_TOKEN", raising=False)
    monkeypatch.setattr("runtime.bootstrap.configure_logging", lambda **_: None)
    with capture_logs():
        yield values


def _stored(env: dict[str, str], seq: int) -> _stream.StoredMsg:
    factory = Factory(env | {"PERSISTENCE_MODULE": "ledger.nats"})
    try:
        found = factory.pool.run(
            lambda nc: _stream.direct_get(nc, env["NATS_STREAM"], {"seq": seq}, 5.0)
        )
    finally:
        factory.close()
    assert found is not None
    return found


class TestSigningFromTheCommandLine:
    def test_a_generated_key_signs_a_recorded_command_and_the_stored_event_verifies(
        self, env: dict[str, str], tmp_path: Path
    ) -> None:
        key_file = tmp_path / "la.pem"
        made = ledger(
            "keys", "generate", "--out", str(key_file), "--agency", "la", "--key-id", "k1"
        )
        assert made.exit_code == 0, made.output + made.stderr
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        fields = json.loads(made.stdout)
        assert fields["custody"] == "agency"
        assert "PRIVATE" not in made.stdout
        for command in PARTNERSHIP_COMMANDS:
            receipt(ledger("record", *command))
        receipt(
            ledger(
                "record", "RegisterAgencyKey", "--agency", "la", "--key-id", "k1",
                "--public-key", fields["public_key"],
            )
        )  # fmt: skip
        children = json.dumps([{"child": "ch_0123456789abcdef", "age_band": "5_9"}])
        receipt(ledger("record", "OpenCase", "--case", CASE, "--children", children))
        signed = receipt(
            ledger(
                "record", "RecordAction", "--case", CASE, "--action", "home_visit",
                "--occurred-at", "2026-01-05T10:00:00Z",
                "--key", str(key_file), "--key-id", "k1",
            )
        )  # fmt: skip
        stored = _stored(env, signed["sequence"])
        header = SignatureHeader.parse(stored.headers[_stream.HDR_SIGNATURE])
        assert (header.agency, header.key_id) == ("la", "k1")
        verify_assertion(
            load_private_key(key_file).public_key(), header, stored.subject, stored.data
        )

    def test_a_key_file_is_never_overwritten(self, env: dict[str, str], tmp_path: Path) -> None:
        key_file = tmp_path / "la.pem"
        assert ledger("keys", "generate", "--out", str(key_file)).exit_code == 0
        before = key_file.read_bytes()
        again = ledger("keys", "generate", "--out", str(key_file))
        assert again.exit_code != 0
        assert key_file.read_bytes() == before

    def test_signing_needs_both_the_key_and_its_id(
        self, env: dict[str, str], tmp_path: Path
    ) -> None:
        result = ledger(
            "record", "RecordAction", "--case", CASE, "--action", "home_visit",
            "--key", str(tmp_path / "x.pem"),
        )  # fmt: skip
        assert result.exit_code == 2
        assert "--key-id" in result.stderr


class TestRotatingAKeyFromTheCommandLine:
    def test_the_new_key_is_registered_under_the_old_and_the_old_revoked_under_the_new(
        self, env: dict[str, str], tmp_path: Path
    ) -> None:
        old, new = tmp_path / "k1.pem", tmp_path / "k2.pem"
        for path in (old, new):
            assert ledger("keys", "generate", "--out", str(path)).exit_code == 0
        for command in PARTNERSHIP_COMMANDS:
            receipt(ledger("record", *command))
        first = public_key_text(load_private_key(old))
        receipt(
            ledger(
                "record", "RegisterAgencyKey", "--agency", "la", "--key-id", "k1",
                "--public-key", first,
            )
        )  # fmt: skip  # la's first key: the admin's word
        unsigned = ledger("keys", "register", "k2", "--agency", "la", "--new-key", str(new))
        assert unsigned.exit_code == 1
        assert "key_events_signed_by_live_key" in unsigned.stderr
        by_old = ["--key", str(old), "--key-id", "k1"]
        registered = receipt(
            ledger("keys", "register", "k2", "--agency", "la", "--new-key", str(new), *by_old)
        )
        stored = _stored(env, registered["sequence"])
        assert SignatureHeader.parse(stored.headers[_stream.HDR_SIGNATURE]).key_id == "k1"
        by_new = ["--key", str(new), "--key-id", "k2"]
        receipt(ledger("keys", "revoke", "k1", "--agency", "la", "--reason", "rotated", *by_new))
        again = ledger("keys", "revoke", "k1", "--agency", "la", "--reason", "rotated", *by_old)
        assert again.exit_code == 1  # k1 signs nothing once revoked
        verified = ledger("verify")
        assert verified.exit_code == 0, verified.stderr
        assert "signatures: 2" in verified.stdout
