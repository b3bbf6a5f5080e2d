"""What the browser tests share besides their fixtures: where Chromium, axe-core and the
screenshots are, when the tests must run, and the running demo."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from tests.system.serve_support import Served

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
