"""What vouches for a case's chronology, from a real service with its checkpointer on a real
nats-server: the case page's line, and the ``Ledger-Attestation`` header of the API's
chronology (JSON, CSV, review CSV) and of the page's CSV; before any checkpoint, after one,
and once agencies have cosigned it; and :meth:`MerkleLog.attestation` choosing the smallest
witnessed checkpoint that covers a sequence."""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from ledger_scenario import LA, PARTNERSHIP
from litestar.testing import TestClient
from log_support import CASE, checkpoint_all, log_settings, record_case, witness
from pages_support import sign_in

from interfaces.http import create_app
from projections.chronology import Chronology
from runtime.log import Attestation
from runtime.service import Service, open_service
from runtime.tokens import Role, TokenStore

CHRONOLOGY = f"/partnerships/{PARTNERSHIP}/cases/{CASE}/chronology"
PAGE = f"/pages/{PARTNERSHIP}/cases/{CASE}"
HEADER = "Ledger-Attestation"


@pytest.fixture
def service(
    tmp_path: Path, nats_url: str, stream_name: str, subject_prefix: str
) -> Iterator[Service]:
    settings = log_settings(tmp_path / "data", nats_url, stream_name, subject_prefix)
    with open_service(settings, configure_logs=False) as running:
        record_case(running)  # sequences 1 to 10, the case's last event at 10
        running.views.runner(running.ledger).catch_up()
        yield running


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "tokens")


@pytest.fixture
def client(service: Service, tokens: TokenStore) -> Iterator[TestClient[Any]]:
    app = create_app(
        service.ledger,
        tokens,
        views=service.views,
        access_log=service.access_log,
        merkle_log=service.merkle_log,
        pages_secret=secrets.token_hex(32),
    )
    with TestClient(app=app, base_url="http://testserver.local") as c:
        token, _ = tokens.issue(Role.AGENCY, PARTNERSHIP, agency="police", actor="act_pc-000001")
        sign_in(c, token)
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


def shown(client: TestClient[Any]) -> str:
    """The case page's attestation line, as a person reads it."""
    page = client.get(PAGE)
    assert page.status_code == 200, page.text
    found = re.search(r'<p id="attestation">(.*?)</p>', page.text, re.S)
    assert found, "the case page has no attestation line"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", found[1])).split())


def headers(client: TestClient[Any], **params: str) -> set[str | None]:
    """The attestation header of each download of the chronology: the API's three formats
    and the page's CSV."""
    got = [
        client.get(CHRONOLOGY, params={**params, "format": f}) for f in ("json", "csv", "review")
    ]
    got.append(client.get(f"{PAGE}/chronology.csv", params=params))
    assert all(r.status_code == 200 for r in got), [r.text for r in got]
    return {r.headers.get(HEADER) for r in got}


class TestThePageAndTheDownloads:
    def test_before_any_checkpoint_they_say_not_yet_covered(self, client: TestClient[Any]) -> None:
        assert shown(client).startswith("Not yet covered by a checkpoint")
        assert headers(client) == {"not yet covered by a checkpoint"}

    def test_after_a_checkpoint_they_name_it_and_say_no_witness_cosigned_it_yet(
        self, client: TestClient[Any], service: Service
    ) -> None:
        checkpoint_all(service)
        assert shown(client).startswith(
            "Verified against checkpoint 10. No witness has cosigned it yet."
        )
        assert headers(client) == {"verified against checkpoint 10, not witnessed"}

    def test_once_agencies_cosign_they_name_the_witnesses(
        self, client: TestClient[Any], service: Service, tmp_path: Path
    ) -> None:
        checkpoint_all(service)
        for agency in ("police", "health"):
            witness(service, agency, tmp_path)
        assert shown(client).startswith(
            "Verified against checkpoint 10, witnessed by health, police."
        )
        assert headers(client) == {"verified against checkpoint 10, witnessed by health, police"}

    def test_the_json_answer_keeps_its_documented_schema(
        self, client: TestClient[Any], service: Service, tmp_path: Path
    ) -> None:
        checkpoint_all(service)
        witness(service, "police", tmp_path)
        got = client.get(CHRONOLOGY)
        assert set(got.json()) == set(Chronology.__struct_fields__)
        msgspec.json.decode(got.content, type=Chronology, strict=True)

    def test_as_of_an_earlier_instant_the_checkpoint_covering_what_was_shown_then_is_named(
        self, client: TestClient[Any], service: Service, tmp_path: Path
    ) -> None:
        checkpoint_all(service)
        witness(service, "health", tmp_path)  # cosigns 10
        then = datetime.now(UTC)
        service.ledger.record_action(
            partnership=PARTNERSHIP, case=CASE, recorded_by=LA, action="home_visit"
        )
        service.views.runner(service.ledger).catch_up()
        checkpoint_all(service)
        witness(service, "police", tmp_path)  # cosigns 11
        assert headers(client) == {"verified against checkpoint 11, witnessed by police"}
        assert headers(client, as_of=then.isoformat()) == {
            "verified against checkpoint 10, witnessed by health"
        }


class TestMerkleLogAttestation:
    def test_the_smallest_witnessed_checkpoint_covering_a_sequence_is_chosen(
        self, service: Service, tmp_path: Path
    ) -> None:
        log = service.merkle_log
        assert log.attestation(3) == Attestation(size=None)
        checkpoint_all(service)  # one checkpoint per event: sizes 1 to 10
        assert log.attestation(3) == Attestation(size=3)
        for agency in ("police", "health"):
            witness(service, agency, tmp_path)  # both cosign 10
        for _ in range(2):
            service.ledger.record_action(
                partnership=PARTNERSHIP, case=CASE, recorded_by=LA, action="home_visit"
            )
        checkpoint_all(service)  # 11 and 12
        witness(service, "police", tmp_path / "later")  # police cosigns 12 too
        assert log.attestation(3) == Attestation(size=10, witnesses=("health", "police"))
        assert log.attestation(11) == Attestation(size=12, witnesses=("police",))
        assert log.attestation(13) == Attestation(size=None)
        assert (
            log.attestation(11).sentence() == "verified against checkpoint 12, witnessed by police"
        )
