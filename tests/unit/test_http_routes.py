"""Every command type has its POST route, and the role table covers every command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.testing import TestClient

import schemas
from interfaces.http import COMMAND_PATH, MAY_SEND, create_app
from ledger.application import Ledger
from runtime.tokens import Role, TokenStore


class TestRoutes:
    def test_every_command_type_has_a_post_route(self, tmp_path: Path) -> None:
        app = create_app(Ledger(), TokenStore(tmp_path))
        posts = {
            route.path
            for route in app.routes
            for handler in getattr(route, "route_handlers", [])
            if "POST" in handler.http_methods
        }
        assert posts == {COMMAND_PATH.format(tag=tag) for tag in schemas.COMMAND_TYPES}

    def test_the_openapi_document_has_each_commands_schema_as_its_body(
        self, tmp_path: Path
    ) -> None:
        document = create_app(Ledger(), TokenStore(tmp_path)).openapi_schema.to_schema()
        for tag in schemas.COMMAND_TYPES:
            post = document["paths"][COMMAND_PATH.format(tag=tag)]["post"]
            assert post["requestBody"]["content"]["application/json"]["schema"]["title"] == tag
            assert set(post["responses"]) >= {"201"}


class TestRoleTable:
    def test_every_role_is_in_the_table_and_names_only_commands(self) -> None:
        assert set(MAY_SEND) == set(Role)
        for tags in MAY_SEND.values():
            assert tags <= set(schemas.COMMAND_TYPES)

    def test_every_command_may_be_sent_by_some_role(self) -> None:
        assert set().union(*MAY_SEND.values()) == set(schemas.COMMAND_TYPES)

    def test_an_inspector_writes_nothing(self) -> None:
        assert MAY_SEND[Role.INSPECTOR] == frozenset()

    def test_only_the_admin_establishes_partnerships_and_registers_agencies(self) -> None:
        for role, tags in MAY_SEND.items():
            owns = {"EstablishPartnership", "RegisterAgency", "RegisterAgencyKey"} & tags
            assert bool(owns) == (role is Role.ADMIN)

    def test_an_agency_records_on_cases_and_a_board_runs_reviews(self) -> None:
        assert {
            "RecordAction",
            "RequestInformation",
            "ProvideInformation",
            "RaiseConcern",
            "RefuseCooperation",
            "ExplainLateRecording",
            "RespondToChallenge",
            "EscalateChallenge",
            "ReportRecommendationProgress",
        } <= MAY_SEND[Role.AGENCY]
        assert {
            "RaiseChallenge",
            "NotifySeriousIncident",
            "CommissionReview",
            "PublishReview",
            "IssueRecommendation",
        } <= MAY_SEND[Role.BOARD]
        assert "RecordAction" not in MAY_SEND[Role.BOARD]
        assert "PublishReview" not in MAY_SEND[Role.AGENCY]


class _Broken(Ledger):
    """A ledger that fails as nothing in the ledger should."""

    def execute(self, command: Any, *, recorded_by: Any) -> Any:
        raise RuntimeError("ch_0123456789abcdef")  # as if a bug quoted a child token


class TestUnforeseenErrors:
    def test_they_are_a_problem_500_that_names_nothing(self, tmp_path: Path) -> None:
        tokens = TokenStore(tmp_path)
        token, _ = tokens.issue(Role.AGENCY, "p", agency="la", actor="act_sw-000001")
        with TestClient(app=create_app(_Broken(), tokens)) as client:
            response = client.post(
                "/commands/RecordAction",
                json={"partnership": "p", "case": "c1", "action": "home_visit"},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "ch_" not in response.text
