"""The HTTP API's GET routes against a real nats-server and real views: every role's
allowed and refused reads, pages, CSV, ``after`` (read your own writes) and the access log.

One partnership is set up once for the module, through the POST routes, and a
:class:`ViewRunner` follows the stream in a thread, as ``ledger serve`` does. Every read
of what a test has just written passes ``after=<its sequence>``, so no test waits on a
clock: the route does.
"""

from __future__ import annotations

import csv
import io
import itertools
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from structlog.testing import capture_logs

from interfaces import exports
from interfaces.http import create_app
from interfaces.http._read_params import parameters_of
from interfaces.queries import QUERIES
from ledger.application import Ledger
from projections import Views
from projections.challenges import ChallengeSummary
from projections.chronology import Chronology
from projections.directory import AgencySummary, CaseSummary
from projections.sqlite import SQLiteViewStore
from runtime.settings import Settings
from runtime.tokens import Role, TokenStore

P = "northshire"
CHILD = "ch_0123456789abcdef"
PROBLEM = "application/problem+json"
STAGES = [
    {"stage": 1, "title": "Practitioners", "response_working_days": 5},
    {"stage": 2, "title": "Managers", "response_working_days": 5},
]


@dataclass
class MemoryAccessLog:
    """Records reads in a list; ``failing`` makes it refuse, as a stream that is down would."""

    reads: list[dict[str, Any]] = field(default_factory=list)
    failing: bool = False

    def record(
        self,
        *,
        partnership: str,
        case: str,
        query: str,
        role: str,
        agency: str | None,
        token: str,
        as_of: datetime | None,
    ) -> None:
        if self.failing:
            raise OSError("the access log cannot be written")
        self.reads.append(
            {
                "partnership": partnership,
                "case": case,
                "query": query,
                "role": role,
                "agency": agency,
                "token": token,
                "as_of": as_of,
            }
        )


class Caller:
    """A token's holder: gets and posts with its token."""

    def __init__(self, world: World, token: str | None, ident: str = "") -> None:
        self.world = world
        self.token = token
        self.id = ident

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.token is None else {"Authorization": f"Bearer {self.token}"}

    def post(self, tag: str, **body: Any) -> int:
        """Post a command that must be recorded; its stream sequence."""
        response = self.world.client.post(
            f"/commands/{tag}", json={"partnership": P, **body}, headers=self.headers
        )
        assert response.status_code == 201, response.text
        sequence: int = response.json()["sequence"]
        self.world.last = max(self.world.last, sequence)
        return sequence

    def get(self, path: str, after: int | None = None, **params: Any) -> Any:
        """GET ``path`` (under the partnership unless absolute), after the world's last write."""
        url = path if path.startswith("/") else f"/partnerships/{P}/{path}".rstrip("/")
        params = {"after": self.world.last if after is None else after, **params}
        return self.world.client.get(url, params=params, headers=self.headers)


@dataclass
class World:
    client: TestClient[Any]
    tokens: TokenStore
    ledger: Ledger
    views: Views
    access_log: MemoryAccessLog
    last: int = 0
    callers: dict[str, Caller] = field(default_factory=dict)
    counter: Iterator[int] = field(default_factory=itertools.count)

    def caller(self, role: Role, agency: str | None, partnership: str = P) -> Caller:
        actor = None if agency is None or role is Role.INSPECTOR else f"act_{agency}-000001"
        if role is Role.INSPECTOR:
            agency = None
        token, record = self.tokens.issue(role, partnership, agency=agency, actor=actor)
        return Caller(self, token, record.id)

    def __getitem__(self, name: str) -> Caller:
        return self.callers[name]

    def fresh(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"


@pytest.fixture(scope="module")
def world(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The partnership: la, police and health; c1 (la, police), c2 (la), c3 (la, health);
    la challenges police about c1 (ch1), health challenges la (ch2)."""
    unique = secrets.token_hex(6)
    env = Settings(stream=f"LEDGER_R{unique}", subject_prefix=f"ldr{unique}").persistence_env(
        nats_url
    )
    data = tmp_path_factory.mktemp("reads")
    ledger = Ledger(env=env)
    views = Views(SQLiteViewStore(data / "views.sqlite"))
    tokens = TokenStore(data)
    access_log = MemoryAccessLog()
    runner = views.runner(ledger)
    follower = threading.Thread(target=runner.follow, daemon=True)
    follower.start()
    app = create_app(ledger, tokens, views=views, access_log=access_log, read_wait_s=20)
    try:
        with TestClient(app=app) as client:
            w = World(client, tokens, ledger, views, access_log)
            _establish(w)
            yield w
    finally:
        runner.stop()
        follower.join(timeout=30)
        ledger.close()
        views.close()


def _establish(w: World) -> None:
    admin = w.callers["admin"] = w.caller(Role.ADMIN, "la")
    admin.post(
        "EstablishPartnership", name="Northshire", nation="england", escalation_stages=STAGES
    )
    for agency, kind in (("la", "local_authority"), ("police", "police"), ("health", "health")):
        admin.post("RegisterAgency", agency=agency, name=kind, kind=kind, role="statutory_partner")
    for name in ("la", "police", "health"):
        w.callers[name] = w.caller(Role.AGENCY, name)
    w.callers["board"] = w.caller(Role.BOARD, "la")
    w.callers["inspector"] = w.caller(Role.INSPECTOR, None)
    la, health = w["la"], w["health"]
    for case in ("c1", "c2", "c3"):
        la.post("OpenCase", case=case, children=[{"child": CHILD, "age_band": "5_9"}])
    la.post("JoinCase", case="c1", agency="police")
    la.post("JoinCase", case="c3", agency="health")
    la.post("RecordAction", case="c1", action="home_visit", seen=True)
    la.post(
        "RaiseChallenge",
        challenge="ch1",
        case="c1",
        against_agency="police",
        matter="information_sharing",
        summary="why",
    )
    health.post(
        "RaiseChallenge",
        challenge="ch2",
        against_agency="la",
        matter="threshold_decision",
        summary="why",
    )


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:accountability-ledger:problem:")
    return body


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def path_of(name: str, case: str = "c1") -> str:
    return QUERIES[name].path.format(partnership=P, case=case)


def ids(body: dict[str, Any], key: str) -> list[str]:
    return [item[key] for item in body["items"]]


class TestBoardAndInspector:
    @pytest.mark.parametrize("role", ["board", "inspector"])
    @pytest.mark.parametrize("name", sorted(QUERIES))
    def test_reads_every_question_of_its_partnership(
        self, world: World, role: str, name: str
    ) -> None:
        body = ok(world[role].get(path_of(name)))
        if QUERIES[name].is_list:
            assert set(body) == {"items", "next"}

    def test_sees_every_case_and_every_challenge(self, world: World) -> None:
        assert ids(ok(world["board"].get("cases")), "case")[:3] == ["c1", "c2", "c3"]
        assert {"ch1", "ch2"} <= set(ids(ok(world["inspector"].get("challenges")), "challenge"))

    def test_a_token_of_another_partnership_is_403(self, world: World) -> None:
        other = world.caller(Role.BOARD, "la", partnership="southshire")
        body = problem(other.get("cases"), 403)
        assert "the token is for partnership 'southshire', not 'northshire'" in body["detail"]
        problem(other.get(path_of("chronology")), 403)


class TestAgency:
    def test_reads_its_own_case_and_not_another_agencys(self, world: World) -> None:
        police = world["police"]
        chronology = ok(police.get(path_of("chronology", "c1")))
        assert chronology["case"] == "c1"
        assert ok(police.get(path_of("case", "c1")))["parties"] == ["la", "police"]
        body = problem(police.get(path_of("chronology", "c2")), 403)
        assert "agency 'police' is not a party to case 'c2'" in body["detail"]
        problem(police.get(path_of("key-moments", "c2")), 403)

    def test_lists_only_its_own_cases_and_challenges(self, world: World) -> None:
        police = world["police"]
        assert ids(ok(police.get("cases")), "case") == ["c1"]
        challenges = ok(police.get("challenges"))["items"]
        assert [c["challenge"] for c in challenges] == ["ch1"]
        assert ids(ok(world["health"].get("challenges")), "challenge") == ["ch2"]

    def test_asking_for_another_agencys_list_is_403(self, world: World) -> None:
        body = problem(world["police"].get("challenges", agency="la"), 403)
        assert "agency 'la' is not the token's agency 'police'" in body["detail"]
        problem(world["police"].get("cases", agency="la"), 403)

    def test_partnership_wide_figures_are_403(self, world: World) -> None:
        body = problem(world["police"].get("opt-outs"), 403)
        assert body["detail"] == "an agency token may not read opt-outs"
        problem(world["police"].get("timeliness"), 403)

    def test_an_agency_that_left_a_case_can_no_longer_read_it(self, world: World) -> None:
        la, health = world["la"], world["health"]
        case = world.fresh("left")
        la.post("OpenCase", case=case, children=[{"child": CHILD, "age_band": "5_9"}])
        joined = la.post("JoinCase", case=case, agency="health")
        ok(health.get(path_of("chronology", case), after=joined))
        left = la.post("LeaveCase", case=case, agency="health")
        body = problem(health.get(path_of("chronology", case), after=left), 403)
        assert f"agency 'health' is not a party to case '{case}'" in body["detail"]
        assert case not in ids(ok(health.get("cases", after=left)), "case")


class TestAdmin:
    def test_reads_the_directory_but_not_a_chronology(self, world: World) -> None:
        admin = world["admin"]
        assert ok(admin.get(""))["partnership"] == P
        assert ids(ok(admin.get("agencies")), "agency") == ["health", "la", "police"]
        body = problem(admin.get(path_of("chronology")), 403)
        assert body["detail"] == "an admin token may not read chronology"
        problem(admin.get("cases"), 403)


class TestRefusals:
    def test_no_token_and_a_revoked_token_are_401(self, world: World) -> None:
        problem(Caller(world, None).get("cases"), 401)
        gone = world.caller(Role.BOARD, "la")
        ok(gone.get("cases"))
        world.tokens.revoke(gone.id)
        assert "revoked" in problem(gone.get("cases"), 401)["detail"]

    def test_an_unknown_partnership_is_404_naming_it(self, world: World) -> None:
        nowhere = world.caller(Role.BOARD, "la", partnership="nowhere")
        response = world.client.get("/partnerships/nowhere/cases", headers=nowhere.headers)
        body = problem(response, 404)
        assert (body["field"], body["id"]) == ("partnership", "nowhere")
        assert "partnership 'nowhere'" in body["detail"]

    @pytest.mark.parametrize("name", ["case", "chronology", "key-moments"])
    def test_an_unknown_case_is_404_naming_it(self, world: World, name: str) -> None:
        body = problem(world["board"].get(path_of(name, "zz9")), 404)
        assert (body["field"], body["id"]) == ("case", "zz9")
        assert "case 'zz9'" in body["detail"]

    @pytest.mark.parametrize(
        ("params", "field", "rule"),
        [
            ({"state": "maybe"}, "state", "one of closed, open"),
            ({"limit": "0"}, "limit", "a whole number from 1 to 1000"),
            ({"limit": "1_000"}, "limit", "a whole number from 1 to 1000"),
            ({"colour": "red"}, "colour", "one of as_of, after, format, cursor, limit"),
            ({"as_of": "2026-03-02T09:00:00"}, "as_of", "an aware ISO 8601 instant"),
            ({"as_of": "2999-01-01"}, "as_of", "not in the future"),
            ({"format": "review"}, "format", "one of json, csv"),
            ({"cursor": "not-a-cursor"}, "cursor", "pass the next cursor"),
            ({"after": "-1"}, "after", "a whole number of at least 1"),
            ({"after": "999999999"}, "after", "an event the ledger has recorded"),
        ],
    )
    def test_a_bad_parameter_is_400_naming_it_and_its_rule(
        self, world: World, params: dict[str, str], field: str, rule: str
    ) -> None:
        body = problem(world["board"].get("cases", **params), 400)
        assert body["field"] == field
        assert rule in body["rule"]

    @settings(
        max_examples=80,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(data=st.data())
    def test_any_query_string_is_answered_or_refused_naming_a_parameter(
        self, world: World, data: st.DataObject
    ) -> None:
        name = data.draw(st.sampled_from(sorted(QUERIES)))
        names = [*parameters_of(QUERIES[name]), "junk"]
        values = st.one_of(
            st.text(max_size=12),
            st.integers(-5, 3000).map(str),
            st.sampled_from(["true", "open", "la", "2026-03-02", "json", "csv", "year"]),
        )
        params = data.draw(st.dictionaries(st.sampled_from(names), values, max_size=4))
        response = world["board"].get(path_of(name), **({"after": "1"} | params))
        assert response.status_code in {200, 400, 404}, response.text
        if response.status_code == 400:
            assert problem(response, 400)["field"] in names
        if response.status_code == 404:
            body = problem(response, 404)
            if body["field"] == "partnership":  # as of a time before it was established
                assert "as_of" in params
            else:  # a filter naming an agency or case that does not exist: 404 naming it
                assert body["field"] in {"agency", "case"}
                assert body["id"] in params.values()

    def test_a_repeated_parameter_is_400(self, world: World) -> None:
        response = world.client.get(
            f"/partnerships/{P}/cases?limit=1&limit=2", headers=world["board"].headers
        )
        body = problem(response, 400)
        assert body["field"] == "limit"
        assert "more than once" in body["detail"]

    def test_a_refusal_is_logged_with_who_asked_what_and_no_case(self, world: World) -> None:
        with capture_logs() as logs:
            problem(world["police"].get(path_of("chronology", "c2")), 403)
        (line,) = [entry for entry in logs if entry["event"] == "read_refused"]
        assert line["status"] == 403
        assert (line["role"], line["partnership"], line["agency"]) == ("agency", P, "police")
        assert line["query"] == "chronology"
        assert "c2" not in {v for k, v in line.items() if k != "reason"}

    def test_an_unreadable_view_store_is_503(self, world: World, tmp_path: Path) -> None:
        closed = Views(SQLiteViewStore(tmp_path / "closed.sqlite"))
        closed.close()
        app = create_app(world.ledger, world.tokens, views=closed)
        with TestClient(app=app) as client:
            response = client.get(f"/partnerships/{P}/cases", headers=world["board"].headers)
        assert "view store is closed" in problem(response, 503)["detail"]

    def test_a_bad_view_argument_is_400_with_its_field(self, world: World) -> None:
        body = problem(
            world["board"].get("challenges", date_from="2026-03-05", date_to="2026-03-01"), 400
        )
        assert body["field"] == "date_from"


class TestFormats:
    @staticmethod
    def parsed(response: Any) -> list[dict[str, str]]:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"].startswith("attachment; filename=")
        text = response.content.decode("utf-8")
        assert text.startswith("\ufeff")
        return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))

    @staticmethod
    def as_text(table: list[exports.Row]) -> list[dict[str, str]]:
        names = exports.columns(table)
        return [{name: exports.cell(row.get(name)) for name in names} for row in table]

    @pytest.mark.parametrize(
        ("name", "item"),
        [("cases", CaseSummary), ("agencies", AgencySummary), ("challenges", ChallengeSummary)],
    )
    def test_a_list_as_csv_parses_back_into_the_rows_of_its_json(
        self, world: World, name: str, item: type[msgspec.Struct]
    ) -> None:
        board = world["board"]
        items = msgspec.convert(ok(board.get(name))["items"], list[item])  # type: ignore[valid-type]
        assert items
        expected = self.as_text(exports.rows(items))
        assert self.parsed(board.get(name, format="csv", after=world.last)) == expected

    @pytest.mark.parametrize("name", sorted(QUERIES))
    def test_every_question_answers_csv_with_a_row_per_record(
        self, world: World, name: str
    ) -> None:
        board = world["board"]
        body = ok(board.get(path_of(name)))
        if QUERIES[name].is_list:
            records = body["items"]
        elif name == "chronology":
            records = body["entries"]
        else:
            records = [body]
        assert len(self.parsed(board.get(path_of(name), format="csv"))) == len(records)

    def test_the_chronology_as_csv_and_in_the_review_layout(self, world: World) -> None:
        board = world["board"]
        chronology = msgspec.convert(ok(board.get(path_of("chronology"))), Chronology)
        assert chronology.entries
        rows = self.parsed(board.get(path_of("chronology"), format="csv"))
        assert rows == self.as_text(exports.rows(chronology))
        review = self.parsed(board.get(path_of("chronology"), format="review"))
        assert review == self.as_text(exports.review_rows(chronology))
        assert list(review[0]) == list(exports.REVIEW_COLUMNS)


class TestPages:
    def walk(self, world: World, name: str, limit: int) -> list[dict[str, Any]]:
        board, seen, cursor = world["board"], [], None
        while True:
            params = {"limit": limit} | ({} if cursor is None else {"cursor": cursor})
            body = ok(board.get(name, **params))
            assert len(body["items"]) <= limit
            seen += body["items"]
            cursor = body["next"]
            if cursor is None:
                return seen
            assert body["items"], "a page before the last is never empty"

    @pytest.mark.parametrize(("name", "key"), [("cases", "case"), ("agencies", "agency")])
    @pytest.mark.parametrize("limit", [1, 2])
    def test_walking_the_pages_sees_every_item_once(
        self, world: World, name: str, key: str, limit: int
    ) -> None:
        whole = ok(world["board"].get(name, limit=1000))
        assert whole["next"] is None
        walked = self.walk(world, name, limit)
        assert [i[key] for i in walked] == [i[key] for i in whole["items"]]

    def test_the_next_page_is_linked_and_a_cursor_is_bound_to_its_filters(
        self, world: World
    ) -> None:
        board = world["board"]
        first = board.get("cases", limit=1)
        cursor = ok(first)["next"]
        assert f"cursor={cursor}" in first.headers["link"]
        body = problem(board.get("cases", limit=1, cursor=cursor, state="open"), 400)
        assert body["field"] == "cursor"

    def test_a_cursor_carries_the_as_of_of_the_first_page(self, world: World) -> None:
        board = world["board"]
        at = datetime.now().astimezone()
        first = ok(board.get("agencies", limit=1, as_of=at.isoformat()))
        later = at + timedelta(microseconds=1)
        body = problem(
            board.get("agencies", limit=1, cursor=first["next"], as_of=later.isoformat()), 400
        )
        assert body["field"] == "as_of"
        ok(board.get("agencies", limit=1, cursor=first["next"], as_of=at.isoformat()))


@pytest.fixture(scope="module")
def document(world: World) -> dict[str, Any]:
    """The service's OpenAPI document."""
    response = world.client.get("/schema/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


class TestOpenAPI:
    @pytest.mark.parametrize("name", sorted(QUERIES))
    def test_each_question_is_an_operation_whose_answer_matches_its_schema(
        self, world: World, document: dict[str, Any], name: str
    ) -> None:
        query = QUERIES[name]
        operation = document["paths"][query.path]["get"]
        assert (operation["operationId"], operation["tags"]) == (name, ["views"])
        assert operation["summary"] == query.summary
        parameters = {p["name"]: p["in"] for p in operation["parameters"]}
        for filter_name in query.filters.__struct_fields__:
            if query.keyset is None:
                assert parameters[filter_name] == "query"
        assert parameters["partnership"] == "path"
        assert {"as_of", "after", "format"} <= set(parameters)
        assert ("cursor" in parameters) == query.is_list
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        jsonschema.Draft202012Validator(schema).validate(ok(world["board"].get(path_of(name))))

    @pytest.mark.parametrize("name", sorted(QUERIES))
    def test_no_filter_is_shadowed_by_a_common_parameter(self, name: str) -> None:
        names = parameters_of(QUERIES[name])
        assert len(names) == len(set(names))

    def test_the_http_docs_list_every_question(self) -> None:
        text = (Path(__file__).parents[2] / "docs" / "http.md").read_text()
        for query in QUERIES.values():
            assert f"| `{query.path}` | `{query.name}` |" in text

    def test_a_filters_type_is_its_parameters_schema(self, document: dict[str, Any]) -> None:
        operation = document["paths"][QUERIES["repeat-refusers"].path]["get"]
        schemas = {p["name"]: p["schema"] for p in operation["parameters"]}
        assert schemas["threshold"]["type"] == "integer"
        assert schemas["threshold"]["minimum"] == 2
        assert schemas["include_decisions_not_to_share"]["type"] == "boolean"
        assert schemas["limit"]["maximum"] == 1000


class TestAsOf:
    def test_the_chronology_as_of_an_instant_holds_only_what_was_recorded_by_then(
        self, world: World
    ) -> None:
        la, board = world["la"], world["board"]
        before = ok(board.get(path_of("chronology")))
        instant = max(e["recorded_at"] for e in before["entries"])
        sequence = la.post("RecordAction", case="c1", action="child_seen", seen=True)
        now = ok(board.get(path_of("chronology"), after=sequence))
        assert sequence in [e["sequence"] for e in now["entries"]]
        then = ok(board.get(path_of("chronology"), as_of=instant))
        assert [e["sequence"] for e in then["entries"]] == [
            e["sequence"] for e in before["entries"]
        ]
        assert then["as_of"] is not None

    @pytest.mark.parametrize("name", sorted(QUERIES))
    def test_an_event_recorded_after_an_instant_changes_no_answer_as_of_it(
        self, world: World, name: str
    ) -> None:
        board, police = world["board"], world["police"]
        case = world.fresh("asof")
        world["la"].post("OpenCase", case=case, children=[{"child": CHILD, "age_band": "5_9"}])
        world["la"].post("JoinCase", case=case, agency="police")
        instant = datetime.now().astimezone().isoformat()
        path = path_of(name, case)
        before = ok(board.get(path, as_of=instant))
        police.post("RaiseConcern", case=case, concern=world.fresh("cn"), kind="neglect")
        police.post("RecordAction", case=case, action="strategy_discussion")
        sequence = police.post(
            "RefuseCooperation",
            case=case,
            agency="police",
            kind="report_not_provided",
            basis="no_stated_basis",
        )
        assert ok(board.get(path, as_of=instant, after=sequence)) == before
        if name in {"chronology", "opt-outs", "key-moments"}:
            assert ok(board.get(path, after=sequence)) != before

    def test_a_date_means_the_end_of_that_day_in_london(self, world: World) -> None:
        body = ok(world["board"].get(path_of("chronology"), as_of="2026-07-01"))
        assert body["as_of"] == "2026-07-01T22:59:59.999999Z"  # BST: 23:59:59.999999+01:00
        assert body["entries"] == []


class TestAccessLog:
    def test_a_chronology_read_is_recorded_before_it_is_answered(self, world: World) -> None:
        police = world["police"]
        before = len(world.access_log.reads)
        ok(police.get(path_of("chronology", "c1")))
        assert world.access_log.reads[before:] == [
            {
                "partnership": P,
                "case": "c1",
                "query": "chronology",
                "role": "agency",
                "agency": "police",
                "token": police.id,
                "as_of": None,
            }
        ]

    def test_a_read_that_cannot_be_recorded_is_not_answered(self, world: World) -> None:
        world.access_log.failing = True
        try:
            body = problem(world["board"].get(path_of("chronology")), 503)
        finally:
            world.access_log.failing = False
        assert "could not be recorded" in body["detail"]
        assert "entries" not in body

    def test_a_refused_read_is_not_recorded(self, world: World) -> None:
        before = len(world.access_log.reads)
        problem(world["police"].get(path_of("chronology", "c2")), 403)
        assert len(world.access_log.reads) == before


# -- read your own writes --------------------------------------------------------------


def _record_action(w: World) -> tuple[int, str, str]:
    return w["la"].post("RecordAction", case="c1", action="home_visit"), "chronology", "c1"


def _raise_concern(w: World) -> tuple[int, str, str]:
    concern = w.fresh("cn")
    seq = w["police"].post("RaiseConcern", case="c1", concern=concern, kind="neglect")
    return seq, "chronology", "c1"


def _refuse(w: World) -> tuple[int, str, str]:
    seq = w["police"].post(
        "RefuseCooperation",
        case="c1",
        agency="police",
        kind="meeting_not_attended",
        basis="no_stated_basis",
    )
    return seq, "chronology", "c1"


def _raise_challenge(w: World) -> tuple[int, str, str]:
    challenge = w.fresh("chp")
    seq = w["la"].post(
        "RaiseChallenge",
        challenge=challenge,
        against_agency="health",
        matter="information_sharing",
        summary="why",
    )
    return seq, "challenges", challenge


def _open_case(w: World) -> tuple[int, str, str]:
    case = w.fresh("cp")
    seq = w["la"].post("OpenCase", case=case, children=[{"child": CHILD, "age_band": "1_4"}])
    return seq, "cases", case


def _join_case(w: World) -> tuple[int, str, str]:
    case = w.fresh("cj")
    w["la"].post("OpenCase", case=case, children=[{"child": CHILD, "age_band": "1_4"}])
    seq = w["la"].post("JoinCase", case=case, agency="police")
    return seq, "police-cases", case


_COMMANDS = [_record_action, _raise_concern, _refuse, _raise_challenge, _open_case, _join_case]


class TestReadYourWrites:
    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(command=st.sampled_from(_COMMANDS))
    def test_a_get_after_a_commands_sequence_holds_its_effect(
        self, world: World, command: Any
    ) -> None:
        sequence, read, key = command(world)
        if read == "chronology":
            body = ok(world["board"].get(path_of("chronology", key), after=sequence))
            assert sequence in [e["sequence"] for e in body["entries"]]
        elif read == "challenges":
            body = ok(world["board"].get("challenges", after=sequence, limit=1000))
            assert key in ids(body, "challenge")
        elif read == "cases":
            body = ok(world["board"].get(path_of("case", key), after=sequence))
            assert body["sequence"] == sequence
        else:
            body = ok(world["police"].get("cases", after=sequence, limit=1000))
            assert key in ids(body, "case")

    def test_the_views_not_running_is_504_with_the_sequence_reached(
        self, world: World, tmp_path: Path
    ) -> None:
        idle = Views(SQLiteViewStore(tmp_path / "idle.sqlite"))
        app = create_app(world.ledger, world.tokens, views=idle, read_wait_s=0.2)
        try:
            with TestClient(app=app) as client:
                response = client.get(
                    f"/partnerships/{P}/cases",
                    params={"after": world.last},
                    headers=world["board"].headers,
                )
        finally:
            idle.close()
        body = problem(response, 504)
        assert body["sequence"] == world.last
        assert body["sequence_reached"] == 0
