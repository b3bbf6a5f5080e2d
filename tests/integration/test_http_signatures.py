"""Detached signatures over HTTP (``Ledger-Signature`` on a command POST), on a real server.

A good signature is stored with the event; a forged one, one by another agency's key, one
by a revoked key and a missing one where the partnership requires it are refused as
problems, with nothing written.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_scenario import revoke_signed
from litestar.testing import TestClient

import schemas
from interfaces.http import create_app
from ledger.application import Ledger
from ledger.nats import _stream
from ledger.signing import public_key_text, sign_command
from runtime.settings import Settings
from runtime.tokens import Role, TokenStore

P = "northshire"
CHILD = "ch_0123456789abcdef"
LA = {"agency": "la", "actor": "act_la-000001"}
POLICE = {"agency": "police", "actor": "act_police-000001"}
STAGES = [{"stage": 1, "title": "Practitioners", "response_working_days": 5}]


@pytest.fixture
def ledger(nats_url: str, stream_name: str, subject_prefix: str) -> Iterator[Ledger]:
    env = Settings(stream=stream_name, subject_prefix=subject_prefix).persistence_env(nats_url)
    app = Ledger(env=env)
    app.establish_partnership(
        partnership=P, recorded_by=LA, name="N", nation="england", escalation_stages=STAGES
    )
    for agency, kind in (("la", "local_authority"), ("police", "police")):
        app.register_agency(
            partnership=P, recorded_by=LA, agency=agency, name=kind, kind=kind,
            role="statutory_partner",
        )  # fmt: skip
    app.open_case(
        partnership=P, case="c1", recorded_by=LA, children=[{"child": CHILD, "age_band": "5_9"}]
    )
    yield app
    app.close()


@pytest.fixture
def la_key(ledger: Ledger) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    ledger.register_agency_key(
        partnership=P, recorded_by=LA, agency="la", key_id="k1", public_key=public_key_text(key)
    )
    return key


@pytest.fixture
def post(ledger: Ledger, tmp_path: Path) -> Iterator[Any]:
    tokens = TokenStore(tmp_path)
    token, _ = tokens.issue(Role.AGENCY, P, agency="la", actor=LA["actor"])
    with TestClient(app=create_app(ledger, tokens)) as client:

        def send(body: dict[str, Any], signature: str | None) -> Any:
            headers = {"Authorization": f"Bearer {token}"}
            if signature is not None:
                headers[_stream.HDR_SIGNATURE] = signature
            return client.post(
                "/commands/RecordAction", content=msgspec.json.encode(body), headers=headers
            )

        yield send


BODY: dict[str, Any] = {
    "partnership": P,
    "case": "c1",
    "action": "home_visit",
    "seen": True,
}


def _body() -> dict[str, Any]:
    return {**BODY, "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}


def _signed(
    body: dict[str, Any], who: dict[str, str], key: Ed25519PrivateKey, key_id: str, prefix: str
) -> str:
    command = schemas.decode_command_as(msgspec.json.encode(body), schemas.commands.RecordAction)
    return sign_command(command, who, key, key_id, prefix=prefix)  # type: ignore[arg-type]


def _last(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


class TestDetachedSignatures:
    def test_a_good_signature_answers_201_and_is_stored_with_the_event(
        self, ledger: Ledger, la_key: Ed25519PrivateKey, post: Any, subject_prefix: str
    ) -> None:
        body = _body()
        signature = _signed(body, LA, la_key, "k1", subject_prefix)
        response = post(body, signature)
        assert response.status_code == 201, response.text
        seq = response.json()["sequence"]
        stored = ledger.recorder.pool.run(  # type: ignore[attr-defined]
            lambda nc: _stream.direct_get(nc, ledger.recorder.stream, {"seq": seq}, 5.0)  # type: ignore[attr-defined]
        )
        assert stored.headers[_stream.HDR_SIGNATURE] == signature

    @pytest.mark.parametrize(
        ("case", "status", "kind"),
        [
            ("forged", 400, "invalid-signature"),
            ("other_agency", 403, "signature-refused"),
            ("revoked", 403, "signature-refused"),
            ("unsigned_required", 403, "signature-refused"),
        ],
    )
    def test_a_bad_or_missing_signature_is_a_problem_and_nothing_is_written(
        self,
        ledger: Ledger,
        la_key: Ed25519PrivateKey,
        post: Any,
        subject_prefix: str,
        case: str,
        status: int,
        kind: str,
    ) -> None:
        body = _body()
        signature: str | None
        if case == "forged":
            signature = _signed(body, LA, Ed25519PrivateKey.generate(), "k1", subject_prefix)
        elif case == "other_agency":
            police_key = Ed25519PrivateKey.generate()
            ledger.register_agency_key(
                partnership=P,
                recorded_by=POLICE,
                agency="police",
                key_id="p1",
                public_key=public_key_text(police_key),
            )
            signature = _signed(body, POLICE, police_key, "p1", subject_prefix)
        elif case == "revoked":
            revoke_signed(ledger, LA, "k1", la_key, partnership=P, prefix=subject_prefix)
            signature = _signed(body, LA, la_key, "k1", subject_prefix)
        else:
            ledger.require_signatures(
                partnership=P, recorded_by=LA, required_from=datetime.now(UTC).date()
            )
            signature = None
        before = _last(ledger)
        response = post(body, signature)
        assert response.status_code == status, response.text
        problem = response.json()
        assert problem["type"].endswith(kind)
        assert "Ledger-Signature" in problem["detail"]
        assert _last(ledger) == before

    def test_the_openapi_document_names_the_signature_header_on_every_command(
        self, ledger: Ledger, post: Any, tmp_path: Path
    ) -> None:
        with TestClient(app=create_app(ledger, TokenStore(tmp_path / "t"))) as client:
            document = client.get("/schema/openapi.json").json()
        for tag in schemas.COMMAND_TYPES:
            operation = document["paths"][f"/commands/{tag}"]["post"]
            names = {p["name"]: p for p in operation.get("parameters", [])}
            assert names["Ledger-Signature"]["in"] == "header"
            assert names["Ledger-Signature"]["required"] is False


class TestAnAdminRegisteringALaterKey:
    """``POST /commands/RegisterAgencyKey`` with an admin token for la: la's second key is
    refused unless la's live key signed it (the detached header, as on any command)."""

    def test_is_refused_unsigned_and_accepted_with_the_live_key_s_signature(
        self, ledger: Ledger, la_key: Ed25519PrivateKey, tmp_path: Path, subject_prefix: str
    ) -> None:
        tokens = TokenStore(tmp_path)
        token, _ = tokens.issue(Role.ADMIN, P, agency="la", actor=LA["actor"])
        body = {
            "partnership": P,
            "agency": "la",
            "key_id": "k2",
            "public_key": public_key_text(Ed25519PrivateKey.generate()),
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        }
        data = msgspec.json.encode(body)
        command = schemas.decode_command_as(data, schemas.commands.RegisterAgencyKey)
        signature = sign_command(command, LA, la_key, "k1", prefix=subject_prefix)  # type: ignore[arg-type]
        with TestClient(app=create_app(ledger, tokens)) as client:

            def send(signature: str | None) -> Any:
                headers = {"Authorization": f"Bearer {token}"}
                if signature is not None:
                    headers[_stream.HDR_SIGNATURE] = signature
                return client.post("/commands/RegisterAgencyKey", content=data, headers=headers)

            before = _last(ledger)
            refused = send(None)
            assert refused.status_code == 403, refused.text
            assert refused.json()["type"].endswith("signature-refused")
            assert "key_events_signed_by_live_key" in refused.json()["detail"]
            assert _last(ledger) == before
            accepted = send(signature)
            assert accepted.status_code == 201, accepted.text
        assert ledger.get_partnership(P).live_keys("la") == ["k1", "k2"]
