"""The forms in a real browser (Chromium through Playwright) against ``ledger serve
--demo``: an agency records an action on its case through the case page's form and it
appears on the case page with its stream sequence; a bad value (a time in the future, an
empty required field) is refused with the rule beside the field and the stream's last
sequence unchanged; every form page is usable with the keyboard and axe-core finds no
serious or critical violation on it. Each is screenshotted under ``tests/artifacts/``.
"""

from __future__ import annotations

import threading
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

from interfaces.http._form_pages import FORMS
from interfaces.http._permissions import MAY_SEND
from projections.calendar import LONDON
from runtime.tokens import Role


def last_sequence(demo: Demo) -> int:
    """The stream's last sequence, as ``/ready`` says it."""
    ready = httpx.get(f"{demo.url}/ready", timeout=60).json()
    sequence: int = ready["last_sequence"]
    return sequence


def caught_up(demo: Demo) -> None:
    """Until the views have applied the whole stream (the demo's seeding included)."""
    paused = threading.Event()
    while True:
        ready = httpx.get(f"{demo.url}/ready", timeout=60).json()
        if (ready.get("views_position") or 0) >= ready["last_sequence"]:
            return
        paused.wait(0.05)


def party_case(demo: Demo) -> tuple[str, str]:
    """An open demo case and an agency party to it."""
    cases = demo.items(f"/partnerships/{demo.partnership}/cases")
    case = next(c for c in cases if c["state"] == "open")
    return case["case"], case["parties"][0]


def open_action_form(page: Any, demo: Demo, case: str) -> None:
    """From the case page, the "record an action" link, followed with the keyboard."""
    page.goto(f"/pages/{demo.partnership}/cases/{case}")
    page.focus("a[data-form=RecordAction]")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/forms/RecordAction?case={case}")


class TestRecording:
    def test_an_agency_records_an_action_on_its_case_and_it_appears_on_the_case_page(
        self, page: Any, demo: Demo
    ) -> None:
        case, agency = party_case(demo)
        sign_in(page, issue_agency_token(demo, agency))
        open_action_form(page, demo, case)
        assert page.input_value("#case") == case
        assert page.input_value("#actor") == "act_browser-test"
        page.focus("#action")
        page.select_option("#action", "home_visit")
        page.select_option("#seen", "yes")
        page.fill("#note", "Visited at home")
        caught_up(demo)  # what the page shows next waits for this one write only
        before = last_sequence(demo)
        page.focus("button >> text=Record")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert f"/pages/{demo.partnership}/cases/{case}" in page.url, page.inner_text("main")
        sequence = last_sequence(demo)
        assert sequence == before + 1
        said = page.inner_text("#recorded")
        assert f"recorded as ActionRecorded, stream sequence {sequence}." in said
        if said.endswith("reload in a moment."):
            # The views of `ledger serve` took longer than LEDGER_READ_WAIT_S to apply
            # one event (this machine is shared): the page said so; once they have, the
            # case page shows it.
            caught_up(demo)
            page.reload()
        row = page.locator(f"#entry-{sequence}")
        assert row.count() == 1, page.content()
        assert agency in row.inner_text()
        assert "yes" in row.inner_text()  # child seen
        shot(page, "form-recorded-case")

    def test_a_bad_value_shows_the_rule_beside_the_field_and_records_nothing(
        self, page: Any, demo: Demo
    ) -> None:
        case, agency = party_case(demo)
        sign_in(page, issue_agency_token(demo, agency))
        open_action_form(page, demo, case)
        page.select_option("#action", "home_visit")
        ahead = (datetime.now(UTC) + timedelta(days=3)).astimezone(LONDON)
        page.fill("#occurred_at", ahead.strftime("%Y-%m-%dT%H:%M"))
        before = last_sequence(demo)
        with page.expect_navigation() as sent:
            page.click("button >> text=Record")
        assert sent.value.status == 409
        said = page.inner_text("#occurred_at-error")
        assert "cannot have happened more than 5 minutes after" in said
        assert page.get_attribute("#occurred_at", "aria-invalid") == "true"
        assert "occurred_at-error" in (page.get_attribute("#occurred_at", "aria-describedby") or "")
        assert page.input_value("#action") == "home_visit"  # the values are kept
        assert "Nothing was recorded" in page.inner_text("#form-refusal")
        assert last_sequence(demo) == before
        shot(page, "form-refused-future")

        page.select_option("#action", "")
        page.fill("#occurred_at", "")
        with page.expect_navigation() as sent:
            page.click("button >> text=Record")
        assert sent.value.status == 400
        assert "required field is missing" in page.inner_text("#action-error")
        assert page.get_attribute("#action", "aria-invalid") == "true"
        assert last_sequence(demo) == before
        shot(page, "form-refused-missing")


def _role_for(tag: str) -> str:
    return "agency" if tag in MAY_SEND[Role.AGENCY] else "board"


class TestEveryForm:
    @pytest.mark.parametrize("tag", ["index", *FORMS])
    def test_is_accessible_and_usable_with_the_keyboard(
        self, page: Any, demo: Demo, axe: Path, tag: str
    ) -> None:
        case, agency = party_case(demo)
        role = "agency" if tag == "index" else _role_for(tag)
        token = issue_agency_token(demo, agency) if role == "agency" else demo.tokens[role]
        sign_in(page, token)
        path = f"/pages/{demo.partnership}/forms"
        if tag != "index":
            path += f"/{tag}?case={case}"
        response = page.goto(path)
        assert response is not None
        assert response.status == 200
        shot(page, f"form-{tag}")
        tab_order_is_document_order(page)
        assert serious_violations(page, axe) == []

    def test_a_refused_form_passes_axe(self, page: Any, demo: Demo, axe: Path) -> None:
        case, agency = party_case(demo)
        sign_in(page, issue_agency_token(demo, agency))
        open_action_form(page, demo, case)
        page.fill("#case", "")
        page.click("button >> text=Record")
        page.wait_for_selector("#case-error")
        tab_order_is_document_order(page)
        assert serious_violations(page, axe) == []

    def test_an_inspector_is_refused_the_forms(self, page: Any, demo: Demo) -> None:
        sign_in(page, demo.tokens["inspector"])
        response = page.goto(f"/pages/{demo.partnership}/forms/RecordAction")
        assert response is not None
        assert response.status == 403
        assert "records nothing" in page.inner_text("main")
