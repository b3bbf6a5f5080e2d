"""The browser tests' fixtures: Debian's Chromium driven by Playwright, against a real
``ledger serve --demo``, with axe-core injected into the pages.

Chromium is ``/usr/bin/chromium`` (``LEDGER_CHROMIUM`` to point elsewhere): Playwright's
own browser download cannot work on these machines, and ``make test`` installs Debian's
where it runs as root with apt-get. axe-core comes from the npm registry, pinned in the
Makefile (``AXE_VERSION``) and unpacked under ``.cache/``. Where either cannot be had the
tests skip saying why, except in CI (``CI`` set, or ``LEDGER_REQUIRE_BROWSER=1`` as
``.ci/run`` sets it), where they fail instead. A screenshot of every page visited goes
to ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from tests.system.serve_support import Served, ledger_env

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, headless, for the module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed: pip install -e '.[dev]' (make install)")
    if not CHROMIUM.exists():
        unavailable(
            f"no Chromium at {CHROMIUM}: make test installs Debian's (apt-get install -y"
            " chromium) where it runs as root with apt-get"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def axe() -> Path:
    path = axe_path()
    if not path.exists():
        unavailable(f"axe-core is not at {path}: make browser fetches it from npm")
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``ledger serve --demo`` on a data dir of its own."""
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    served = Served(ledger_env(data_dir), "--demo")
    try:
        served.wait_ready()
        saved = json.loads((data_dir / "demo-tokens.json").read_text())
        yield Demo(served, data_dir, saved["partnership"], saved["tokens"])
    finally:
        assert served.stop() == 0, served.stderr[-4000:]


@pytest.fixture
def page(browser: Any, demo: Demo) -> Iterator[Any]:
    """A fresh browser context (no cookie) and its page, on the demo's URL."""
    context = browser.new_context(base_url=demo.url, viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()
