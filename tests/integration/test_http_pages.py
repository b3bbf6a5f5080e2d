"""The web pages without a browser: the session cookie's attributes, CSRF refusals, and
each role's refusals, against a real nats-server and real views (Litestar's test client).

A small partnership is set up once for the module through the POST routes; a
:class:`ViewRunner` follows the stream in a thread, and each test waits until the views
have applied the last write before it reads a page (no clock involved).
"""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from pages_support import TLS, P, World, csrf, issue, sign_in, world

from interfaces.http._session import SESSION_MAX_AGE_S
from projections.calendar import LONDON
from runtime.tokens import Role

__all__ = ["world"]  # the module's fixture


def _cookie(response: Any, name: str) -> list[str]:
    """The attributes of the Set-Cookie for ``name``, lower-cased (value left out)."""
    for header in response.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key == name:
            return [part.strip().lower() for part in rest.split(";")[1:]]
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.get_list('set-cookie')}")


class TestSessionCookie:
    def test_signing_in_sets_an_httponly_strict_session_cookie_for_the_whole_site(
        self, world: World
    ) -> None:
        with world.client() as client:
            form = client.get("/sign-in")
            assert "ledger_session" not in form.headers.get("set-cookie", "")
            attributes = _cookie(form, "ledger_csrf")
            assert {"httponly", "samesite=strict", "path=/"} <= set(attributes)
            signed = client.post(
                "/sign-in",
                data={"token": world.issued["board"], "_csrf_token": csrf(form.text)},
                follow_redirects=False,
            )
            assert signed.status_code == 303
            attributes = _cookie(signed, "ledger_session")
            assert {"httponly", "samesite=strict", "path=/"} <= set(attributes)
            assert "secure" not in attributes  # plain HTTP: the browser would drop it

    def test_over_tls_every_cookie_is_secure(self, world: World) -> None:
        with world.client() as client:
            form = client.get(f"{TLS}/sign-in")
            assert "secure" in _cookie(form, "ledger_csrf")
            signed = client.post(
                f"{TLS}/sign-in",
                data={"token": world.issued["board"], "_csrf_token": csrf(form.text)},
                follow_redirects=False,
            )
            assert "secure" in _cookie(signed, "ledger_session")

    def test_a_cookie_the_key_did_not_seal_is_no_session(self, world: World) -> None:
        with world.client() as client:
            for planted in ("f" * 64, "AAAA" * 40, "not base64!"):
                client.cookies.set("ledger_session", planted, domain="testserver.local")
                page = client.get(f"/pages/{P}/dashboard", follow_redirects=False)
                assert (page.status_code, page.headers["location"]) == (303, "/sign-in")
            signed = sign_in(client, world.issued["board"])
            assert signed.url.path == f"/pages/{P}/dashboard"
            assert client.cookies.get("ledger_session", domain="testserver.local") not in {
                "f" * 64,
                "AAAA" * 40,
            }

    def test_a_session_is_good_on_another_process_with_the_same_key(self, world: World) -> None:
        with (
            world.client() as client,
            TestClient(app=world.twin, base_url="http://testserver.local") as other,
        ):
            sign_in(client, world.issued["board"])
            other.cookies.set(
                "ledger_session",
                client.cookies.get("ledger_session", domain="testserver.local") or "",
                domain="testserver.local",
            )
            page = other.get(f"/pages/{P}/dashboard", follow_redirects=False)
            assert page.status_code == 200, page.headers.get("location")

    def test_a_session_ends_eight_hours_after_its_sign_in_however_busy(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with world.client() as client:
            sign_in(client, world.issued["board"])
            signed_in_at = time.time()
            monkeypatch.setattr(
                "interfaces.http._session.time.time", lambda: signed_in_at + SESSION_MAX_AGE_S - 60
            )
            assert client.get(f"/pages/{P}/dashboard").status_code == 200  # and the cookie renewed
            monkeypatch.setattr(
                "interfaces.http._session.time.time", lambda: signed_in_at + SESSION_MAX_AGE_S + 60
            )
            page = client.get(f"/pages/{P}/dashboard", follow_redirects=False)
            assert page.headers["location"] == "/sign-in?ended=expired"

    def test_a_revoked_token_ends_its_session_on_the_next_request(self, world: World) -> None:
        token = issue(world.tokens, Role.BOARD, "la")
        with world.client() as client:
            assert sign_in(client, token).url.path == f"/pages/{P}/dashboard"
            world.tokens.revoke(token.split("_")[1])
            page = client.get(f"/pages/{P}/dashboard", follow_redirects=False)
            assert page.status_code == 303
            assert page.headers["location"] == "/sign-in?ended=revoked"
            again = client.get(f"/pages/{P}/dashboard", follow_redirects=False)
            assert again.headers["location"] == "/sign-in"  # the session is gone too


class TestCsrf:
    def test_a_sign_in_without_the_csrf_token_is_refused_and_signs_nobody_in(
        self, world: World
    ) -> None:
        with world.client() as client:
            client.get("/sign-in")
            refused = client.post("/sign-in", data={"token": world.issued["board"]})
            assert refused.status_code == 403
            assert refused.headers["content-type"].startswith("text/html")
            assert "CSRF token" in refused.text
            assert "ledger_session" not in refused.headers.get("set-cookie", "")
            page = client.get(f"/pages/{P}/dashboard", follow_redirects=False)
            assert page.headers["location"] == "/sign-in"

    def test_a_sign_out_with_a_wrong_csrf_token_is_refused_and_the_session_stays(
        self, world: World
    ) -> None:
        with world.client() as client:
            sign_in(client, world.issued["board"])
            refused = client.post("/sign-out", data={"_csrf_token": "0" * 128})
            assert refused.status_code == 403
            assert client.get(f"/pages/{P}/dashboard").status_code == 200
            page = client.get(f"/pages/{P}/dashboard")
            out = client.post("/sign-out", data={"_csrf_token": csrf(page.text)})
            assert out.url.path == "/sign-in"
            assert "You have signed out." in out.text

    def test_the_api_takes_bearer_tokens_withoutcsrf(self, world: World) -> None:
        with world.client() as client:
            response = client.get(
                f"/partnerships/{P}/cases",
                headers={"Authorization": f"Bearer {world.issued['board']}"},
            )
            assert response.status_code == 200


class TestRoles:
    def test_a_bad_token_is_refused_with_the_reason(self, world: World) -> None:
        with world.client() as client:
            refused = sign_in(client, "ldg_00000000_nope")
            assert refused.status_code == 401
            assert "The token was not accepted: the token is unknown." in refused.text
            assert client.get("/", follow_redirects=False).headers["location"] == "/sign-in"

    def test_without_a_session_every_page_sends_the_browser_tosign_in(self, world: World) -> None:
        with world.client() as client:
            for path in ("/", f"/pages/{P}/dashboard", f"/pages/{P}/cases/c1"):
                response = client.get(path, follow_redirects=False)
                assert (response.status_code, response.headers["location"]) == (303, "/sign-in")

    def test_an_agency_is_refused_the_dashboard_with_the_reason(self, world: World) -> None:
        with world.client() as client:
            home = sign_in(client, world.issued["police"])
            assert home.url.path == f"/pages/{P}/cases"
            assert f'href="/pages/{P}/dashboard"' not in home.text
            refused = client.get(f"/pages/{P}/dashboard")
            assert refused.status_code == 403
            assert refused.headers["content-type"].startswith("text/html")
            assert "an agency token may not read opt-outs-by-quarter" in refused.text

    def test_an_agency_opens_its_own_case_and_not_another_and_the_read_is_logged(
        self, world: World
    ) -> None:
        with world.client() as client:
            sign_in(client, world.issued["police"])
            before = len(world.access_log.reads)
            own = client.get(f"/pages/{P}/cases/c1")
            assert own.status_code == 200, own.text
            assert own.headers["cache-control"] == "no-store"  # a child's record stays uncached
            assert "home visit" in own.text.lower()
            assert world.access_log.reads[before:] == [
                {
                    "partnership": P,
                    "case": "c1",
                    "query": "chronology",
                    "role": "agency",
                    "agency": "police",
                    "token": world.issued["police"].split("_")[1],
                    "as_of": None,
                }
            ]
            refused = client.get(f"/pages/{P}/cases/c2")
            assert refused.status_code == 403
            assert "agency &#39;police&#39; is not a party to case &#39;c2&#39;" in refused.text
            assert len(world.access_log.reads) == before + 1
            cases = client.get(f"/pages/{P}/cases")
            assert 'data-case="c1"' in cases.text
            assert 'data-case="c2"' not in cases.text

    def test_a_token_of_another_partnership_is_refused(self, world: World) -> None:
        with world.client() as client:
            sign_in(client, world.issued["inspector"])
            refused = client.get("/pages/eastshire/dashboard")
            assert refused.status_code == 403
            assert "the token is for partnership &#39;westshire&#39;, not &#39;eastshire&#39;" in (
                refused.text
            )
            assert refused.headers["content-type"].startswith("text/html")

    def test_an_admin_opens_no_page(self, world: World) -> None:
        with world.client() as client:
            refused = sign_in(client, world.issued["admin"])
            assert refused.status_code == 403
            assert "an admin token opens no pages" in refused.text

    def test_the_case_pages_csv_is_the_apis_csv(self, world: World, tmp_path: Path) -> None:
        with world.client() as client:
            sign_in(client, world.issued["inspector"])
            page = client.get(f"/pages/{P}/cases/c1/chronology.csv")
            api = client.get(
                f"/partnerships/{P}/cases/c1/chronology",
                params={"format": "csv"},
                headers={"Authorization": f"Bearer {world.issued['inspector']}"},
            )
            assert page.status_code == api.status_code == 200
            assert page.content == api.content
            rows = list(csv.DictReader(io.StringIO(page.text)))
            assert "ActionRecorded" in [r["event_type"] for r in rows]


class TestChallengeHistory:
    def test_the_board_filters_as_the_api_does_and_a_bad_filter_is_named(
        self, world: World
    ) -> None:
        with world.client() as client:
            sign_in(client, world.issued["board"])
            listed = client.get(f"/pages/{P}/challenges", params={"status": "open", "case": ""})
            assert listed.status_code == 200
            assert 'data-challenge="ch1"' in listed.text
            assert "Stage 1: open, due" in listed.text
            none = client.get(f"/pages/{P}/challenges", params={"status": "resolved"})
            assert 'data-challenge="ch1"' not in none.text
            bad = client.get(f"/pages/{P}/challenges", params={"status": "lost"})
            assert bad.status_code == 400
            assert "status breaks its rule; rule: one of open, resolved, withdrawn" in bad.text

    def test_an_agency_sees_its_own_challenges_and_is_refused_anothers(self, world: World) -> None:
        with world.client() as client:
            sign_in(client, world.issued["police"])
            own = client.get(f"/pages/{P}/challenges")
            assert 'data-challenge="ch1"' in own.text
            assert 'id="agency"' not in own.text  # no agency to choose: its own only
            refused = client.get(f"/pages/{P}/challenges", params={"agency": "la"})
            assert refused.status_code == 403
            assert "agency &#39;la&#39; is not the token&#39;s agency &#39;police&#39;" in (
                refused.text
            )
        with world.client() as client:
            sign_in(client, world.issued["health"])
            assert 'data-challenge="ch1"' not in client.get(f"/pages/{P}/challenges").text

    def test_the_minute_now_running_is_a_valid_as_of(self, world: World) -> None:
        now = datetime.now(UTC).astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")
        with world.client() as client:
            sign_in(client, world.issued["inspector"])
            page = client.get(f"/pages/{P}/cases/c1", params={"as_of": now})
            assert page.status_code == 200, page.text
            assert 'id="entry-' in page.text

    def test_a_bad_as_of_on_a_page_is_refused_naming_it(self, world: World) -> None:
        with world.client() as client:
            sign_in(client, world.issued["inspector"])
            bad = client.get(f"/pages/{P}/cases/c1", params={"as_of": "yesterday"})
            assert bad.status_code == 400
            assert "as_of is not an ISO 8601 instant or date" in bad.text


class TestTimeliness:
    def test_the_board_sees_the_clocks_and_an_agency_is_refused(self, world: World) -> None:
        with world.client() as client:
            sign_in(client, world.issued["board"])
            shown = client.get(f"/pages/{P}/timeliness", params={"agency": "la", "rule": ""})
            assert shown.status_code == 200
            assert 'data-agency="la"' in shown.text
            assert 'data-agency="police"' not in shown.text
            bad = client.get(f"/pages/{P}/timeliness", params={"status": "late-ish"})
            assert bad.status_code == 400
            assert "status breaks its rule" in bad.text
        with world.client() as client:
            sign_in(client, world.issued["la"])
            refused = client.get(f"/pages/{P}/timeliness")
            assert refused.status_code == 403
            assert "an agency token may not read timeliness" in refused.text


class TestRecommendations:
    def test_the_board_sees_every_recommendation_with_its_status_in_words_and_the_themes(
        self, world: World
    ) -> None:
        with world.client() as client:
            sign_in(client, world.issued["board"])
            shown = client.get(f"/pages/{P}/recommendations")
            assert shown.status_code == 200, shown.text
            assert 'data-recommendation="rec1"' in shown.text
            assert 'data-recommendation="rec2"' in shown.text
            assert '<span class="rag rag-red">Red</span>' in shown.text  # overdue: red, in words
            assert 'id="themes-by-year-table"' in shown.text
            one = client.get(f"/pages/{P}/recommendations", params={"theme": "information_sharing"})
            assert 'data-recommendation="rec1"' in one.text
            assert 'data-recommendation="rec2"' not in one.text

    def test_an_agency_sees_the_recommendations_it_owns_and_no_themes(self, world: World) -> None:
        with world.client() as client:
            sign_in(client, world.issued["police"])
            own = client.get(f"/pages/{P}/recommendations")
            assert own.status_code == 200, own.text
            assert 'data-recommendation="rec1"' in own.text
            assert 'data-recommendation="rec2"' not in own.text
            assert 'id="themes-by-year-table"' not in own.text
            refused = client.get(f"/pages/{P}/recommendations", params={"owner": "la"})
            assert refused.status_code == 403
            assert "owner &#39;la&#39; is not the token&#39;s agency &#39;police&#39;" in (
                refused.text
            )


class TestDashboard:
    def test_lists_the_apis_recommendations_overdue_first_with_their_status_in_words(
        self, world: World
    ) -> None:
        with world.client() as client:
            sign_in(client, world.issued["inspector"])
            page = client.get(f"/pages/{P}/dashboard")
            api = client.get(
                f"/partnerships/{P}/recommendations",
                headers={"Authorization": f"Bearer {world.issued['inspector']}"},
            ).json()["items"]
        rows = re.findall(r'data-recommendation="([^"]+)" data-rag="([^"]+)"', page.text)
        assert sorted(rows) == sorted((r["recommendation"], r["rag"]) for r in api)
        assert {rag for _, rag in rows} == {"red"}  # both are overdue
        assert "Overdue by" in page.text
        assert re.search(r"<text[^>]*>Red</text>", page.text)  # the chart says the word
