"""A page that fails unforeseen is a 500 page naming no detail (and the API stays JSON)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from litestar.testing import TestClient
from structlog.testing import capture_logs

from interfaces.http import create_app
from ledger.application import Ledger
from runtime.tokens import Role, TokenStore


class _BrokenDirectory:
    def partnership(self, partnership: str) -> Any:
        raise RuntimeError("a secret detail that must not reach the page")


class _BrokenViews:
    """Views whose directory fails as nothing in the views should."""

    directory = _BrokenDirectory()
    rules = None


def _never(instant: Any) -> Any:
    raise AssertionError("no page here asks as of an instant")


class TestUnforeseenFailure:
    def test_is_a_500_page_without_the_detail_and_is_logged(self, tmp_path: Path) -> None:
        tokens = TokenStore(tmp_path)
        token, _ = tokens.issue(Role.INSPECTOR, "northshire")
        app = create_app(Ledger(), tokens, views=_BrokenViews(), as_of_views=_never)  # type: ignore[arg-type]
        with TestClient(app=app) as client:
            form = client.get("/sign-in")
            csrf = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
            assert csrf is not None
            client.post("/sign-in", data={"token": token, "_csrf_token": csrf[1]})
            with capture_logs() as logs:
                page = client.get("/pages/northshire/dashboard")
        assert page.status_code == 500
        assert page.headers["content-type"].startswith("text/html")
        assert "an internal error stopped this page" in page.text
        assert "secret detail" not in page.text
        assert [e["error"] for e in logs if e["event"] == "page_failed"] == ["RuntimeError"]
