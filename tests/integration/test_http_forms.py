"""The forms without a browser (Litestar's test client, a real nats-server and real
views): which role is offered which form and refused the others (403, nothing recorded),
the CSRF refusal, each form's field error shown beside its field with the values kept
and nothing recorded, a domain refusal said at the top, and a recorded form's redirect
to the page that shows it with the stream sequence."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from pages_support import P, World, csrf, sign_in, world

from interfaces.http._form_pages import FORMS
from interfaces.http._forms import fields_of
from interfaces.http._permissions import MAY_SEND
from projections.calendar import LONDON
from runtime.tokens import Role
from schemas import COMMAND_TYPES

__all__ = ["world"]  # the module's fixture

#: A role's token in the world: la's agency, the board, the inspector.
WHO = {Role.AGENCY: "la", Role.BOARD: "board", Role.INSPECTOR: "inspector"}
#: A valid form per tag for the world (police answers la's challenge ch1 ...).
VALID: dict[str, tuple[str, dict[str, str]]] = {
    "RecordAction": ("la", {"case": "c1", "action": "home_visit", "seen": "yes"}),
    "ProvideInformation": ("police", {"case": "c1", "request": "rq1"}),
    "RefuseCooperation": (
        "la",
        {"case": "c1", "agency": "police", "kind": "information_withheld", "basis": "other"},
    ),
    "RaiseChallenge": (
        "la",
        {"challenge": "ch9", "against_agency": "police", "matter": "other", "summary": "s"},
    ),
    "RespondToChallenge": ("police", {"challenge": "ch1", "stage": "1", "response": "r"}),
    "EscalateChallenge": ("la", {"challenge": "ch1", "to_stage": "2"}),
    "ResolveChallenge": ("board", {"challenge": "ch1", "outcome": "upheld"}),
    "ReportRecommendationProgress": (
        "police",
        {"review": "r1", "recommendation": "rec1", "status": "amber"},
    ),
    "IssueRecommendation": (
        "board",
        {
            "review": "r1",
            "recommendation": "rec9",
            "owner": "la",
            "due": str(datetime.now(UTC).date() + timedelta(days=365)),
            "theme": "other",
            "text": "t",
        },
    ),
}


def _signed_in(client: TestClient[Any], world: World, who: str) -> None:
    assert sign_in(client, world.issued[who]).status_code == 200


def _post(client: TestClient[Any], tag: str, values: dict[str, str]) -> Any:
    form = client.get(f"/pages/{P}/forms/{tag}")
    assert form.status_code == 200, form.text
    return client.post(
        f"/pages/{P}/forms/{tag}",
        data={**values, "actor": "act_tester01", "_csrf_token": csrf(form.text)},
        follow_redirects=False,
    )


def _error_beside(page: str, name: str) -> str:
    """The rule said beside field ``name``, checking the field points at it."""
    field = re.search(rf'<(?:input|select|textarea) id="{name}"[^>]*>', page)
    assert field, f"no field {name}"
    assert 'aria-invalid="true"' in field[0]
    assert f"{name}-error" in field[0]  # aria-describedby names the error
    said = re.search(rf'<span class="error" id="{name}-error">(.*?)</span>', page, re.S)
    assert said, f"no error beside {name}"
    return said[1]


class TestOffered:
    def test_each_role_is_offered_exactly_the_forms_it_may_send(self, world: World) -> None:
        for role in (Role.AGENCY, Role.BOARD):
            with world.client() as client:
                _signed_in(client, world, WHO[role])
                index = client.get(f"/pages/{P}/forms")
                offered = set(re.findall(r'data-form="(\w+)"', index.text))
                assert offered == {t for t in FORMS if t in MAY_SEND[role]}
                assert offered  # an agency and the board both have forms
                assert re.search(rf'href="/pages/{P}/forms"[^>]*>Record</a>', index.text)

    def test_an_inspector_is_offered_no_form_and_refused_every_one(self, world: World) -> None:
        with world.client() as client:
            _signed_in(client, world, "inspector")
            assert "Record</a>" not in client.get(f"/pages/{P}/cases").text
            index = client.get(f"/pages/{P}/forms")
            assert index.status_code == 403
            assert "an inspector token records nothing" in index.text
            for tag in FORMS:
                assert client.get(f"/pages/{P}/forms/{tag}").status_code == 403

    def test_the_case_page_offers_an_agency_its_case_forms_prefilled(self, world: World) -> None:
        with world.client() as client:
            _signed_in(client, world, "la")
            case = client.get(f"/pages/{P}/cases/c1")
            assert f'href="/pages/{P}/forms/RecordAction?case=c1"' in case.text
            form = client.get(f"/pages/{P}/forms/RecordAction?case=c1")
            assert re.search(r'<input id="case"[^>]*value="c1"', form.text)
            assert re.search(r'<input id="actor"[^>]*value="act_la-000001"', form.text)
            assert '<select id="action"' in form.text  # an enum is a select
            assert 'type="datetime-local"' in form.text  # occurred_at

    def test_an_agency_field_offers_the_partnerships_agencies(self, world: World) -> None:
        with world.client() as client:
            _signed_in(client, world, "la")
            form = client.get(f"/pages/{P}/forms/RaiseChallenge")
            chosen = re.search(r'<select id="against_agency".*?</select>', form.text, re.S)
            assert chosen, "against_agency is not a select"
            offered = re.findall(r'<option value="([^"]*)"', chosen[0])
            assert offered == ["", "health", "la", "police"]

    def test_a_form_that_is_no_form_is_404(self, world: World) -> None:
        with world.client() as client:
            _signed_in(client, world, "la")
            assert client.get(f"/pages/{P}/forms/OpenCase").status_code == 404


class TestRefusedRoles:
    @pytest.mark.parametrize("tag", FORMS)
    def test_a_role_that_may_not_send_the_form_gets_403_and_nothing_is_recorded(
        self, world: World, tag: str
    ) -> None:
        refused = [r for r in WHO if tag not in MAY_SEND[r]]
        assert refused, f"every role may send {tag}"
        _, values = VALID[tag]
        for role in refused:
            with world.client() as client:
                _signed_in(client, world, WHO[role])
                token = csrf(client.get(f"/pages/{P}/cases").text)
                before = world.last_sequence()
                response = client.post(
                    f"/pages/{P}/forms/{tag}", data={**values, "_csrf_token": token}
                )
                assert response.status_code == 403, (role, response.text)
                assert "Not allowed" in response.text
                assert world.last_sequence() == before


class TestCsrf:
    def test_a_form_posted_without_the_csrf_token_is_refused_and_records_nothing(
        self, world: World
    ) -> None:
        with world.client() as client:
            _signed_in(client, world, "la")
            before = world.last_sequence()
            _, values = VALID["RecordAction"]
            response = client.post(f"/pages/{P}/forms/RecordAction", data=values)
            assert response.status_code == 403
            assert "CSRF token" in response.text
            assert world.last_sequence() == before


class TestFieldErrors:
    @pytest.mark.parametrize("tag", FORMS)
    def test_an_empty_required_field_is_refused_beside_it_keeping_the_values(
        self, world: World, tag: str
    ) -> None:
        who, values = VALID[tag]
        missing = next(f.name for f in fields_of(COMMAND_TYPES[tag]) if f.required)
        sent = {k: v for k, v in values.items() if k != missing}
        with world.client() as client:
            _signed_in(client, world, who)
            before = world.last_sequence()
            response = _post(client, tag, sent)
            assert response.status_code == 400, response.text
            assert "required field is missing" in _error_beside(response.text, missing)
            assert "Nothing was recorded" in response.text
            kept = next(k for k in sent if k != "actor")
            assert f'value="{sent[kept]}"' in response.text or f">{sent[kept]}<" in (response.text)
            assert world.last_sequence() == before

    def test_a_bad_identifier_is_refused_beside_it_naming_the_rule(self, world: World) -> None:
        with world.client() as client:
            _signed_in(client, world, "la")
            before = world.last_sequence()
            response = _post(client, "RecordAction", {"case": "C 1", "action": "home_visit"})
            assert response.status_code == 400
            said = _error_beside(response.text, "case")
            assert "Rule: identifier: 1-64 characters" in said
            assert world.last_sequence() == before

    def test_a_time_in_the_future_is_refused_beside_it_naming_the_rule(self, world: World) -> None:
        ahead = (datetime.now(UTC) + timedelta(days=2)).astimezone(LONDON)
        with world.client() as client:
            _signed_in(client, world, "la")
            before = world.last_sequence()
            response = _post(
                client,
                "RecordAction",
                {
                    "case": "c1",
                    "action": "home_visit",
                    "occurred_at": ahead.strftime("%Y-%m-%dT%H:%M"),
                },
            )
            assert response.status_code == 409
            said = _error_beside(response.text, "occurred_at")
            assert "cannot have happened more than 5 minutes after" in said
            assert world.last_sequence() == before

    def test_a_bad_practitioner_reference_is_refused_beside_it(self, world: World) -> None:
        with world.client() as client:
            _signed_in(client, world, "la")
            form = client.get(f"/pages/{P}/forms/RecordAction")
            before = world.last_sequence()
            response = client.post(
                f"/pages/{P}/forms/RecordAction",
                data={
                    "case": "c1",
                    "action": "home_visit",
                    "actor": "Jane Smith",
                    "_csrf_token": csrf(form.text),
                },
            )
            assert response.status_code == 400
            assert "never a name" in _error_beside(response.text, "actor")
            assert world.last_sequence() == before

    def test_a_refusal_naming_no_field_of_the_form_is_said_at_the_top(self, world: World) -> None:
        with world.client() as client:
            _signed_in(client, world, "la")
            before = world.last_sequence()
            response = _post(client, "RecordAction", {"case": "nosuch", "action": "home_visit"})
            assert response.status_code == 404
            top = re.search(r'id="form-refusal"><p>(.*?)</p>', response.text, re.S)
            assert top, "no refusal at the top"
            assert top[1].startswith("Nothing was recorded: ")
            assert 'aria-invalid="true"' not in response.text
            assert world.last_sequence() == before


#: What the API records first for a form to be accepted.
_FIRST = {
    "ProvideInformation": (
        "la",
        "RequestInformation",
        {"case": "c1", "request": "rq1", "to_agency": "police"},
    ),
}
#: Where each recorded form sends the browser.
_SHOWN_AT = {"challenge": "/challenges", "review": "/recommendations"}


class TestRecorded:
    @pytest.mark.parametrize("tag", [t for t in FORMS if t != "EscalateChallenge"])
    def test_each_form_records_one_event_and_shows_where_it_is_listed(
        self, world: World, tag: str
    ) -> None:
        who, values = VALID[tag]
        if tag in _FIRST:
            by, first, body = _FIRST[tag]
            done = world.app.post(
                f"/commands/{first}",
                json={"partnership": P, **body},
                headers={"Authorization": f"Bearer {world.issued[by]}"},
            )
            assert done.status_code == 201, done.text
        with world.client() as client:
            _signed_in(client, world, who)
            before = world.last_sequence()
            response = _post(client, tag, values)
            assert response.status_code == 303, response.text
            assert world.last_sequence() == before + 1
            where = response.headers["location"]
            kind = next((k for k in _SHOWN_AT if k in values), "case")
            assert where.startswith(f"/pages/{P}" + _SHOWN_AT.get(kind, "/cases/c1"))
            shown = client.get(where)
            assert f"stream sequence {before + 1}." in shown.text

    def test_a_domain_refusal_is_said_at_the_top_naming_the_rule(self, world: World) -> None:
        with world.client() as client:
            _signed_in(client, world, "la")
            before = world.last_sequence()
            response = _post(client, "EscalateChallenge", {"challenge": "ch9", "to_stage": "2"})
            assert response.status_code == 409, response.text
            top = re.search(r'id="form-refusal"><p>(.*?)</p>', response.text, re.S)
            assert top, "no refusal at the top"
            assert "Nothing was recorded" in top[1]
            assert world.last_sequence() == before

    def test_a_recorded_action_shows_on_its_case_page_with_its_sequence(self, world: World) -> None:
        who, values = VALID["RecordAction"]
        with world.client() as client:
            _signed_in(client, world, who)
            before = world.last_sequence()
            response = _post(client, "RecordAction", values)
            assert response.status_code == 303, response.text
            sequence = world.last_sequence()
            assert sequence == before + 1
            assert response.headers["location"] == f"/pages/{P}/cases/c1#entry-{sequence}"
            case = client.get(f"/pages/{P}/cases/c1")
            assert f'id="entry-{sequence}"' in case.text
            assert f"stream sequence {sequence}." in case.text
            assert f"stream sequence {sequence}." not in client.get(f"/pages/{P}/cases/c1").text
            again = client.get(f"/pages/{P}/forms/RecordAction")  # the reference is kept
            assert re.search(r'<input id="actor"[^>]*value="act_tester01"', again.text)
