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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import CHROMIUM, LAUNCH_ARGS, Demo, axe_path, unavailable

from tests.system.serve_support import Served, ledger_env


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
