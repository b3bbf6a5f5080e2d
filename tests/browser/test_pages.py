"""The web pages in a real browser (Chromium through Playwright) against ``ledger serve
--demo``: the dashboard shows the API's numbers, the case page's as-of control hides and
shows an entry around its recording, an agency is refused another's case, a bad token is
refused, every page is usable with the keyboard, and axe-core finds no serious or
critical violation. Each page visited is screenshotted under ``tests/artifacts/``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import (
    Demo,
    issue_agency_token,
    serious_violations,
    shot,
    sign_in,
    tab_order_is_document_order,
)

from projections.calendar import LONDON

#: A day of the demo's simulated 2024-2025 timeline that the board looks back on.
PAST_DAY = "2025-06-30"


def table(page: Any, ident: str, key: str) -> list[dict[str, Any]]:
    """The rows of table ``ident`` (those with a ``data-<key>``): each row's data-*
    attributes, and its cells' data-* and text."""
    rows: list[dict[str, Any]] = page.eval_on_selector_all(
        f"#{ident} tbody tr[data-{key}]",
        """rows => rows.map(r => ({
            row: Object.assign({}, r.dataset),
            cells: Array.from(r.querySelectorAll('td')).map(
                c => ({data: Object.assign({}, c.dataset), text: c.textContent.trim()}))
        }))""",
    )
    return rows


def _cell(row: dict[str, Any], key: str) -> str:
    for cell in row["cells"]:
        if key in cell["data"]:
            return str(cell["text"])
    raise AssertionError(f"no cell {key} in {row}")


def dashboard_figures(page: Any) -> dict[str, Any]:
    optouts: dict[str, dict[str, int]] = {}
    repeaters = set()
    for row in table(page, "optouts-table", "agency"):
        agency = row["row"]["agency"]
        optouts[agency] = {
            c["data"]["quarter"]: int(c["text"])
            for c in row["cells"]
            if "quarter" in c["data"] and c["text"] != "0"
        }
        if any(c["data"].get("repeat") == "yes" for c in row["cells"]):
            repeaters.add(agency)
    clocks = {
        (r["row"]["agency"], r["row"]["rule"]): (int(_cell(r, "overdue")), int(_cell(r, "late")))
        for r in table(page, "clocks-table", "agency")
    }
    challenges = {
        r["row"]["challenge"]: int(r["row"]["stage"])
        for r in table(page, "challenges-table", "challenge")
    }
    recommendations = {
        (r["row"]["review"], r["row"]["recommendation"]): r["row"]["rag"]
        for r in table(page, "recommendations-table", "recommendation")
    }
    themes = {
        r["row"]["theme"]: (int(_cell(r, "reviews")), int(_cell(r, "recommendations")))
        for r in table(page, "themes-table", "theme")
    }
    return {
        "optouts": optouts,
        "repeaters": repeaters,
        "clocks": clocks,
        "challenges": challenges,
        "recommendations": recommendations,
        "themes": themes,
    }


def api_figures(demo: Demo, **asked: str) -> dict[str, Any]:
    base = f"/partnerships/{demo.partnership}"
    optouts: dict[str, Counter[str]] = defaultdict(Counter)
    for c in demo.items(f"{base}/opt-outs/by-quarter", **asked):
        optouts[c["agency"]][c["quarter"]] += c["count"]
    return {
        "optouts": {a: {q: n for q, n in per.items() if n} for a, per in optouts.items()},
        "repeaters": {r["agency"] for r in demo.items(f"{base}/opt-outs/repeated", **asked)},
        "clocks": {
            (p["agency"], p["rule"]): (p["overdue"], p["late"])
            for p in demo.items(f"{base}/timeliness/by-rule", **asked)
            if p["late"] or p["overdue"]
        },
        "challenges": {
            c["challenge"]: c["current_stage"]
            for c in demo.items(f"{base}/challenges/open", **asked)
        },
        "recommendations": {
            (r["review"], r["recommendation"]): r["rag"]
            for r in demo.items(f"{base}/recommendations", **asked)
        },
        "themes": {
            t["theme"]: (t["reviews"], t["recommendations"])
            for t in demo.items(f"{base}/themes/recurring", **asked)
        },
    }


def late_case(demo: Demo) -> tuple[str, dict[str, Any]]:
    """A demo case whose chronology has an entry recorded late, and that entry."""
    base = f"/partnerships/{demo.partnership}"
    for case in demo.items(f"{base}/cases"):
        entries = demo.api(f"{base}/cases/{case['case']}/chronology", "inspector")["entries"]
        late = [e for e in entries if e.get("recorded_late")]
        if late:
            return case["case"], late[-1]
    raise AssertionError("the demo partnership has no entry recorded late")


def minute(instant: str) -> datetime:
    """The London minute ``instant`` falls in, as a naive local time (what the control takes)."""
    local = datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(LONDON)
    return local.replace(second=0, microsecond=0, tzinfo=None)


class TestSignIn:
    def test_a_bad_token_is_refused_and_signs_nobody_in(self, page: Any, demo: Demo) -> None:
        sign_in(page, "ldg_00000000_not-a-token")
        assert page.url.endswith("/sign-in")
        assert "The token was not accepted: the token is unknown." in page.inner_text("main")
        assert page.get_attribute("#token", "aria-invalid") == "true"
        shot(page, "sign-in-refused")
        page.goto(f"/pages/{demo.partnership}/dashboard")
        assert page.url.endswith("/sign-in")


class TestDashboard:
    def test_the_dashboard_shows_the_apis_numbers_now(self, page: Any, demo: Demo) -> None:
        sign_in(page, demo.tokens["board"])
        assert page.url.endswith(f"/pages/{demo.partnership}/dashboard")
        shown, expected = dashboard_figures(page), api_figures(demo)
        assert shown == expected
        # The demo partnership's own figures: no table is compared empty.
        assert expected["optouts"]
        assert expected["clocks"]
        assert expected["challenges"]
        assert expected["recommendations"]
        assert expected["themes"]
        for chart in ("optouts", "clocks", "challenges", "recommendations", "themes"):
            svg = page.locator(f"#{chart}-chart-title")
            assert svg.count() == 1
            assert page.locator(f"#{chart}-chart-desc").count() == 1
        assert set(page.locator("#recommendations-table .rag").all_inner_texts()) <= {
            "Red",
            "Amber",
            "Green",
        }
        shot(page, "dashboard")

    def test_the_dashboard_as_of_a_past_day_shows_the_apis_numbers_for_that_day(
        self, page: Any, demo: Demo
    ) -> None:
        sign_in(page, demo.tokens["inspector"])
        page.fill("#as_of", PAST_DAY)
        page.press("#as_of", "Enter")
        page.wait_for_url(f"**/dashboard?as_of={PAST_DAY}")
        assert f"at the end of {PAST_DAY}" in page.inner_text("main")
        shown, expected = dashboard_figures(page), api_figures(demo, as_of=PAST_DAY)
        assert shown == expected
        assert expected["repeaters"]  # a year of refusals before that day: a repeat refuser
        assert set(expected["recommendations"].values()) == {"red", "amber", "green"}
        assert shown != dashboard_figures_now(page, demo)
        shot(page, "dashboard-as-of")


def dashboard_figures_now(page: Any, demo: Demo) -> dict[str, Any]:
    page.goto(f"/pages/{demo.partnership}/dashboard")
    return dashboard_figures(page)


class TestCasePage:
    def test_the_as_of_control_hides_an_entry_before_its_recording_and_shows_it_after(
        self, page: Any, demo: Demo
    ) -> None:
        case, entry = late_case(demo)
        sign_in(page, demo.tokens["inspector"])
        page.goto(f"/pages/{demo.partnership}/cases/{case}")
        row = f"#entry-{entry['sequence']}"
        assert "Recorded late" in page.inner_text(row)
        recorded = minute(entry["recorded_at"])
        before = (recorded - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
        page.fill("#as_of", before)
        page.press("#as_of", "Enter")
        page.wait_for_url(f"**as_of={before.replace(':', '%3A')}")
        assert page.locator(row).count() == 0
        shot(page, "case-as-of-before")
        at = recorded.strftime("%Y-%m-%dT%H:%M")
        page.fill("#as_of", at)
        page.press("#as_of", "Enter")
        page.wait_for_url(f"**as_of={at.replace(':', '%3A')}")
        assert page.locator(row).count() == 1
        shot(page, "case-as-of-after")

    def test_the_csv_link_downloads_what_the_page_shows_as_the_api_gives_it(
        self, page: Any, demo: Demo
    ) -> None:
        case, entry = late_case(demo)
        sign_in(page, demo.tokens["inspector"])
        at = minute(entry["recorded_at"]).strftime("%Y-%m-%dT%H:%M")
        page.goto(f"/pages/{demo.partnership}/cases/{case}?as_of={at}")
        shown = page.locator("#chronology-table tbody tr[data-sequence]").count()
        href = page.get_attribute("a[download]", "href")
        assert href is not None
        assert "as_of=" in href
        downloaded = page.request.get(href)
        as_of = href.split("as_of=", 1)[1]
        api = demo.api(
            f"/partnerships/{demo.partnership}/cases/{case}/chronology",
            "inspector",
            format="csv",
            as_of=as_of,
        )
        assert downloaded.body() == api.content
        assert len(api.text.strip().splitlines()) == shown + 1  # the header and each entry

    def test_reading_the_case_page_is_recorded_in_the_access_log(
        self, page: Any, demo: Demo
    ) -> None:
        case, _ = late_case(demo)
        since = datetime.now(UTC).isoformat()
        sign_in(page, demo.tokens["inspector"])
        page.goto(f"/pages/{demo.partnership}/cases/{case}")
        reads = demo.items(f"/partnerships/{demo.partnership}/access-log", since=since)
        assert any(r["case"] == case and r["role"] == "inspector" for r in reads), reads

    def test_an_agency_cannot_open_another_agencys_case(self, page: Any, demo: Demo) -> None:
        base = f"/partnerships/{demo.partnership}"
        cases = demo.items(f"{base}/cases")
        agencies = [a["agency"] for a in demo.items(f"{base}/agencies")]
        outsider, case = next(
            (a, c["case"]) for a in agencies for c in cases if a not in c["parties"]
        )
        token = issue_agency_token(demo, outsider)
        sign_in(page, token)
        response = page.goto(f"/pages/{demo.partnership}/cases/{case}")
        assert response is not None
        assert response.status == 403
        assert f"agency '{outsider}' is not a party to case '{case}'" in page.inner_text("main")
        shot(page, "case-refused")


class TestChallengeHistory:
    def test_a_filter_changes_what_is_listed_to_what_the_api_lists(
        self, page: Any, demo: Demo
    ) -> None:
        base = f"/partnerships/{demo.partnership}/challenges"
        sign_in(page, demo.tokens["board"])
        page.goto(f"/pages/{demo.partnership}/challenges")
        every = listed_challenges(page)
        assert every == [c["challenge"] for c in demo.items(base)]
        page.select_option("#status", "resolved")
        page.focus("button >> text=Filter")
        page.keyboard.press("Enter")
        page.wait_for_url("**status=resolved**")
        resolved = listed_challenges(page)
        assert resolved == [c["challenge"] for c in demo.items(base, status="resolved")]
        assert resolved
        assert len(resolved) < len(every)
        shot(page, "challenges-resolved")


class TestTimeliness:
    def test_a_status_filter_lists_the_clocks_the_api_lists(self, page: Any, demo: Demo) -> None:
        sign_in(page, demo.tokens["inspector"])
        page.goto(f"/pages/{demo.partnership}/timeliness")
        every = listed(page, "clock-list-table", "clock")
        page.select_option("#status", "overdue")
        page.focus("button >> text=Filter")
        page.keyboard.press("Enter")
        page.wait_for_url("**status=overdue**")
        overdue = listed(page, "clock-list-table", "clock")
        expected = [
            f"{c['rule']}/{c['aggregate']}/{c['key']}"
            for c in demo.items(f"/partnerships/{demo.partnership}/timeliness", status="overdue")
        ]
        assert overdue == expected
        assert overdue
        assert len(overdue) < len(every)
        shot(page, "timeliness-overdue")


class TestYearlyReport:
    def test_the_board_chooses_a_year_with_the_keyboard_and_downloads_the_apis_pdf(
        self, page: Any, demo: Demo
    ) -> None:
        year = "2024-25"  # over: the same file at every ask
        sign_in(page, demo.tokens["board"])
        page.focus("nav a >> text=Yearly report")
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/pages/{demo.partnership}/report")
        years = page.eval_on_selector_all("#year option", "os => os.map(o => o.value)")
        assert year in years
        page.focus("#year")
        for _ in years:
            if page.input_value("#year") == year:
                break
            page.keyboard.press("ArrowDown")  # newest first: down goes back in time
        assert page.input_value("#year") == year
        page.focus("button >> text=Show the download")
        page.keyboard.press("Enter")
        page.wait_for_url(f"**year={year}**")
        page.focus("a[data-format=pdf]")
        with page.expect_download() as started:
            page.keyboard.press("Enter")
        download = started.value
        assert download.suggested_filename == f"report-{demo.partnership}-{year}.pdf"
        body = Path(download.path()).read_bytes()
        assert body.startswith(b"%PDF")
        api = httpx.get(
            f"{demo.url}/partnerships/{demo.partnership}/report",
            params={"year": year, "format": "pdf"},
            headers={"Authorization": f"Bearer {demo.tokens['board']}"},
            timeout=120,
        )
        assert body == api.content
        shot(page, "report-chosen")


def listed(page: Any, ident: str, key: str) -> list[str]:
    found: list[str] = page.eval_on_selector_all(
        f"#{ident} tbody tr[data-{key}]", f"rows => rows.map(r => r.dataset.{key})"
    )
    return found


def listed_challenges(page: Any) -> list[str]:
    found: list[str] = page.eval_on_selector_all(
        "#challenge-history-table tbody tr[data-challenge]",
        "rows => rows.map(r => r.dataset.challenge)",
    )
    return found


def _first_case(demo: Demo) -> str:
    case: str = demo.items(f"/partnerships/{demo.partnership}/cases")[0]["case"]
    return case


#: Every page: (screenshot name, role signed in as, path).
PAGES = [
    ("sign-in", None, "/sign-in"),
    ("dashboard", "board", "/pages/{p}/dashboard"),
    ("dashboard-past", "inspector", f"/pages/{{p}}/dashboard?as_of={PAST_DAY}"),
    ("cases", "agency", "/pages/{p}/cases"),
    ("case", "inspector", "/pages/{p}/cases/{case}"),
    ("challenges", "board", "/pages/{p}/challenges"),
    ("timeliness", "inspector", "/pages/{p}/timeliness?status=overdue"),
    ("recommendations", "board", "/pages/{p}/recommendations"),
    ("challenges-agency", "agency", "/pages/{p}/challenges?status=open"),
    ("refused", "agency", "/pages/{p}/dashboard"),
    ("report", "board", "/pages/{p}/report"),
    ("report-bad-year", "inspector", "/pages/{p}/report?other_year=2025-27"),
]


class TestEveryPage:
    @pytest.mark.parametrize(("name", "role", "path"), PAGES, ids=[p[0] for p in PAGES])
    def test_is_accessible_and_usable_with_the_keyboard(
        self, page: Any, demo: Demo, axe: Path, name: str, role: str | None, path: str
    ) -> None:
        if role is not None:
            sign_in(page, demo.tokens[role])
        page.goto(path.format(p=demo.partnership, case=_first_case(demo)))
        shot(page, f"page-{name}")
        tab_order_is_document_order(page)
        page.goto("about:blank")
        page.go_back()
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.className") == "skip-link"
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.id") == "main"
        assert serious_violations(page, axe) == []

    def test_the_nav_links_are_followed_with_enter(self, page: Any, demo: Demo) -> None:
        sign_in(page, demo.tokens["board"])
        page.focus("nav a >> text=Cases")
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/pages/{demo.partnership}/cases")
        page.focus("button >> text=Sign out")
        page.keyboard.press("Enter")
        page.wait_for_url("**/sign-in?ended=signed-out")
        assert "You have signed out." in page.inner_text("main")
        assert httpx.get(f"{demo.url}/", follow_redirects=False).status_code == 303
