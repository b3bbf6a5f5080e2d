"""Server-Sent Events and the access log over HTTP, against a real service: a nats-server,
the ledger, the delivery view in SQLite, and the app on uvicorn on a loopback port."""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar import Litestar

import schemas
from consumers.feed import AgencyFeed
from consumers.manager import delivery_runner
from interfaces.http import create_app
from interfaces.http._app import _authenticate
from interfaces.http._events import event_routes
from ledger.application import Ledger
from ledger.signing import public_key_text, sign_command
from projections.sqlite import SQLiteViewStore
from runtime.access_log import AccessLog
from runtime.settings import Settings
from runtime.tokens import Role, TokenStore
from schemas.commands import RevokeAgencyKey

P = "northshire"
READER = "0123abcd"  # the reading token's id (8 hex digits), not a secret
CHILD = "ch_0123456789abcdef"
STAGES = [
    {"stage": 1, "title": "Practitioners", "response_working_days": 5},
    {"stage": 2, "title": "Managers", "response_working_days": 5},
]


def _private(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32)


def _public(n: int) -> str:
    return public_key_text(_private(n))


@contextmanager
def serving(app: Litestar) -> Iterator[str]:
    """``app`` on uvicorn on a free loopback port, until the block ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclass
class Service:
    url: str
    ledger: Ledger
    tokens: TokenStore
    store: SQLiteViewStore
    access_log: AccessLog
    stream: str
    prefix: str

    def record(self, by: str, tag: str, /, **body: Any) -> int:
        command = schemas.decode_command(
            msgspec.json.encode({"type": tag, "partnership": P, **body})
        )
        receipt = self.ledger.execute(
            command, recorded_by=schemas.RecordedBy(agency=by, actor=f"act_{by}-000001")
        )
        return receipt.sequence

    def deliver(self) -> None:
        """The delivery view catches up (``ledger serve`` runs it all the time)."""
        delivery_runner(
            self.ledger, self.store, stream=self.stream, subject_prefix=self.prefix
        ).catch_up()

    def token(self, role: Role, agency: str | None = None, partnership: str = P) -> str:
        actor = None if agency is None else f"act_{agency}-000001"
        token, _ = self.tokens.issue(role, partnership, agency=agency, actor=actor)
        return token


@pytest.fixture
def service(
    nats_url: str, stream_name: str, subject_prefix: str, tmp_path: Path
) -> Iterator[Service]:
    env = Settings(stream=stream_name, subject_prefix=subject_prefix).persistence_env(nats_url)
    ledger = Ledger(env=env)
    store = SQLiteViewStore(tmp_path / "views.sqlite")
    tokens = TokenStore(tmp_path)
    access_log = AccessLog.of(ledger, stream=stream_name, subject_prefix=subject_prefix)
    access_log.check(create=True)
    feed = AgencyFeed(ledger, store, subject_prefix=subject_prefix)
    app = create_app(ledger, tokens, access_log=access_log, feed=feed)
    try:
        with serving(app) as url:
            yield Service(url, ledger, tokens, store, access_log, stream_name, subject_prefix)
    finally:
        store.close()
        ledger.close()


@dataclass(frozen=True)
class Sent:
    id: int
    event: str
    data: dict[str, Any]


def events(
    url: str,
    token: str | None,
    *,
    until: int | None = None,
    until_type: str | None = None,
    last_event_id: str | None = None,
    into: list[Sent] | None = None,
) -> list[Sent]:
    """The stream's events up to (and with) sequence ``until``, or the first event of type
    ``until_type``; then the connection closes. Each is appended to ``into`` as it comes."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    out: list[Sent] = [] if into is None else into
    with httpx.stream(
        "GET", f"{url}/partnerships/{P}/events", headers=headers, timeout=10
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if "id" in fields:
                sent = Sent(int(fields["id"]), fields["event"], msgspec.json.decode(fields["data"]))
                out.append(sent)
                if (until is not None and sent.id >= until) or sent.event == until_type:
                    return out
            fields = {}
    raise AssertionError("the stream ended before the last event")


def status(url: str, path: str, token: str | None, **headers: str) -> httpx.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    with httpx.stream("GET", f"{url}{path}", headers=headers, timeout=10) as response:
        response.read()
        return response


@pytest.fixture
def cases(service: Service) -> dict[str, list[int]]:
    """la leads c1 (police joins it) and raises a challenge against police; health leads c2."""
    admin = "la"
    service.record(
        admin, "EstablishPartnership", name="Northshire", nation="england", escalation_stages=STAGES
    )
    for agency, kind in (("la", "local_authority"), ("police", "police"), ("health", "health")):
        service.record(
            admin, "RegisterAgency", agency=agency, name=kind, kind=kind, role="statutory_partner"
        )
    children = [{"child": CHILD, "age_band": "5_9"}]
    c1 = [service.record("la", "OpenCase", case="c1", children=children)]
    c1.append(service.record("la", "JoinCase", case="c1", agency="police"))
    c2 = [service.record("health", "OpenCase", case="c2", children=children)]
    c1.append(service.record("la", "RecordAction", case="c1", action="home_visit", seen=True))
    c2.append(service.record("health", "RecordAction", case="c2", action="home_visit"))
    challenge = [
        service.record(
            "la",
            "RaiseChallenge",
            challenge="ch1",
            case="c1",
            against_agency="police",
            matter="threshold_decision",
            summary="why",
        )
    ]
    c1.append(service.record("police", "RecordAction", case="c1", action="home_visit"))
    service.deliver()
    return {"c1": c1, "c2": c2, "ch1": challenge}


class TestAgencyEvents:
    def test_an_agency_gets_its_cases_and_challenges_events_in_stream_order_and_no_other(
        self, service: Service, cases: dict[str, list[int]]
    ) -> None:
        police = service.token(Role.AGENCY, "police")
        got = events(service.url, police, until=cases["c1"][-1])
        assert [s.id for s in got] == sorted(cases["c1"] + cases["ch1"])
        assert [s.event for s in got] == [
            "CaseOpened",
            "AgencyJoinedCase",
            "ActionRecorded",
            "ChallengeRaised",
            "ActionRecorded",
        ]
        assert all(s.data["type"] == s.event for s in got)
        # The data is the event's JSON as the NATS client gets it.
        facts = dict(service.ledger.case_events(P, "c1"))
        assert got[0].data == msgspec.json.decode(schemas.encode_event(facts[1]))
        health = service.token(Role.AGENCY, "health")
        assert [s.id for s in events(service.url, health, until=cases["c2"][-1])] == cases["c2"]

    def test_resuming_with_last_event_id_loses_and_repeats_nothing_after_it(
        self, service: Service, cases: dict[str, list[int]]
    ) -> None:
        police = service.token(Role.AGENCY, "police")
        everything = [s.id for s in events(service.url, police, until=cases["c1"][-1])]
        first = events(service.url, police, until=everything[1])
        assert [s.id for s in first] == everything[:2]
        later = service.record("la", "RecordAction", case="c1", action="home_visit")
        service.deliver()
        rest = events(service.url, police, until=later, last_event_id=str(first[-1].id))
        assert [s.id for s in rest] == [*everything[2:], later]

    def test_an_event_the_delivery_view_has_not_applied_waits_for_it(
        self, service: Service, cases: dict[str, list[int]]
    ) -> None:
        police = service.token(Role.AGENCY, "police")
        later = service.record("police", "RecordAction", case="c1", action="home_visit")
        received: list[Sent] = []
        reader = threading.Thread(
            target=lambda: received.extend(
                events(service.url, police, until=later, last_event_id=str(cases["c1"][-1]))
            )
        )
        reader.start()
        reader.join(0.5)
        assert received == []  # not ahead of the memberships it is filtered by
        service.deliver()
        reader.join(10)
        assert [s.id for s in received] == [later]

    def test_an_agency_that_left_a_case_gets_nothing_of_it_any_more(
        self, service: Service, cases: dict[str, list[int]]
    ) -> None:
        left = service.record("police", "LeaveCase", case="c1", agency="police")
        service.record("la", "RecordAction", case="c1", action="home_visit")
        marker = service.record(
            "police", "RespondToChallenge", challenge="ch1", stage=1, response="ok"
        )
        service.deliver()
        police = service.token(Role.AGENCY, "police")
        got = events(service.url, police, until=marker)
        assert [(s.id, s.event) for s in got] == [
            (cases["ch1"][0], "ChallengeRaised"),
            (left, "AgencyLeftCase"),  # its own leave, and nothing else of the case
            (marker, "ChallengeResponded"),
        ]

    def test_an_open_stream_stops_sending_a_case_the_agency_leaves(
        self, service: Service, cases: dict[str, list[int]]
    ) -> None:
        police = service.token(Role.AGENCY, "police")
        received: list[Sent] = []
        reader = threading.Thread(
            target=events,
            args=(service.url, police),
            kwargs={
                "until_type": "ChallengeResponded",
                "last_event_id": str(cases["c1"][-1]),
                "into": received,
            },
        )
        reader.start()
        before = service.record("la", "RecordAction", case="c1", action="home_visit")
        service.deliver()
        for _ in range(1000):  # the stream is open and has sent it before the agency leaves
            if received:
                break
            time.sleep(0.01)
        left = service.record("police", "LeaveCase", case="c1", agency="police")
        after = service.record("la", "RecordAction", case="c1", action="home_visit")
        marker = service.record(
            "police", "RespondToChallenge", challenge="ch1", stage=1, response="ok"
        )
        service.deliver()
        reader.join(10)
        assert [s.id for s in received] == [before, left, marker]
        assert after not in [s.id for s in received]

    def test_an_agency_gets_its_own_key_registrations_and_revocations_and_no_other_s(
        self, service: Service, cases: dict[str, list[int]]
    ) -> None:
        """The operator registers an agency's first key on its own word: the agency sees
        it, and its revocation, on its own stream; no other agency does."""
        k1 = service.record(
            "police", "RegisterAgencyKey", agency="police", key_id="k1", public_key=_public(1)
        )
        la_1 = service.record(
            "la", "RegisterAgencyKey", agency="la", key_id="la-1", public_key=_public(9)
        )
        revoke = RevokeAgencyKey(
            partnership=P,
            agency="police",
            key_id="k1",
            reason="compromised",
            occurred_at=datetime.now(UTC) - timedelta(minutes=5),
        )
        police_by = schemas.RecordedBy(agency="police", actor="act_police-000001")
        revoked = service.ledger.execute(
            revoke,
            recorded_by=police_by,
            signature=sign_command(revoke, police_by, _private(1), "k1", prefix=service.prefix),
        ).sequence
        marker = service.record("la", "RecordAction", case="c1", action="home_visit")
        health_1 = service.record(
            "health", "RegisterAgencyKey", agency="health", key_id="h-1", public_key=_public(7)
        )
        service.deliver()
        after = str(cases["c1"][-1])

        police = events(
            service.url, service.token(Role.AGENCY, "police"), until=marker, last_event_id=after
        )
        assert [(s.id, s.event) for s in police] == [
            (k1, "AgencyKeyRegistered"),
            (revoked, "AgencyKeyRevoked"),
            (marker, "ActionRecorded"),
        ]
        assert [(s.data["agency"], s.data["key_id"]) for s in police[:2]] == [
            ("police", "k1"),
            ("police", "k1"),
        ]
        assert police[1].data["reason"] == "compromised"
        la = events(
            service.url, service.token(Role.AGENCY, "la"), until=marker, last_event_id=after
        )
        assert [(s.id, s.event) for s in la] == [
            (la_1, "AgencyKeyRegistered"),
            (marker, "ActionRecorded"),
        ]
        # health is party to none of it: its own key is all it gets after c2
        health = events(
            service.url,
            service.token(Role.AGENCY, "health"),
            until=health_1,
            last_event_id=str(cases["c2"][-1]),
        )
        assert [(s.id, s.event) for s in health] == [(health_1, "AgencyKeyRegistered")]
        assert health[0].data["key_id"] == "h-1"

    def test_a_caught_up_stream_sends_heartbeats(
        self, service: Service, cases: dict[str, list[int]]
    ) -> None:
        feed = AgencyFeed(service.ledger, service.store, subject_prefix=service.prefix)
        authenticate = functools.partial(_authenticate, service.tokens)
        app = Litestar(route_handlers=event_routes(feed, authenticate, heartbeat_s=0.05))
        token = service.token(Role.AGENCY, "police")
        with (
            serving(app) as url,
            httpx.stream(
                "GET",
                f"{url}/partnerships/{P}/events",
                headers={"Authorization": f"Bearer {token}", "Last-Event-ID": str(10**9)},
                timeout=10,
            ) as response,
        ):
            line = next(line for line in response.iter_lines() if line)
        assert line == ": heartbeat"

    def test_closing_the_feed_ends_the_open_streams(
        self, service: Service, cases: dict[str, list[int]]
    ) -> None:
        feed = AgencyFeed(service.ledger, service.store, subject_prefix=service.prefix)
        authenticate = functools.partial(_authenticate, service.tokens)
        app = Litestar(route_handlers=event_routes(feed, authenticate))
        token = service.token(Role.AGENCY, "police")
        with (
            serving(app) as url,
            httpx.stream(
                "GET",
                f"{url}/partnerships/{P}/events",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            ) as response,
        ):
            lines = response.iter_lines()
            assert next(lines) == f"id: {cases['c1'][0]}"
            feed.close()
            list(lines)  # the stream ends: a stream left open would time out here
        assert feed.page(P, "police", 0).events == []

    def test_a_board_or_inspector_token_or_another_partnership_is_403(
        self, service: Service, cases: dict[str, list[int]]
    ) -> None:
        path = f"/partnerships/{P}/events"
        for token in (
            service.token(Role.BOARD, "la"),
            service.token(Role.INSPECTOR),
            service.token(Role.AGENCY, "police", partnership="otherton"),
        ):
            response = status(service.url, path, token)
            assert response.status_code == 403
            assert response.headers["content-type"].startswith("application/problem+json")

    def test_no_token_or_a_revoked_one_is_401(
        self, service: Service, cases: dict[str, list[int]]
    ) -> None:
        path = f"/partnerships/{P}/events"
        token = service.token(Role.AGENCY, "police")
        assert status(service.url, path, None).status_code == 401
        service.tokens.revoke(token.split("_")[1])
        assert status(service.url, path, token).status_code == 401

    def test_a_last_event_id_that_is_not_a_sequence_is_400(
        self, service: Service, cases: dict[str, list[int]]
    ) -> None:
        token = service.token(Role.AGENCY, "police")
        response = status(
            service.url, f"/partnerships/{P}/events", token, **{"Last-Event-ID": "abc"}
        )
        assert response.status_code == 400
        assert response.json()["field"] == "Last-Event-ID"


class TestAccessLogRoute:
    def _reads(self, service: Service) -> list[int]:
        return [
            service.access_log.record(
                partnership=P,
                case=case,
                query="chronology",
                role="agency",
                agency="police",
                token=READER,
                as_of=None,
            )
            for case in ("c1", "c2", "c1")
        ]

    def test_a_board_reads_the_log_filtered_and_paged(self, service: Service) -> None:
        seqs = self._reads(service)
        board = service.token(Role.BOARD, "la")
        path = f"/partnerships/{P}/access-log"
        page = status(service.url, f"{path}?case=c1&limit=1", board).json()
        assert [e["sequence"] for e in page["items"]] == [seqs[0]]
        assert page["items"][0]["case"] == "c1"
        assert page["items"][0]["agency"] == "police"
        page = status(service.url, f"{path}?case=c1&limit=1&after={page['next']}", board).json()
        assert [e["sequence"] for e in page["items"]] == [seqs[2]]
        everything = status(service.url, path, board).json()
        assert [e["sequence"] for e in everything["items"]] == seqs
        assert everything["next"] is None
        future = (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z")
        assert status(service.url, f"{path}?since={future}", board).json()["items"] == []

    def test_only_a_board_token_of_the_partnership_may_read_it(self, service: Service) -> None:
        path = f"/partnerships/{P}/access-log"
        assert status(service.url, path, None).status_code == 401
        for token in (
            service.token(Role.AGENCY, "police"),
            service.token(Role.INSPECTOR),
            service.token(Role.BOARD, "la", partnership="otherton"),
        ):
            assert status(service.url, path, token).status_code == 403

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("since=yesterday", "since"),
            ("until=2026-01-01T00:00:00", "until"),
            ("limit=0", "limit"),
            ("after=-1", "after"),
            ("case=C%201", "case"),
        ],
    )
    def test_a_bad_filter_is_400_naming_it(self, service: Service, query: str, field: str) -> None:
        board = service.token(Role.BOARD, "la")
        response = status(service.url, f"/partnerships/{P}/access-log?{query}", board)
        assert response.status_code == 400
        assert response.json()["field"] == field
