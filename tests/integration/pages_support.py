"""What the page tests share: a small partnership set up once per module through the
POST routes, with real views following the stream, and signing in through the form."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from interfaces.http import create_app
from ledger.application import Ledger
from projections import Views
from projections.sqlite import SQLiteViewStore
from runtime.settings import Settings
from runtime.tokens import Role, TokenStore

P = "westshire"
CHILD = "ch_0123456789abcdef"
STAGES = [{"stage": 1, "title": "Practitioners", "response_working_days": 5}]
TLS = "https://testserver.local"
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


@dataclass
class MemoryAccessLog:
    reads: list[dict[str, Any]] = field(default_factory=list)

    def record(self, **read: Any) -> None:
        self.reads.append(read)


@dataclass
class World:
    app: TestClient[Any]
    tokens: TokenStore
    views: Views
    access_log: MemoryAccessLog
    issued: dict[str, str]
    ledger: Ledger
    #: Another app over the same ledger, views and tokens with the same pages key: a
    #: second ``ledger serve --no-workers`` behind the same balancer.
    twin: Litestar
    last: int = 0

    @contextmanager
    def client(self) -> Iterator[TestClient[Any]]:
        """The module's client, with no cookie of an earlier test (one client: the app
        starts and stops once)."""
        self.app.cookies.clear()
        yield self.app
        self.app.cookies.clear()

    def last_sequence(self) -> int:
        """The stream's last sequence."""
        return self.ledger.recorder.max_notification_id() or 0

    def caught_up(self) -> None:
        """Until the views have applied every write of the setup."""
        done = threading.Event()
        while not done.wait(0.02):
            if min(self.views.store.positions().values(), default=0) >= self.last:
                done.set()


def issue(tokens: TokenStore, role: Role, agency: str | None) -> str:
    actor = None if role is Role.INSPECTOR else f"act_{agency}-000001"
    token, _ = tokens.issue(role, P, agency=None if role is Role.INSPECTOR else agency, actor=actor)
    return token


@pytest.fixture(scope="module")
def world(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """westshire: la, police and health; c1 (la, police), c2 (la); la challenges police
    about c1 (ch1); review r1 recommends rec1 to police and rec2 to la."""
    unique = secrets.token_hex(6)
    env = Settings(stream=f"LEDGER_W{unique}", subject_prefix=f"ldw{unique}").persistence_env(
        nats_url
    )
    data = tmp_path_factory.mktemp("pages")
    ledger = Ledger(env=env)
    views = Views(SQLiteViewStore(data / "views.sqlite"))
    tokens = TokenStore(data)
    access_log = MemoryAccessLog()
    runner = views.runner(ledger)
    follower = threading.Thread(target=runner.follow, daemon=True)
    follower.start()
    secret = secrets.token_hex(32)
    app = create_app(ledger, tokens, views=views, access_log=access_log, pages_secret=secret)
    twin = create_app(ledger, tokens, views=views, access_log=access_log, pages_secret=secret)
    issued = {
        "admin": issue(tokens, Role.ADMIN, "la"),
        "la": issue(tokens, Role.AGENCY, "la"),
        "police": issue(tokens, Role.AGENCY, "police"),
        "health": issue(tokens, Role.AGENCY, "health"),
        "board": issue(tokens, Role.BOARD, "la"),
        "inspector": issue(tokens, Role.INSPECTOR, None),
    }
    try:
        with TestClient(app=app, base_url="http://testserver.local") as api:
            w = World(api, tokens, views, access_log, issued, ledger, twin)

            def post(who: str, tag: str, **body: Any) -> None:
                response = api.post(
                    f"/commands/{tag}",
                    json={"partnership": P, **body},
                    headers={"Authorization": f"Bearer {issued[who]}"},
                )
                assert response.status_code == 201, response.text
                w.last = max(w.last, response.json()["sequence"])

            post("admin", "EstablishPartnership", name="Westshire", nation="england",
                 escalation_stages=STAGES)  # fmt: skip
            for agency, kind in (("la", "local_authority"), ("police", "police"),
                                 ("health", "health")):  # fmt: skip
                post("admin", "RegisterAgency", agency=agency, name=kind, kind=kind,
                     role="statutory_partner")  # fmt: skip
            for case in ("c1", "c2"):
                post("la", "OpenCase", case=case, children=[{"child": CHILD, "age_band": "5_9"}])
            post("la", "JoinCase", case="c1", agency="police")
            post("la", "RecordAction", case="c1", action="home_visit", seen=True)
            post("la", "RecordAction", case="c2", action="referral_received")  # starts clocks
            post("la", "RaiseChallenge", challenge="ch1", case="c1", against_agency="police",
                 matter="information_sharing", summary="why")  # fmt: skip
            at = "2025-06-02T09:00:00Z"
            post("board", "NotifySeriousIncident", review="r1", child=CHILD, case="c1",
                 incident="serious_harm", became_aware_at=at, notified_panel_at=at)  # fmt: skip
            post("board", "CommissionReview", review="r1", level="local", commissioned_at=at)
            for rec, owner, theme in (("rec1", "police", "information_sharing"),
                                      ("rec2", "la", "multi_agency_working")):  # fmt: skip
                post("board", "IssueRecommendation", review="r1", recommendation=rec,
                     owner=owner, due="2025-09-30", theme=theme, text="Do it",
                     occurred_at="2025-06-03T09:00:00Z")  # fmt: skip
            w.caught_up()
            yield w
    finally:
        runner.stop()
        follower.join(timeout=30)
        ledger.close()
        views.close()


def csrf(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page has no CSRF token"
    return found[1]


def sign_in(client: TestClient[Any], token: str) -> Any:
    form = client.get("/sign-in")
    return client.post("/sign-in", data={"token": token, "_csrf_token": csrf(form.text)})
