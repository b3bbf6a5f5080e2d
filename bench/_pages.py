"""The pages suite of ``make bench``: the dashboard served end to end, against the API's JSON.

A synthetic partnership (:mod:`runtime.synthetic`, seeded; 100,000 events, or
``BENCH_PAGES_EVENTS``; fewer with ``BENCH_QUICK=1``) is written through the ledger into
a data dir, its views are rebuilt there, and the real service is started on it: a
``ledger serve --no-workers`` subprocess on loopback (uvicorn, ``create_app``, the
session and CSRF middleware: everything a browser meets). A board token of the largest
partnership (``northvale``) signs in through the sign-in form (the CSRF cookie and
field, then the session cookie), and the same token is the API's bearer token.

Then, in interleaved rounds (the page first in even rounds, the API first in odd ones,
after a few warm-up rounds):

- **page**: ``GET /pages/{P}/dashboard`` with the session cookie, timed until the whole
  HTML is received (httpx reads the body; the status must be 200 and the page complete);
- **api**: the GETs of the API that answer the same questions the dashboard asks
  (``opt-outs-by-quarter``, ``repeat-refusers``, ``timeliness-by-rule``,
  ``open-challenges``, ``recommendations``, ``recurring-themes``: see
  :mod:`interfaces.http._dashboard`), with the same ``as_of`` (none: now) and the default
  filters, one after another, each list followed through its ``next`` cursors at
  ``limit=1000`` so that the API gives all the numbers the page shows. The API's time
  for a round is the **sum** of those sequential GETs: the page asks the same questions
  one after another inside one request, so a client wanting the same numbers from the
  API sequentially is the like-for-like comparison (a concurrent client would compare
  the page against parallelism the page does not use; on two shared cores it would
  mostly measure contention). The page's own ``partnership`` check is not counted on
  the API's side (each API GET checks the partnership itself).

``page_dashboard_p95_ms`` and ``page_dashboard_api_p95_ms`` are the 95th percentiles of
the rounds' times; ``page_dashboard_ratio_vs_api`` is the median of the per-round ratios
page / api (goal <= 2, docs/operations.md). Both clients keep their connection alive, as
a browser does.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

import httpx
from rich.console import Console

from ledger.application import Ledger
from projections import Views
from projections.sqlite import SQLiteViewStore
from runtime.settings import Settings
from runtime.synthetic import generate
from runtime.tokens import Role, TokenStore

PARTNERSHIP: Final = "northvale"
STREAM: Final = "PAGES"
PREFIX: Final = "pages"
#: The questions of the dashboard (interfaces.http._pages._dashboard), as API paths.
QUESTIONS: Final = (
    "opt-outs/by-quarter",
    "opt-outs/repeated",
    "timeliness/by-rule",
    "challenges/open",
    "recommendations",
    "themes/recurring",
)
LEDGER: Final = str(Path(sys.executable).with_name("ledger"))
WARM_UP: Final = 3


def _serve(data_dir: Path, url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LEDGER_DATA_DIR": str(data_dir),
        "NATS_URL": url,
        "NATS_STREAM": STREAM,
        "NATS_SUBJECT_PREFIX": PREFIX,
        "LEDGER_HTTP_PORT": str(port),
        "LEDGER_LOG_LEVEL": "WARNING",
        "LEDGER_LOG_JSON": "1",
    }
    return subprocess.Popen(
        [LEDGER, "serve", "--no-workers"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_live(base: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ledger serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("ledger serve did not answer /health in time")


def _sign_in(client: httpx.Client, token: str) -> None:
    """The sign-in form (its CSRF field), then the session cookie."""
    form = client.get("/sign-in")
    marker = 'name="_csrf_token" value="'
    start = form.text.index(marker) + len(marker)
    csrf = form.text[start : form.text.index('"', start)]
    signed = client.post("/sign-in", data={"token": token, "_csrf_token": csrf})
    if signed.status_code != 200 or not signed.url.path.endswith("/dashboard"):
        raise RuntimeError(f"signing in failed: {signed.status_code} at {signed.url.path}")


def _page_ms(client: httpx.Client) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get(f"/pages/{PARTNERSHIP}/dashboard")
    body = response.content  # received whole (httpx reads the body before returning)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200 or b"</html>" not in body:
        raise RuntimeError(f"the dashboard answered {response.status_code}")
    return elapsed, len(body)


def _api_ms(client: httpx.Client) -> tuple[float, int, int]:
    """The sequential sum of the API's GETs for the dashboard's numbers; requests, items."""
    requests = items = 0
    started = time.perf_counter()
    for question in QUESTIONS:
        path = f"/partnerships/{PARTNERSHIP}/{question}"
        params: dict[str, str] = {"limit": "1000"}
        while True:
            response = client.get(path, params=params)
            requests += 1
            if response.status_code != 200:
                raise RuntimeError(f"GET {question} answered {response.status_code}")
            body: Any = response.json()
            if not (isinstance(body, dict) and "items" in body):
                items += 1
                break
            items += len(body["items"])
            if body["next"] is None:
                break
            params = {"limit": "1000", "cursor": body["next"]}
    return (time.perf_counter() - started) * 1000, requests, items


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def pages_suite(url: str, tmp: Path, *, quick: bool, console: Console) -> dict[str, Any]:
    """Generate, serve, sign in, then time the dashboard against the API; for results.json."""
    events = int(os.environ.get("BENCH_PAGES_EVENTS", "10000" if quick else "100000"))
    rounds = 12 if quick else 60
    data_dir = tmp / "pages-data"
    data_dir.mkdir(mode=0o700)
    settings = Settings(data_dir=data_dir, stream=STREAM, subject_prefix=PREFIX, timeout_s=10)
    env = settings.persistence_env(url)
    console.log(f"pages: writing a synthetic partnership of {events:,} events ...")
    summary = generate(env, events=events, seed=11)
    ledger = Ledger(env=env)
    views = Views(SQLiteViewStore(settings.views_file))
    try:
        stats = views.runner(ledger).rebuild()
        console.log(f"pages: views rebuilt ({stats.per_second:,.0f} events/s)")
        with views.store.reading() as tx:
            (cases,) = tx.fetchone(
                "SELECT count(*) FROM directory_case WHERE partnership = ?", (PARTNERSHIP,)
            )
    finally:
        views.close()
        ledger.close()
    token, _ = TokenStore(data_dir).issue(
        Role.BOARD, PARTNERSHIP, agency=f"{PARTNERSHIP}-csc", actor="act_bench-board"
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = _serve(data_dir, url, port)
    rows: list[dict[str, float]] = []
    try:
        _wait_live(base, process)
        with (
            httpx.Client(base_url=base, follow_redirects=True, timeout=120) as browser,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120
            ) as api,
        ):
            _sign_in(browser, token)
            size = requests = items = 0
            for r in range(WARM_UP + rounds):
                if r % 2 == 0:
                    page, size = _page_ms(browser)
                    total, requests, items = _api_ms(api)
                else:
                    total, requests, items = _api_ms(api)
                    page, size = _page_ms(browser)
                if r < WARM_UP:
                    continue
                rows.append({"page": page, "api": total})
                if (r - WARM_UP + 1) % 10 == 0 or quick:
                    console.log(
                        f"pages round {r - WARM_UP + 1}/{rounds}: dashboard {page:.0f} ms,"
                        f" api {total:.0f} ms ({requests} GETs)"
                    )
    finally:
        process.terminate()
        process.wait(timeout=60)
    page_times = [row["page"] for row in rows]
    api_times = [row["api"] for row in rows]
    return {
        "page_dashboard_p95_ms": round(_p95(page_times), 1),
        "page_dashboard_api_p95_ms": round(_p95(api_times), 1),
        "page_dashboard_ratio_vs_api": round(
            statistics.median(row["page"] / row["api"] for row in rows), 3
        ),
        "meta_pages": {
            "events": summary.events,
            "partnership": PARTNERSHIP,
            "partnership_cases": cases,
            "partnerships": list(summary.partnerships),
            "quick": quick,
            "rounds": rounds,
            "warm_up_rounds": WARM_UP,
            "method": (
                "ledger serve --no-workers on loopback; the dashboard GET with a session"
                " cookie, timed to the whole body; against the sequential sum of the API's"
                " GETs of the same questions (same as_of: none; limit=1000, cursors"
                " followed), in alternating order; p95 over rounds; ratio = median of"
                " per-round page/api"
            ),
            "as_of": None,
            "api_questions": list(QUESTIONS),
            "api_requests_per_round": requests,
            "api_items_per_round": items,
            "page_bytes": size,
            "page_p50_ms": round(statistics.median(page_times), 1),
            "api_p50_ms": round(statistics.median(api_times), 1),
        },
    }
