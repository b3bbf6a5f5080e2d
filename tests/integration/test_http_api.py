"""The HTTP API against a real nats-server: each role's allowed and refused commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from structlog.testing import capture_logs

import schemas
from interfaces.http import create_app
from ledger.application import Ledger
from runtime.settings import Settings
from runtime.tokens import Role, TokenStore

P = "northshire"
CHILD = "ch_0123456789abcdef"
PROBLEM = "application/problem+json"
STAGES = [
    {"stage": 1, "title": "Practitioners", "response_working_days": 5},
    {"stage": 2, "title": "Managers", "response_working_days": 5},
]


@pytest.fixture
def ledger(nats_url: str, stream_name: str, subject_prefix: str) -> Iterator[Ledger]:
    env = Settings(stream=stream_name, subject_prefix=subject_prefix).persistence_env(nats_url)
    app = Ledger(env=env)
    yield app
    app.close()


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path)


@pytest.fixture
def client(ledger: Ledger, tokens: TokenStore) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(ledger, tokens)) as client:
        yield client


class Caller:
    """A token's holder: posts commands with its token."""

    def __init__(self, client: TestClient[Any], token: str | None) -> None:
        self.client = client
        self.token = token

    def post(self, tag: str, **body: Any) -> Any:
        headers = {} if self.token is None else {"Authorization": f"Bearer {self.token}"}
        return self.client.post(
            f"/commands/{tag}", json={"partnership": P, **body}, headers=headers
        )


def caller(
    client: TestClient[Any],
    tokens: TokenStore,
    role: Role,
    agency: str | None,
    partnership: str = P,
) -> Caller:
    actor = None if agency is None else f"act_{agency}-000001"
    token, _ = tokens.issue(role, partnership, agency=agency, actor=actor)
    return Caller(client, token)


def last(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


@pytest.fixture
def admin(client: TestClient[Any], tokens: TokenStore) -> Caller:
    return caller(client, tokens, Role.ADMIN, "la")


@pytest.fixture
def la(client: TestClient[Any], tokens: TokenStore, admin: Caller) -> Caller:
    """The local authority's agency token, in an established partnership with a case c1."""
    assert (
        admin.post(
            "EstablishPartnership", name="Northshire", nation="england", escalation_stages=STAGES
        ).status_code
        == 201
    )
    for agency, kind in (("la", "local_authority"), ("police", "police")):
        response = admin.post(
            "RegisterAgency", agency=agency, name=kind, kind=kind, role="statutory_partner"
        )
        assert response.status_code == 201, response.text
    la = caller(client, tokens, Role.AGENCY, "la")
    response = la.post("OpenCase", case="c1", children=[{"child": CHILD, "age_band": "5_9"}])
    assert response.status_code == 201, response.text
    return la


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:accountability-ledger:problem:")
    return body


class TestAgency:
    def test_a_recorded_action_answers_201_with_the_events_stream_sequence(
        self, la: Caller, ledger: Ledger
    ) -> None:
        response = la.post("RecordAction", case="c1", action="home_visit", seen=True)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["sequence"] == last(ledger)
        assert body["recorded_at"]
        assert body["event_type"] == "ActionRecorded"
        recorded = ledger.case_events(P, "c1")[-1][1]
        assert recorded.recorded_by.agency == "la"
        assert recorded.recorded_by.actor == "act_la-000001"

    def test_recording_as_another_agency_is_403_and_nothing_is_written(
        self, la: Caller, client: TestClient[Any], tokens: TokenStore, ledger: Ledger
    ) -> None:
        police = caller(client, tokens, Role.AGENCY, "police")
        before = last(ledger)
        body = assert_problem(
            police.post(
                "RaiseChallenge",
                challenge="ch1",
                case="c1",
                against_agency="police",
                by_agency="la",
                matter="threshold_decision",
                stage=1,
                summary="why",
            ),
            403,
        )
        assert "by_agency 'la' is not the token's agency 'police'" in body["detail"]
        assert last(ledger) == before

    def test_recorded_by_in_the_body_is_refused_as_an_unknown_field(self, la: Caller) -> None:
        body = assert_problem(
            la.post(
                "RecordAction",
                case="c1",
                action="home_visit",
                recorded_by={"agency": "police", "actor": "act_x"},
            ),
            400,
        )
        assert body["field"] == "recorded_by"

    def test_a_command_for_another_partnership_is_403(
        self, la: Caller, client: TestClient[Any], tokens: TokenStore
    ) -> None:
        other = caller(client, tokens, Role.AGENCY, "la", partnership="southshire")
        body = assert_problem(other.post("RecordAction", case="c1", action="home_visit"), 403)
        assert "partnership 'southshire'" in body["detail"]

    def test_a_board_command_is_403(self, la: Caller) -> None:
        body = assert_problem(la.post("ResolveChallenge", challenge="x", outcome="upheld"), 403)
        assert body["detail"] == "an agency token may not send ResolveChallenge"

    def test_a_bad_command_is_400_with_the_field_and_rule_and_nothing_is_written(
        self, la: Caller, ledger: Ledger
    ) -> None:
        before = last(ledger)
        body = assert_problem(la.post("RecordAction", case="C 1", action="home_visit"), 400)
        assert body["field"] == "case"
        assert "identifier" in body["rule"]
        assert last(ledger) == before

    def test_an_unknown_case_is_404(self, la: Caller, ledger: Ledger) -> None:
        before = last(ledger)
        body = assert_problem(la.post("RecordAction", case="nope", action="home_visit"), 404)
        assert "'nope' does not exist" in body["detail"]
        assert last(ledger) == before

    def test_a_refused_domain_rule_is_409(
        self, la: Caller, client: TestClient[Any], tokens: TokenStore, ledger: Ledger
    ) -> None:
        police = caller(client, tokens, Role.AGENCY, "police")  # not a party to c1
        before = last(ledger)
        body = assert_problem(police.post("RecordAction", case="c1", action="home_visit"), 409)
        assert body["field"] == "recorded_by.agency"
        assert body["rule"]
        assert last(ledger) == before


class TestBoard:
    def test_a_serious_incident_is_notified_and_an_action_refused(
        self, la: Caller, client: TestClient[Any], tokens: TokenStore
    ) -> None:
        board = caller(client, tokens, Role.BOARD, "la")
        response = board.post(
            "NotifySeriousIncident",
            review="r1",
            case="c1",
            child=CHILD,
            incident="serious_harm",
            became_aware_at="2026-01-05T09:00:00Z",
            notified_panel_at="2026-01-06T09:00:00Z",
        )
        assert response.status_code == 201, response.text
        assert_problem(board.post("RecordAction", case="c1", action="home_visit"), 403)


class TestInspector:
    def test_an_inspector_may_post_nothing(
        self, la: Caller, client: TestClient[Any], tokens: TokenStore, ledger: Ledger
    ) -> None:
        inspector = caller(client, tokens, Role.INSPECTOR, None)
        before = last(ledger)
        body = assert_problem(inspector.post("RecordAction", case="c1", action="home_visit"), 403)
        assert "inspector" in body["detail"]
        assert last(ledger) == before


class TestAdmin:
    def test_an_admin_registers_agencies_but_records_on_no_case(
        self, la: Caller, admin: Caller
    ) -> None:
        assert_problem(admin.post("RecordAction", case="c1", action="home_visit"), 403)


class TestTokens:
    def test_no_token_is_401(self, client: TestClient[Any]) -> None:
        response = Caller(client, None).post("RecordAction", case="c1", action="home_visit")
        body = assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "no API token" in body["detail"]

    @pytest.mark.parametrize("token", ["nonsense", "ldg_00000000_abc", "ldg_zz_abc"])
    def test_a_bad_token_is_401(self, client: TestClient[Any], token: str) -> None:
        assert_problem(Caller(client, token).post("RecordAction", case="c1", action="x"), 401)

    def test_a_revoked_token_is_401_even_for_the_running_app(
        self, la: Caller, client: TestClient[Any], tmp_path: Path, ledger: Ledger
    ) -> None:
        assert la.post("RecordAction", case="c1", action="home_visit").status_code == 201
        store = TokenStore(tmp_path)  # another process: `ledger token revoke`
        record = next(t for t in store.list() if t.role is Role.AGENCY)
        store.revoke(record.id)
        before = last(ledger)
        body = assert_problem(la.post("RecordAction", case="c1", action="home_visit"), 401)
        assert "revoked" in body["detail"]
        assert last(ledger) == before

    def test_a_token_says_what_it_is_bound_to_and_never_its_secret(
        self, client: TestClient[Any], tokens: TokenStore, ledger: Ledger
    ) -> None:
        token, record = tokens.issue(Role.AGENCY, P, agency="la", actor="act_la-000001")
        answer = client.get("/token", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "id": record.id,
            "role": "agency",
            "partnership": P,
            "agency": "la",
            "actor": "act_la-000001",
            "subject_prefix": ledger.subject_prefix,
        }
        assert token not in answer.text
        assert record.sha256 not in answer.text
        assert_problem(client.get("/token"), 401)


class TestService:
    def test_health_ready_and_the_openapi_document(self, client: TestClient[Any]) -> None:
        assert client.get("/health").json() == {"status": "live"}
        assert client.get("/ready").json()["status"] == "ready"
        document = client.get("/schema/openapi.json").json()
        assert document["openapi"].startswith("3.1")
        body = document["paths"]["/commands/RecordAction"]["post"]["requestBody"]
        schema = body["content"]["application/json"]["schema"]
        assert schema["title"] == "RecordAction"
        assert schema["properties"]["source"]["properties"]["kind"]["enum"]  # $defs inlined

    def test_every_reference_in_the_openapi_document_resolves_within_it(
        self, client: TestClient[Any]
    ) -> None:
        # A command body's `#/$defs/...` resolved against the whole document named nothing,
        # so Schemathesis could generate no body for any command.
        document = client.get("/schema/openapi.json").json()
        refs = _references(document)
        assert refs
        for ref in refs:
            assert ref.startswith("#/"), ref
            node = document
            for part in ref.removeprefix("#/").split("/"):
                assert part in node, f"{ref} does not resolve"
                node = node[part]

    def test_every_command_route_documents_its_problems_and_its_token(
        self, client: TestClient[Any]
    ) -> None:
        document = client.get("/schema/openapi.json").json()
        assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        for tag in schemas.COMMAND_TYPES:
            post = document["paths"][f"/commands/{tag}"]["post"]
            assert set(post["responses"]) == {
                "201",
                "400",
                "401",
                "403",
                "404",
                "409",
                "413",
                "503",
            }
            for status, response in post["responses"].items():
                if status != "201":
                    assert set(response["content"]) == {"application/problem+json"}
            assert post["security"] == [{"bearer": []}]
        ready = document["paths"]["/ready"]["get"]["responses"]
        assert set(ready["503"]["content"]) == {"application/problem+json"}

    def test_an_unknown_route_is_a_problem_404(self, client: TestClient[Any]) -> None:
        assert_problem(client.post("/commands/Nope", json={}), 404)


class TestRefusalLog:
    def test_each_refusal_is_logged_with_role_partnership_agency_and_command_never_the_body(
        self, la: Caller, client: TestClient[Any], tokens: TokenStore
    ) -> None:
        inspector = caller(client, tokens, Role.INSPECTOR, None)
        police = caller(client, tokens, Role.AGENCY, "police")
        note = "Seen at grandmother's house"
        with capture_logs() as logs:
            inspector.post("RecordAction", case="c1", action="home_visit", note=note)
            police.post("RecordAction", case="c1", action="home_visit", note=note)
        refused = [e for e in logs if e["event"] in {"request_refused", "command_refused"}]
        assert [(e["status"], e["role"], e["agency"]) for e in refused] == [
            (403, "inspector", None),
            (409, "agency", "police"),
        ]
        assert all(e["partnership"] == P and e["command"] == "RecordAction" for e in refused)
        assert note not in repr(logs)


def _references(node: Any) -> list[str]:
    """Every ``$ref`` value in a JSON document."""
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return []
