"""The yearly report page without a browser (Litestar's test client), against a real
nats-server and real views: the board downloads the file the API sends, byte for byte;
whom the API refuses the page refuses with the same reason; a bad year is shown beside
its field with the rule; the nav links to the page for the roles that may open it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape
from typing import Any

import pytest
from litestar.testing import TestClient
from pages_support import P, World, sign_in, world

from interfaces.http import create_app
from projections.calendar import local_date

__all__ = ["world"]  # the module's fixture

_HREF = re.compile(r'href="(/pages/[^"]+/report/download\?[^"]+)"')


def _this_year() -> str:
    """The reporting year running now (the module's events are recorded in it)."""
    today = local_date(datetime.now(UTC))
    first = today.year if today.month >= 4 else today.year - 1
    return f"{first}-{(first + 1) % 100:02d}"


@pytest.fixture(scope="module")
def stopped_clock(world: World) -> Iterator[TestClient[Any]]:
    """An app over the module's ledger, views and tokens whose clock stands still just
    after the setup: the running year's report is as of that instant at every ask (the
    same bytes; the PDF's creation date is its as-of instant)."""
    frozen = datetime.now(UTC)
    app = create_app(
        world.ledger,
        world.tokens,
        views=world.views,
        access_log=world.access_log,
        clock=lambda: frozen,
    )
    with TestClient(app=app, base_url="http://testserver.local") as client:
        yield client


def _api(client: TestClient[Any], token: str, **params: str) -> Any:
    return client.get(
        f"/partnerships/{P}/report", params=params, headers={"Authorization": f"Bearer {token}"}
    )


def _links(page: str) -> list[str]:
    return [unescape(href) for href in _HREF.findall(page)]


class TestTheDownload:
    def test_the_board_downloads_the_pdf_and_the_html_the_api_sends(
        self, world: World, stopped_clock: TestClient[Any]
    ) -> None:
        year = _this_year()
        client = stopped_clock
        client.cookies.clear()
        sign_in(client, world.issued["board"])
        shown = client.get(f"/pages/{P}/report", params={"year": year, "format": "html"})
        assert shown.status_code == 200, shown.text
        assert f'<option value="{year}" selected>' in shown.text
        base = f"/pages/{P}/report/download"
        assert _links(shown.text) == [  # the chosen format first
            f"{base}?year={year}&format=html",
            f"{base}?year={year}&format=pdf",
        ]
        for link, form in zip(_links(shown.text), ("html", "pdf"), strict=True):
            page = client.get(link)
            api = _api(client, world.issued["board"], year=year, format=form)
            assert page.status_code == api.status_code == 200, page.text
            assert page.content == api.content
            assert page.headers["content-type"] == api.headers["content-type"]
            assert page.headers["content-disposition"] == (
                f'attachment; filename="report-{P}-{year}.{form}"'
            )
            assert page.headers["cache-control"] == "no-store"
        assert page.content.startswith(b"%PDF")
        client.cookies.clear()

    def test_the_inspector_downloads_the_running_year_as_of_now(self, world: World) -> None:
        with world.client() as client:
            sign_in(client, world.issued["inspector"])
            shown = client.get(f"/pages/{P}/report")
            assert shown.status_code == 200, shown.text
            assert shown.headers["cache-control"] == "no-store"
            pdf = client.get(_links(shown.text)[0])
            assert pdf.status_code == 200, pdf.text
            assert pdf.headers["content-type"] == "application/pdf"
            assert pdf.content.startswith(b"%PDF")


class TestRefusals:
    @pytest.mark.parametrize("who", ["police", "admin"])
    def test_an_agency_or_an_admin_gets_the_403_page_with_the_apis_reason(
        self, world: World, who: str
    ) -> None:
        with world.client() as client:
            reason = _api(client, world.issued[who], year=_this_year()).json()["detail"]
            assert "may not read the yearly report" in reason
            sign_in(client, world.issued[who])
            for path in ("report", f"report/download?year={_this_year()}&format=pdf"):
                refused = client.get(f"/pages/{P}/{path}")
                assert refused.status_code == 403
                assert refused.headers["content-type"].startswith("text/html")
                assert reason in unescape(refused.text)

    def test_a_bad_year_is_shown_beside_its_field_with_the_rule_and_no_link(
        self, world: World
    ) -> None:
        rule = "rule: a year is a reporting year such as 2025-26"
        with world.client() as client:
            sign_in(client, world.issued["board"])
            bad = client.get(f"/pages/{P}/report", params={"year": "", "other_year": "2025-27"})
            assert bad.status_code == 400
            text = unescape(bad.text)
            assert "year '2025-27' is not two consecutive years; " + rule in text
            error = re.search(r'<span class="error" id="other_year-error">(.*?)</span>', text)
            assert error
            assert rule in error[1]
            assert re.search(r'<input id="other_year"[^>]*aria-invalid="true"', bad.text)
            assert _links(bad.text) == []
            before = client.get(f"/pages/{P}/report", params={"year": "2019-20"})
            assert before.status_code == 400
            assert "before the partnership was established" in unescape(before.text)
            assert 'id="year-error"' in before.text
            download = client.get(f"/pages/{P}/report/download", params={"year": "20xx"})
            assert download.status_code == 400
            assert rule in unescape(download.text)


class TestTheNav:
    @pytest.mark.parametrize(
        ("who", "shown"), [("board", True), ("inspector", True), ("la", False), ("police", False)]
    )
    def test_links_to_the_page_for_the_roles_that_may_open_it(
        self, world: World, who: str, shown: bool
    ) -> None:
        with world.client() as client:
            home = sign_in(client, world.issued[who])
            assert home.status_code == 200
            assert (f'href="/pages/{P}/report"' in home.text) is shown
