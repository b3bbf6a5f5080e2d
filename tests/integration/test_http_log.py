"""The Merkle log's HTTP routes against a real nats-server: checkpoints and proofs for every
role, and an agency's cosignature accepted, refused (400) or a conflict (409)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_scenario import PARTNERSHIP, POLICE, establish
from litestar.testing import TestClient
from merkle_support import (
    ORIGIN,
    b64key,
    key,
    ledger,
    log_stream,
    merkle_log,
    published,
    record,
    recorder,
    run_checkpointer,
    sized,
    tree_file,
)

from interfaces.http import create_app
from ledger.application import Ledger
from ledger.nats import NatsApplicationRecorder
from ledger.proofs.merkle import verify_consistency, verify_inclusion
from ledger.proofs.note import Checkpoint, cosign, open_checkpoint, split_checkpoint
from runtime.log import MerkleLog
from runtime.log_stream import LogStream
from runtime.tokens import Role, TokenStore

__all__ = ["key", "ledger", "log_stream", "merkle_log", "recorder", "tree_file"]


@pytest.fixture
def police_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def checkpoints(
    ledger: Ledger,
    recorder: NatsApplicationRecorder,
    log_stream: LogStream,
    tree_file: Path,
    key: Ed25519PrivateKey,
    police_key: Ed25519PrivateKey,
) -> list[Checkpoint]:
    establish(ledger)
    ledger.register_agency_key(
        partnership=PARTNERSHIP,
        recorded_by=POLICE,
        agency="police",
        key_id="k1",
        public_key=b64key(police_key),
    )
    record(ledger, 4)  # 9
    run_checkpointer(recorder, log_stream, tree_file, key, sized(8), every=4)
    return published(log_stream, key)


@pytest.fixture
def client(
    ledger: Ledger, tmp_path: Path, merkle_log: MerkleLog
) -> Iterator[tuple[TestClient[Any], TokenStore]]:
    tokens = TokenStore(tmp_path)
    with TestClient(app=create_app(ledger, tokens, merkle_log=merkle_log)) as c:
        yield c, tokens


def bearer(tokens: TokenStore, role: Role, agency: str | None = None) -> dict[str, str]:
    actor = None if role is Role.INSPECTOR else "act_tester01"
    if role is not Role.INSPECTOR and agency is None:
        agency = "la"
    token, _ = tokens.issue(role, PARTNERSHIP, agency=agency, actor=actor)
    return {"Authorization": f"Bearer {token}"}


class TestReading:
    @pytest.mark.parametrize("role", list(Role))
    def test_every_role_reads_the_checkpoint_and_its_proofs_verify(
        self,
        client: tuple[TestClient[Any], TokenStore],
        checkpoints: list[Checkpoint],
        key: Ed25519PrivateKey,
        role: Role,
    ) -> None:
        c, tokens = client
        auth = bearer(tokens, role)
        got = c.get("/log/checkpoint", headers=auth)
        assert got.status_code == 200
        assert got.headers["content-type"].startswith("text/plain")
        latest = open_checkpoint(got.text, ORIGIN, key.public_key())
        assert latest == checkpoints[-1]
        proof = c.get("/log/proof/inclusion", params={"seq": 3}, headers=auth).json()
        assert (proof["seq"], proof["index"], proof["size"]) == (3, 2, 8)
        verify_inclusion(
            base64.b64decode(proof["leaf_hash"]),
            2,
            8,
            [base64.b64decode(p) for p in proof["proof"]],
            latest.root,
        )
        first = checkpoints[0]
        body = c.get("/log/proof/consistency", params={"from": 4, "to": 8}, headers=auth).json()
        assert (body["from"], body["to"]) == (4, 8)
        proof_hashes = [base64.b64decode(p) for p in body["proof"]]
        verify_consistency(4, 8, first.root, latest.root, proof_hashes)
        old = c.get("/log/checkpoints/4", headers=auth)
        assert open_checkpoint(old.text, ORIGIN, key.public_key()) == first

    def test_without_a_token_nothing_is_read(
        self, client: tuple[TestClient[Any], TokenStore], checkpoints: list[Checkpoint]
    ) -> None:
        c, _ = client
        assert c.get("/log/checkpoint").status_code == 401

    @pytest.mark.parametrize(
        ("path", "params", "status"),
        [
            ("/log/checkpoints/5", {}, 404),
            ("/log/proof/inclusion", {"seq": 1, "size": 9}, 404),
            ("/log/proof/inclusion", {"seq": "x"}, 400),
            ("/log/proof/inclusion", {}, 400),
            ("/log/proof/consistency", {"from": 8, "to": 4}, 404),
        ],
    )
    def test_a_size_no_checkpoint_covers_or_a_bad_number_is_a_problem(
        self,
        client: tuple[TestClient[Any], TokenStore],
        checkpoints: list[Checkpoint],
        path: str,
        params: dict[str, Any],
        status: int,
    ) -> None:
        c, tokens = client
        got = c.get(path, params=params, headers=bearer(tokens, Role.BOARD))
        assert got.status_code == status
        assert got.headers["content-type"] == "application/problem+json"


class TestCosigning:
    def test_an_agencys_cosignature_is_stored_and_served_with_the_checkpoint(
        self,
        client: tuple[TestClient[Any], TokenStore],
        checkpoints: list[Checkpoint],
        police_key: Ed25519PrivateKey,
    ) -> None:
        c, tokens = client
        cp = checkpoints[-1]
        line = cosign(cp, "police", police_key, 1_700_000_000)
        auth = bearer(tokens, Role.AGENCY, "police")
        got = c.post("/log/cosignatures", content=f"{cp.body()}\n{line}\n", headers=auth)
        assert got.status_code == 201, got.text
        assert got.json()["agency"] == "police"
        assert got.json()["size"] == 8
        _, lines = split_checkpoint(c.get("/log/checkpoint", headers=auth).text)
        assert line in lines

    @pytest.mark.parametrize(
        ("case", "status"),
        [("another agency's token", 400), ("garbage", 400), ("unpublished root", 409)],
    )
    def test_a_cosignature_that_cannot_count_is_refused(
        self,
        client: tuple[TestClient[Any], TokenStore],
        checkpoints: list[Checkpoint],
        police_key: Ed25519PrivateKey,
        case: str,
        status: int,
    ) -> None:
        c, tokens = client
        cp = checkpoints[-1]
        agency = "health" if case == "another agency's token" else "police"
        if case == "unpublished root":
            cp = Checkpoint(cp.origin, cp.size, bytes(32))
        note = f"{cp.body()}\n{cosign(cp, 'police', police_key, 1)}\n"
        if case == "garbage":
            note = "garbage"
        got = c.post("/log/cosignatures", content=note, headers=bearer(tokens, Role.AGENCY, agency))
        assert got.status_code == status
        _, lines = split_checkpoint(
            c.get("/log/checkpoint", headers=bearer(tokens, Role.BOARD)).text
        )
        assert len(lines) == 1  # the log's signature alone

    @pytest.mark.parametrize("role", [Role.BOARD, Role.INSPECTOR, Role.ADMIN])
    def test_only_an_agency_may_cosign(
        self,
        client: tuple[TestClient[Any], TokenStore],
        checkpoints: list[Checkpoint],
        police_key: Ed25519PrivateKey,
        role: Role,
    ) -> None:
        c, tokens = client
        cp = checkpoints[-1]
        note = f"{cp.body()}\n{cosign(cp, 'police', police_key, 1)}\n"
        assert (
            c.post("/log/cosignatures", content=note, headers=bearer(tokens, role)).status_code
            == 403
        )
