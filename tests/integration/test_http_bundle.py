"""``GET /partnerships/{p}/cases/{case}/bundle`` from a real service with its checkpointer on a
real nats-server: read by the roles that read the case's chronology and refused to the others,
recorded in the access log as the chronology's reads are, and the file downloaded verifies
offline (``ledger.verify.verify_bundle``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ledger_scenario import LA, PARTNERSHIP
from litestar.testing import TestClient
from log_support import CASE, checkpoint_all, log_settings, record_case, witness

from interfaces.http import create_app
from ledger.proofs.bundle import Bundle, decode_bundle, encode_bundle
from ledger.proofs.entry import entry_hash
from ledger.proofs.merkle import verify_inclusion
from ledger.proofs.note import open_checkpoint
from ledger.verify import verify_bundle
from runtime.service import Service, open_service
from runtime.tokens import Role, TokenStore

PATH = f"/partnerships/{PARTNERSHIP}/cases/{CASE}/bundle"


@pytest.fixture
def service(
    tmp_path: Path, nats_url: str, stream_name: str, subject_prefix: str
) -> Iterator[Service]:
    settings = log_settings(tmp_path / "data", nats_url, stream_name, subject_prefix)
    with open_service(settings, configure_logs=False) as running:
        record_case(running)
        checkpoint_all(running)
        for agency in ("police", "health"):
            witness(running, agency, tmp_path)
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
        bundles=service.bundle,
    )
    with TestClient(app=app) as c:
        yield c


def bearer(
    tokens: TokenStore, role: Role, agency: str | None = None, partnership: str = PARTNERSHIP
) -> dict[str, str]:
    actor = None if role is Role.INSPECTOR else "act_tester01"
    if role is not Role.INSPECTOR and agency is None:
        agency = "la"
    token, _ = tokens.issue(role, partnership, agency=agency, actor=actor)
    return {"Authorization": f"Bearer {token}"}


def proven(service: Service, data: bytes) -> Bundle:
    """The bundle in ``data``, once its checkpoint verifies with the log's key and each of its
    messages with its inclusion proof (the bundle's own key is not trusted here)."""
    bundle = decode_bundle(data)
    log = service.merkle_log
    cp = open_checkpoint(bundle.checkpoint, log.origin, log.log_key)
    for entry in [*bundle.keys, *bundle.events]:
        leaf = entry_hash(entry.subject, entry.headers, entry.payload)
        verify_inclusion(leaf, entry.seq - 1, cp.size, entry.proof, cp.root)
    return bundle


def reads(service: Service) -> list[tuple[str, str, str | None]]:
    """The access log's entries of the case: (query, role, agency)."""
    return [
        (e.query, e.role, e.agency)
        for e in service.access_log.entries(PARTNERSHIP, case=CASE, limit=100)
    ]


class TestBundle:
    def test_an_inspector_downloads_a_bundle_that_verifies_and_the_read_is_recorded(
        self, client: TestClient[Any], tokens: TokenStore, service: Service
    ) -> None:
        got = client.get(PATH, headers=bearer(tokens, Role.INSPECTOR))
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == "application/json"
        assert got.headers["content-disposition"] == (
            f'attachment; filename="bundle-{PARTNERSHIP}-{CASE}.json"'
        )
        assert got.content == encode_bundle(service.bundle(PARTNERSHIP, CASE))
        bundle = proven(service, got.content)
        assert [e.headers["Ledger-Version"] for e in bundle.events] == ["1", "2", "3"]
        assert reads(service) == [("bundle", "inspector", None)]

    def test_the_downloaded_bundle_verifies_offline_with_two_witnesses(
        self, client: TestClient[Any], tokens: TokenStore
    ) -> None:
        got = client.get(PATH, headers=bearer(tokens, Role.INSPECTOR))
        report = verify_bundle(decode_bundle(got.content), witnesses=2)
        assert (report.case, report.events) == (CASE, 3)
        assert report.witnessed_by == ["health", "police"]

    @pytest.mark.parametrize(
        ("role", "agency"), [(Role.BOARD, "board"), (Role.AGENCY, "la"), (Role.AGENCY, "police")]
    )
    def test_the_board_and_the_agencies_party_to_the_case_read_it(
        self,
        client: TestClient[Any],
        tokens: TokenStore,
        service: Service,
        role: Role,
        agency: str,
    ) -> None:
        got = client.get(PATH, headers=bearer(tokens, role, agency))
        assert got.status_code == 200, got.text
        assert len(proven(service, got.content).events) == 3
        assert reads(service) == [("bundle", role.value, agency)]

    @pytest.mark.parametrize(
        ("role", "agency", "reason"),
        [
            (Role.AGENCY, "health", "agency 'health' is not a party to case 'c-77'"),
            (Role.ADMIN, "la", "an admin token may not read chronology"),
        ],
    )
    def test_a_role_that_may_not_read_the_chronology_is_refused_and_nothing_is_recorded(
        self,
        client: TestClient[Any],
        tokens: TokenStore,
        service: Service,
        role: Role,
        agency: str,
        reason: str,
    ) -> None:
        got = client.get(PATH, headers=bearer(tokens, role, agency))
        assert got.status_code == 403
        assert got.json()["detail"].startswith(reason)
        assert reads(service) == []

    def test_another_partnership_s_token_is_refused(
        self, client: TestClient[Any], tokens: TokenStore
    ) -> None:
        got = client.get(PATH, headers=bearer(tokens, Role.BOARD, partnership="elsewhere"))
        assert got.status_code == 403

    @pytest.mark.parametrize(
        ("path", "field"),
        [
            (f"/partnerships/{PARTNERSHIP}/cases/c-nowhere/bundle", "case"),
            (f"/partnerships/nowhere/cases/{CASE}/bundle", "partnership"),
        ],
    )
    def test_an_unknown_partnership_or_case_is_404(
        self, client: TestClient[Any], tokens: TokenStore, path: str, field: str
    ) -> None:
        partnership = path.split("/")[2]
        got = client.get(path, headers=bearer(tokens, Role.BOARD, partnership=partnership))
        assert got.status_code == 404
        assert got.json()["field"] == field

    def test_as_of_before_the_case_s_first_event_is_404_and_a_bad_one_400(
        self, client: TestClient[Any], tokens: TokenStore
    ) -> None:
        auth = bearer(tokens, Role.INSPECTOR)
        assert client.get(PATH, params={"as_of": "2020-01-01"}, headers=auth).status_code == 404
        bad = client.get(PATH, params={"as_of": "yesterday"}, headers=auth)
        assert (bad.status_code, bad.json()["field"]) == (400, "as_of")
        other = client.get(PATH, params={"format": "csv"}, headers=auth)
        assert (other.status_code, other.json()["field"]) == (400, "format")

    def test_a_case_whose_last_event_no_checkpoint_holds_yet_is_409(
        self, client: TestClient[Any], tokens: TokenStore, service: Service
    ) -> None:
        service.ledger.record_action(
            partnership=PARTNERSHIP, case=CASE, recorded_by=LA, action="home_visit"
        )
        got = client.get(PATH, headers=bearer(tokens, Role.INSPECTOR))
        assert got.status_code == 409
        assert "the latest checkpoint is of size" in got.json()["detail"]
        checkpoint_all(service)
        again = client.get(PATH, headers=bearer(tokens, Role.INSPECTOR))
        assert len(proven(service, again.content).events) == 4

    def test_without_an_access_log_no_bundle_is_answered(
        self, service: Service, tokens: TokenStore
    ) -> None:
        app = create_app(
            service.ledger,
            tokens,
            views=service.views,
            merkle_log=service.merkle_log,
            bundles=service.bundle,
        )
        with TestClient(app=app) as c:
            got = c.get(PATH, headers=bearer(tokens, Role.INSPECTOR))
        assert got.status_code == 503
