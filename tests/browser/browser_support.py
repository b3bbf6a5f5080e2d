"""What the browser tests share besides their fixtures: where Chromium, axe-core and the
screenshots are, when the tests must run, and the running demo."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from tests.system.serve_support import LEDGER, Served, ledger_env

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path(os.environ.get("LEDGER_CHROMIUM", "/usr/bin/chromium"))
#: What works headless on these machines; Playwright gives each launch a fresh profile
#: (its own temporary user-data-dir).
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def required() -> bool:
    """Whether the browser tests must run (CI), never skip."""
    return bool(os.environ.get("CI")) or os.environ.get("LEDGER_REQUIRE_BROWSER") == "1"


def unavailable(reason: str) -> NoReturn:
    if required():
        pytest.fail(
            f"{reason}; the browser tests must run here (CI or LEDGER_REQUIRE_BROWSER=1)",
            pytrace=False,
        )
    pytest.skip(reason)


def axe_path() -> Path:
    """axe.min.js of the version the Makefile pins."""
    found = re.search(r"^AXE_VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert found, "the Makefile pins no AXE_VERSION"
    return ROOT / ".cache" / f"axe-core-{found[1]}" / "package" / "axe.min.js"


@dataclass
class Demo:
    """The running demo: its URL, its data dir and one token per role."""

    served: Served
    data_dir: Path
    partnership: str
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.served.url

    def api(self, path: str, role: str = "board", **params: Any) -> Any:
        """GET the API as ``role`` (its JSON, or the response for a CSV)."""
        response = httpx.get(
            f"{self.url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        if params.get("format") == "csv":
            return response
        return response.json()

    def items(self, path: str, role: str = "board", **params: Any) -> list[Any]:
        """Every item of a list question (one page of the maximum size)."""
        body = self.api(path, role, limit=1000, **params)
        assert body["next"] is None, "more than one page: the test would compare a part"
        items: list[Any] = body["items"]
        return items


_FOCUSABLE = """
() => {
  const all = Array.from(document.querySelectorAll('a[href], button, select, textarea,'
    + ' input:not([type=hidden]), [tabindex]:not([tabindex="-1"])'));
  const shown = all.filter(e => !e.disabled && e.getClientRects().length > 0);
  shown.forEach((e, i) => e.setAttribute('data-tab-order', String(i)));
  return shown.length;
}
"""


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Any, token: str) -> None:
    """Sign in with the keyboard: type the token, Enter."""
    page.goto("/sign-in")
    page.fill("#token", token)
    page.press("#token", "Enter")
    page.wait_for_load_state()


def serious_violations(page: Any, axe: Path) -> list[str]:
    page.add_script_tag(path=str(axe))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def tab_order_is_document_order(page: Any) -> None:
    """Tab from the top of a freshly loaded page reaches every link and control, in the
    order of the page (a date input takes a Tab per part: day, month, year, and so on)."""
    count = page.evaluate(_FOCUSABLE)
    assert count > 0
    reached: list[str] = []
    for _ in range(4 * count):
        page.keyboard.press("Tab")
        now = page.evaluate("() => document.activeElement.getAttribute('data-tab-order')")
        if not reached or reached[-1] != now:
            reached.append(now)
        if now == str(count - 1):
            break
    assert reached == [str(i) for i in range(count)]


def issue_agency_token(demo: Demo, agency: str) -> str:
    issued = subprocess.run(
        [LEDGER, "token", "issue", "--role", "agency", "--partnership", demo.partnership,
         "--agency", agency, "--actor", "act_browser-test"],
        capture_output=True, text=True, timeout=60, check=False,
        env=ledger_env(demo.data_dir),
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    return issued.stdout.strip()
