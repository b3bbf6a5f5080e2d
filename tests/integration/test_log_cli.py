"""``ledger log key|checkpoint|prove|consistency`` against a real service with its checkpointer
on a real nats-server: read from the data dir, and from the HTTP API (uvicorn on a loopback
port) with ``--url`` and ``LEDGER_TOKEN``. Each proof is printed only once it verifies; a
proof, a checkpoint or a stored event that does not is refused with nothing on stdout."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cli_support import ledger
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_scenario import LA, PARTNERSHIP
from log_support import CASE, checkpoint_all, log_settings, record_case, witness
from structlog.testing import capture_logs

from interfaces.http import create_app
from ledger.proofs.merkle import verify_consistency, verify_inclusion
from ledger.proofs.note import format_verifier_key, open_checkpoint, split_checkpoint
from runtime.log_key import log_key
from runtime.service import Service, open_service
from runtime.settings import Settings
from runtime.tokens import Role, TokenStore
from schemas.log import InclusionProof


@pytest.fixture
def settings(tmp_path: Path, nats_url: str, stream_name: str, subject_prefix: str) -> Settings:
    return log_settings(tmp_path / "data", nats_url, stream_name, subject_prefix)


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    with open_service(settings, configure_logs=False) as running:
        yield running


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The data dir's environment, as ``ledger`` reads it."""
    values = {
        "LEDGER_DATA_DIR": str(settings.data_dir),
        "NATS_URL": settings.nats_url or "",
        "LEDGER_AUTH": "0",
        "NATS_STREAM": settings.stream,
        "NATS_SUBJECT_PREFIX": settings.subject_prefix,
        "COLUMNS": "200",
    }
    for name in ("LEDGER_URL", "LEDGER_TOKEN", "LEDGER_LOG_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("runtime.bootstrap.configure_logging", lambda **_: None)
    return values


@pytest.fixture
def sizes(service: Service, tmp_path: Path) -> tuple[int, int]:
    """Two checkpoints: the case and the three keys, then two more events; police and
    health cosign the second."""
    record_case(service)
    first = checkpoint_all(service)
    for _ in range(2):
        service.ledger.record_action(
            partnership=PARTNERSHIP, case=CASE, recorded_by=LA, action="home_visit"
        )
    second = checkpoint_all(service)
    for agency in ("police", "health"):
        witness(service, agency, tmp_path)
    return first, second


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def remote(service: Service, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The service's HTTP API on a loopback port, and an inspector's token for it."""
    tokens = TokenStore(tmp_path / "tokens")
    token, _ = tokens.issue(Role.INSPECTOR, PARTNERSHIP)
    app = create_app(service.ledger, tokens, merkle_log=service.merkle_log)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    with capture_logs():
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}", token
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def vkey_of(settings: Settings) -> str:
    return format_verifier_key(settings.origin, log_key(settings.data_dir).public_key())


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output + result.stderr
    return result


def refused(result: Any, code: int = 1) -> str:
    assert result.exit_code == code, result.output + result.stderr
    assert result.stdout == ""
    text: str = result.stderr
    return text


class TestKey:
    def test_the_key_printed_is_the_data_dir_s_and_the_service_s(
        self,
        service: Service,
        settings: Settings,
        env: dict[str, str],
        remote: tuple[str, str],
    ) -> None:
        local = ok(ledger("log", "key", env=env)).stdout.strip()
        assert local == vkey_of(settings)
        url, token = remote
        served = ok(ledger("log", "key", "--url", url, env=env | {"LEDGER_TOKEN": token}))
        assert served.stdout.strip() == local

    def test_a_data_dir_without_a_log_key_says_so(self, tmp_path: Path) -> None:
        out = refused(ledger("log", "key", env={"LEDGER_DATA_DIR": str(tmp_path / "empty")}))
        assert "holds no log key yet" in out


class TestCheckpoint:
    def test_the_latest_checkpoint_is_printed_with_its_cosignatures_once_it_verifies(
        self, service: Service, settings: Settings, env: dict[str, str], sizes: tuple[int, int]
    ) -> None:
        result = ok(ledger("log", "checkpoint", env=env))
        key = log_key(settings.data_dir).public_key()
        cp = open_checkpoint(result.stdout, settings.origin, key)
        _, lines = split_checkpoint(result.stdout)
        assert cp.size == sizes[1]
        assert len(lines) == 3  # the log's signature, then police's and health's
        assert result.stdout == service.merkle_log.latest_checkpoint()
        assert f"checkpoint of size {sizes[1]}" in result.stderr
        assert "(the data dir's)" in result.stderr
        older = ok(ledger("log", "checkpoint", "--size", str(sizes[0]), env=env))
        assert open_checkpoint(older.stdout, settings.origin, key).size == sizes[0]

    def test_a_checkpoint_is_refused_under_another_pinned_key(
        self, settings: Settings, env: dict[str, str], sizes: tuple[int, int]
    ) -> None:
        other = format_verifier_key(settings.origin, Ed25519PrivateKey.generate().public_key())
        out = refused(ledger("log", "checkpoint", "--log-key", other, env=env))
        assert "not verified" in out

    def test_a_malformed_pinned_key_is_a_usage_error(
        self, env: dict[str, str], sizes: tuple[int, int]
    ) -> None:
        out = refused(ledger("log", "checkpoint", "--log-key", "not-a-key", env=env), 2)
        assert "--log-key" in out


class TestProve:
    def test_an_inclusion_proof_is_printed_once_it_verifies_and_it_verifies_again_here(
        self, settings: Settings, env: dict[str, str], sizes: tuple[int, int]
    ) -> None:
        pinned = vkey_of(settings)
        result = ok(ledger("log", "prove", "5", "--format", "json", "--log-key", pinned, env=env))
        shown = json.loads(result.stdout)
        assert (shown["seq"], shown["index"], shown["size"]) == (5, 4, sizes[1])
        cp = open_checkpoint(
            shown["checkpoint"], settings.origin, log_key(settings.data_dir).public_key()
        )
        verify_inclusion(
            base64.b64decode(shown["leaf_hash"]),
            4,
            cp.size,
            [base64.b64decode(h) for h in shown["proof"]],
            cp.root,
        )
        assert shown["root"] == base64.b64encode(cp.root).decode()
        assert "verified: sequence 5 is leaf 4" in result.stderr
        assert "the leaf hash is the event's as stored" in result.stderr
        assert "(pinned)" in result.stderr

    def test_a_proof_in_an_older_checkpoint_s_tree_is_proven_against_that_checkpoint(
        self, env: dict[str, str], sizes: tuple[int, int]
    ) -> None:
        first = sizes[0]
        result = ok(
            ledger("log", "prove", str(first), "--size", str(first), "--format", "json", env=env)
        )
        assert json.loads(result.stdout)["size"] == first

    def test_the_table_shows_the_proof_s_hashes(
        self, env: dict[str, str], sizes: tuple[int, int]
    ) -> None:
        table = ok(ledger("log", "prove", "2", "--format", "table", env=env)).stdout
        shown = json.loads(ok(ledger("log", "prove", "2", "--format", "json", env=env)).stdout)
        assert shown["leaf_hash"] in table
        assert all(h in table for h in shown["proof"])

    def test_a_sequence_no_checkpoint_covers_is_refused(
        self, env: dict[str, str], sizes: tuple[int, int]
    ) -> None:
        out = refused(ledger("log", "prove", str(sizes[1] + 1), env=env))
        assert f"seq {sizes[1] + 1}: is not in the tree of size {sizes[1]}" in out

    def test_a_tampered_proof_is_refused_and_nothing_is_printed(
        self, env: dict[str, str], sizes: tuple[int, int], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from interfaces import _log_cli

        honest = _log_cli._Local.inclusion

        def tampered(self: Any, seq: int, size: int | None) -> InclusionProof:
            proof = honest(self, seq, size)
            first = bytes([proof.proof[0][0] ^ 1]) + proof.proof[0][1:]
            return InclusionProof(
                seq=proof.seq,
                index=proof.index,
                size=proof.size,
                leaf_hash=proof.leaf_hash,
                proof=[first, *proof.proof[1:]],
            )

        monkeypatch.setattr(_log_cli._Local, "inclusion", tampered)
        out = refused(ledger("log", "prove", "3", env=env))
        assert "not verified: inclusion proof of leaf 2" in out

    def test_a_leaf_that_is_not_the_stored_event_s_hash_is_refused(
        self, env: dict[str, str], sizes: tuple[int, int], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from interfaces import _log_cli

        monkeypatch.setattr(_log_cli._Local, "stored_leaf", lambda self, seq: bytes(32))
        out = refused(ledger("log", "prove", "3", env=env))
        assert "sequence 3: the event as stored does not hash to the proven leaf" in out

    def test_the_service_s_proof_is_the_data_dir_s_and_says_whose_key_it_trusted(
        self, env: dict[str, str], sizes: tuple[int, int], remote: tuple[str, str]
    ) -> None:
        url, token = remote
        local = ok(ledger("log", "prove", "4", "--format", "json", env=env)).stdout
        served = ok(
            ledger(
                "log", "prove", "4", "--format", "json", "--url", url,
                env=env | {"LEDGER_TOKEN": token},
            )
        )  # fmt: skip
        assert json.loads(served.stdout) == json.loads(local)
        assert f"given by the service at {url}, not pinned" in served.stderr
        assert "the event itself is not read here" in served.stderr

    def test_a_service_asked_without_a_token_is_not_asked(
        self, env: dict[str, str], remote: tuple[str, str]
    ) -> None:
        url, _ = remote
        out = refused(ledger("log", "prove", "1", "--url", url, env=env))
        assert "LEDGER_TOKEN is not set" in out


class TestConsistency:
    def test_a_consistency_proof_between_two_checkpoints_verifies(
        self, settings: Settings, env: dict[str, str], sizes: tuple[int, int]
    ) -> None:
        first, second = sizes
        result = ok(ledger("log", "consistency", str(first), "--format", "json", env=env))
        shown = json.loads(result.stdout)
        assert (shown["from"], shown["to"]) == (first, second)
        verify_consistency(
            first,
            second,
            base64.b64decode(shown["from_root"]),
            base64.b64decode(shown["to_root"]),
            [base64.b64decode(h) for h in shown["proof"]],
        )
        assert f"the tree of size {first} is a prefix of the tree of size {second}" in (
            result.stderr
        )
        same = ok(
            ledger("log", "consistency", str(first), str(second), "--format", "json", env=env)
        )
        assert json.loads(same.stdout) == shown

    def test_a_size_beyond_the_latest_checkpoint_is_refused(
        self, env: dict[str, str], sizes: tuple[int, int]
    ) -> None:
        beyond = str(sizes[1] + 1)
        out = refused(ledger("log", "consistency", str(sizes[0]), beyond, env=env))
        assert f"size {beyond}: no checkpoint covers it (the latest is of size {sizes[1]})" in out

    def test_a_larger_first_size_is_a_usage_error(self, env: dict[str, str]) -> None:
        out = refused(ledger("log", "consistency", "5", "3", env=env), 2)
        assert "M <= N" in out
