"""The yearly report against a real nats-server: its PDF's text and its HTML carry the figures
the API answers for the year, and nothing of the years around it.

A partnership is recorded on a clock that walks through two reporting years, 2024-25 and
2025-26, then past the end of 2025-26, where an opt-out is recorded late, backdated into
2025-26, and another one occurs in 2026-27. The report of 2025-26 is downloaded from the
HTTP API (served by uvicorn) and written by ``ledger report --url``; its figures are
compared with what the API's own questions answer for the year as of its end, counted
here independently, and with figures known from the scenario.
"""

from __future__ import annotations

import io
import re
import socket
import stat
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cli_support import ledger as run_ledger
from ledger_scenario import CHILD, HEALTH, LA, PARTNERSHIP, POLICE, STAGES, FixedClock
from pypdf import PdfReader
from structlog.testing import capture_logs

from interfaces.http import create_app
from ledger.application import Ledger
from projections import Views
from projections.sqlite import SQLiteViewStore
from runtime.settings import Settings
from runtime.tokens import Role, TokenStore

P = PARTNERSHIP
YEAR = "2025-26"
FIRST, LAST = date(2025, 4, 1), date(2026, 3, 31)
#: The end of 31 March 2026 in London (BST starts on 29 March 2026): 22:59:59.999999 UTC.
YEAR_END = "2026-03-31T22:59:59.999999+00:00"
KINDS = [
    "information_withheld",
    "meeting_not_attended",
    "report_not_provided",
    "request_not_answered",
    "other",
    "recommendation_rejected",
]
STATUSES = ["on_time", "late", "open", "overdue", "not_applicable"]


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def record_scenario(app: Ledger, clock: FixedClock) -> None:
    """Two years of a partnership (la, police, health), then a late recording after the second."""

    def on(day: date) -> None:
        clock.now = _at(day)

    def do(name: str, /, **kwargs: Any) -> None:
        getattr(app, name)(partnership=P, **kwargs)

    on(date(2024, 5, 1))
    do(
        "establish_partnership",
        recorded_by=LA,
        name="Northshire Safeguarding Children Partnership",
        nation="england",
        escalation_stages=STAGES,
    )
    for who, kind in ((LA, "local_authority"), (POLICE, "police"), (HEALTH, "health")):
        do(
            "register_agency",
            recorded_by=LA,
            agency=who["agency"],
            name=who["agency"].title(),
            kind=kind,
            role="statutory_partner",
        )
    do("open_case", recorded_by=LA, case="c-1", children=[{"child": CHILD, "age_band": "5_9"}])
    for agency in ("police", "health"):
        do("join_case", recorded_by=LA, case="c-1", agency=agency)

    # 2024-25: none of it is the report's, except the recommendation still open in 2025-26.
    on(date(2024, 6, 10))
    refuse = {"recorded_by": LA, "case": "c-1"}
    do("refuse_cooperation", **refuse, agency="police", kind="information_withheld",
       basis="no_stated_basis")  # fmt: skip
    do("record_action", recorded_by=LA, case="c-1", action="referral_received")
    do("record_action", recorded_by=LA, case="c-1", action="referral_decision",
       outcome="section17")  # fmt: skip
    on(date(2024, 7, 1))
    do("raise_challenge", recorded_by=LA, challenge="ch0", against_agency="police",
       matter="information_sharing", summary="free-text summary", case="c-1")  # fmt: skip
    on(date(2024, 7, 3))
    do("resolve_challenge", recorded_by=LA, challenge="ch0", outcome="agreed_way_forward")
    on(date(2024, 9, 2))
    do("notify_serious_incident", recorded_by=LA, review="rv0", child=CHILD,
       incident="serious_harm", became_aware_at=_at(date(2024, 8, 30)),
       notified_panel_at=_at(date(2024, 9, 2)), case="c-1")  # fmt: skip
    issue = {"recorded_by": LA, "text": "free-text recommendation"}
    do("issue_recommendation", **issue, review="rv0", recommendation="r0", owner="health",
       due=date(2025, 1, 31), theme="information_sharing")  # fmt: skip
    do("issue_recommendation", **issue, review="rv0", recommendation="r9", owner="police",
       due=date(2025, 6, 30), theme="multi_agency_working")  # fmt: skip
    on(date(2024, 9, 20))
    do("accept_recommendation", recorded_by=HEALTH, review="rv0", recommendation="r0")
    on(date(2025, 1, 10))
    do("implement_recommendation", recorded_by=HEALTH, review="rv0", recommendation="r0")

    # 2025-26: the report's year.
    on(date(2025, 5, 6))
    do("refuse_cooperation", **refuse, agency="police", kind="information_withheld",
       basis="more_detrimental_to_child")  # fmt: skip
    do("record_action", recorded_by=LA, case="c-1", action="referral_received")
    do("record_action", recorded_by=LA, case="c-1", action="referral_decision",
       outcome="section47")  # fmt: skip
    on(date(2025, 6, 2))
    do("refuse_cooperation", **refuse, agency="health", kind="meeting_not_attended",
       basis="no_stated_basis")  # fmt: skip
    do("raise_challenge", recorded_by=LA, challenge="ch1", against_agency="police",
       matter="threshold_decision", summary="free-text summary", case="c-1")  # fmt: skip
    on(date(2025, 6, 16))
    do("escalate_challenge", recorded_by=LA, challenge="ch1", to_stage=2)
    on(date(2025, 6, 18))
    do("resolve_challenge", recorded_by=LA, challenge="ch1", outcome="agreed_way_forward")
    on(date(2025, 7, 1))
    do("refuse_cooperation", **refuse, agency="police", kind="report_not_provided",
       basis="legal_prohibition", reason="free-text reason")  # fmt: skip
    on(date(2025, 8, 4))
    do("notify_serious_incident", recorded_by=LA, review="rv1", child=CHILD,
       incident="serious_harm", became_aware_at=_at(date(2025, 8, 1)),
       notified_panel_at=_at(date(2025, 8, 4)), case="c-1")  # fmt: skip
    do("issue_recommendation", **issue, review="rv1", recommendation="r1", owner="police",
       due=date(2025, 12, 1), theme="information_sharing")  # fmt: skip
    do("issue_recommendation", **issue, review="rv1", recommendation="r2", owner="la",
       due=date(2026, 6, 1), theme="voice_of_the_child")  # fmt: skip
    do("issue_recommendation", **issue, review="rv1", recommendation="r3", owner="health",
       due=date(2026, 1, 15), theme="information_sharing")  # fmt: skip
    on(date(2025, 8, 11))
    do("accept_recommendation", recorded_by=POLICE, review="rv1", recommendation="r1")
    do("reject_recommendation", recorded_by=HEALTH, review="rv1", recommendation="r3",
       basis="free-text basis")  # fmt: skip
    on(date(2025, 9, 1))
    do("raise_challenge", recorded_by=HEALTH, challenge="ch2", against_agency="la",
       matter="information_sharing", summary="free-text summary", case="c-1")  # fmt: skip

    # After 2025-26 ended: one backdated into it, one of 2026-27.
    on(date(2026, 4, 20))
    do("refuse_cooperation", **refuse, agency="police", kind="meeting_not_attended",
       basis="no_stated_basis", occurred_at=_at(date(2026, 2, 10)))  # fmt: skip
    on(date(2026, 5, 5))
    do("refuse_cooperation", **refuse, agency="health", kind="other", basis="other")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class World:
    url: str
    tokens: TokenStore
    #: Where the ledger is: the session's nats-server, the stream and subject prefix.
    nats: dict[str, str]

    def token(self, role: Role, agency: str | None = "la") -> str:
        agency = None if role is Role.INSPECTOR else agency
        actor = None if agency is None else f"act_{agency}-000001"
        token, _ = self.tokens.issue(role, P, agency=agency, actor=actor)
        return token

    def get(self, path: str, role: Role = Role.BOARD, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(role)}"}
        return httpx.get(f"{self.url}/partnerships/{P}/{path}", params=params, headers=headers)

    def items(self, path: str, **params: str) -> list[dict[str, Any]]:
        """Every item of a list question, asked as of the year's end, page after page."""
        found: list[dict[str, Any]] = []
        asked: dict[str, str] = {"as_of": YEAR_END, "limit": "1000", **params}
        while True:
            response = self.get(path, **asked)
            assert response.status_code == 200, response.text
            body = response.json()
            found += body["items"]
            if body["next"] is None:
                return found
            asked = {"cursor": body["next"], "limit": "1000"}


@pytest.fixture(scope="module")
def world(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    unique = f"{time.monotonic_ns():x}"[-10:]
    nats = {
        "NATS_URL": nats_url,
        "NATS_STREAM": f"LEDGER_Y{unique}",
        "NATS_SUBJECT_PREFIX": f"ldy{unique}",
    }
    env = Settings(
        stream=nats["NATS_STREAM"], subject_prefix=nats["NATS_SUBJECT_PREFIX"]
    ).persistence_env(nats_url)
    data = tmp_path_factory.mktemp("report")
    clock = FixedClock()
    app = Ledger(env=env, clock=clock)
    views = Views(SQLiteViewStore(data / "views.sqlite"))
    tokens = TokenStore(data / "tokens")
    try:
        with capture_logs():
            record_scenario(app, clock)
            views.runner(app).catch_up()
        service = create_app(app, tokens, views=views)
        port = _free_port()
        config = uvicorn.Config(
            service, host="127.0.0.1", port=port, log_config=None, access_log=False
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        with capture_logs():
            thread.start()
            deadline = time.monotonic() + 30
            while not server.started:
                assert thread.is_alive(), "uvicorn stopped while starting"
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.05)
            try:
                yield World(url=f"http://127.0.0.1:{port}", tokens=tokens, nats=nats)
            finally:
                server.should_exit = True
                thread.join(timeout=30)
    finally:
        app.close()
        views.close()


@pytest.fixture(scope="module")
def pdf_text(world: World) -> str:
    response = world.get("report", year=YEAR, format="pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert f'filename="report-{P}-{YEAR}.pdf"' in response.headers["content-disposition"]
    reader = PdfReader(io.BytesIO(response.content))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


class _Tables(HTMLParser):
    """Every table row, its cells' texts joined by one space."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(" ".join(self._row))
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _svg_openings(html: str) -> list[str]:
    """The first two elements of each ``<svg>`` of ``html``, with their text."""
    return re.findall(r"<svg\b[^>]*>\s*(<\w+[^>]*>[^<]*</\w+>\s*<\w+[^>]*>[^<]*</\w+>)", html)


@pytest.fixture(scope="module")
def html(world: World) -> str:
    response = world.get("report", year=YEAR, format="html")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


@pytest.fixture(scope="module")
def html_rows(html: str) -> list[str]:
    parser = _Tables()
    parser.feed(html)
    return parser.rows


# -- the API's figures for the year, counted here --------------------------------------


def opt_out_rows(world: World) -> list[str]:
    entries = world.items("opt-outs", date_from=FIRST.isoformat(), date_to=LAST.isoformat())
    rows = []
    for agency in ("health", "la", "police"):
        kinds = Counter(e["kind"] for e in entries if e["agency"] == agency)
        cells = [str(kinds[k]) for k in KINDS]
        rows.append(f"{agency} {' '.join(cells)} {sum(kinds.values())}")
    return rows


def timeliness_rows(world: World) -> list[str]:
    clocks = [
        c for c in world.items("timeliness") if FIRST <= date.fromisoformat(c["started_on"]) <= LAST
    ]
    rows = []
    for rule in sorted({c["rule"] for c in clocks}):
        status = Counter(c["status"] for c in clocks if c["rule"] == rule)
        late = max(c["days_late"] for c in clocks if c["rule"] == rule)
        cells = " ".join(str(status[s]) for s in STATUSES)
        rows.append(f"{rule} {sum(status.values())} {cells} {late}")
    return rows


def challenge_rows(world: World) -> list[str]:
    found = world.items("challenges", date_from=FIRST.isoformat(), date_to=LAST.isoformat())
    return [
        f"raised {len(found)}",
        f"escalated {sum(1 for c in found if c['stage_reached'] > 1)}",
        f"resolved {sum(1 for c in found if c['status'] == 'resolved')}",
        f"open {sum(1 for c in found if c['status'] == 'open')}",
    ]


def recommendation_rows(world: World) -> list[str]:
    def closed_before(r: dict[str, Any]) -> bool:
        closed = r["implemented_at"] or r["rejected_at"]
        return closed is not None and datetime.fromisoformat(closed).date() < FIRST

    found = [r for r in world.items("recommendations") if not closed_before(r)]
    states = Counter(r["state"] for r in found)
    return [f"{s} {states[s]}" for s in ("issued", "accepted", "rejected", "implemented")]


class TestThePdf:
    def test_opens_and_names_the_partnership_the_year_and_its_end(self, pdf_text: str) -> None:
        assert "Northshire Safeguarding Children Partnership" in pdf_text
        assert "the reporting year 2025-26, 1 April 2025 to 31 March 2026" in pdf_text
        assert "2026-03-31 22:59 UTC" in pdf_text

    def test_carries_the_apis_opt_outs_by_agency_and_kind(
        self, world: World, pdf_text: str
    ) -> None:
        rows = opt_out_rows(world)
        # Known from the scenario: police withheld (s16LA) and gave no report; health
        # missed a meeting and rejected r3; the 2024-25 refusal is not the year's.
        assert rows == ["health 0 1 0 0 0 1 2", "la 0 0 0 0 0 0 0", "police 1 0 1 0 0 0 2"]
        for row in rows:
            assert row in pdf_text

    def test_shows_decisions_not_to_share_apart_with_their_basis(self, pdf_text: str) -> None:
        # Standing per agency: decision not to share, stated basis, no stated basis.
        assert "police 1 1 0" in pdf_text
        assert "health 0 1 1" in pdf_text
        assert "Decisions not to share (s16LA) 1" in pdf_text

    def test_carries_the_apis_timeliness_per_rule(self, world: World, pdf_text: str) -> None:
        rows = timeliness_rows(world)
        assert any(r.startswith("referral_decision 1 1 0 0 0 0") for r in rows), rows
        for row in rows:
            assert row in pdf_text
        assert "local_practice_review 0 0 0 0 0 0 0" in pdf_text  # every rule is listed

    def test_carries_the_apis_challenges_raised_escalated_and_resolved(
        self, world: World, pdf_text: str
    ) -> None:
        rows = challenge_rows(world)
        assert rows == ["raised 2", "escalated 1", "resolved 1", "open 1"]
        for row in rows:
            assert row in pdf_text

    def test_carries_the_apis_recommendations_by_status(self, world: World, pdf_text: str) -> None:
        rows = recommendation_rows(world)
        # r9 carried over from 2024-25 and still issued; r0, implemented then, is not.
        assert rows == ["issued 2", "accepted 1", "rejected 1", "implemented 0"]
        for row in rows:
            assert row in pdf_text

    def test_marks_a_theme_recurring_across_the_years_reviews(self, pdf_text: str) -> None:
        assert "information sharing 2 1 recurring 2" in pdf_text

    def test_counts_nothing_recorded_after_the_year_ended_even_backdated_into_it(
        self, world: World, pdf_text: str
    ) -> None:
        # Now, the API knows police missed a meeting on 10 February 2026 (recorded on
        # 20 April); at the year's end it did not, and the report is as of then.
        now = world.get(
            "opt-outs", date_from=FIRST.isoformat(), date_to=LAST.isoformat(), limit="1000"
        ).json()["items"]
        assert any(e["agency"] == "police" and e["kind"] == "meeting_not_attended" for e in now)
        assert "police 1 0 1 0 0 0 2" in pdf_text
        assert "what was recorded after then, even about the year's days, is not counted" in (
            pdf_text
        )
        # ... and says how much it leaves out: the one opt-out; the 2026-27 one is not the year's.
        assert "opt-outs of the year's days 1" in pdf_text
        assert "challenges raised on the year's days 0" in pdf_text
        assert "statutory clocks started on the year's days 0" in pdf_text


class TestTheHtml:
    def test_tables_carry_the_same_figures_as_the_api(
        self, world: World, html_rows: list[str]
    ) -> None:
        expected = (
            opt_out_rows(world)
            + timeliness_rows(world)
            + challenge_rows(world)
            + recommendation_rows(world)
        )
        for row in expected:
            assert row in html_rows

    def test_every_chart_has_a_title_and_a_description(self, html: str) -> None:
        assert html.count("<svg") >= 6
        openings = _svg_openings(html)
        assert len(openings) == html.count("<svg")
        for opening in openings:
            # A title then a description, each with words, and the svg labelled by both.
            assert re.fullmatch(r'<title id="([\w-]+)-title">[^<]+</title>\s*'
                                r'<desc id="\1-desc">[^<]+</desc>', opening), opening  # fmt: skip

    def test_free_text_of_the_events_is_left_out(self, html: str, pdf_text: str) -> None:
        # The challenges' summaries, the refusal's reason, the rejection's basis and the
        # recommendations' text all start "free-text" in the scenario.
        assert "free-text" not in html
        assert "free-text" not in pdf_text


class TestRefusals:
    def test_an_agency_token_is_refused_403(self, world: World) -> None:
        response = world.get("report", role=Role.AGENCY, year=YEAR)
        assert response.status_code == 403
        assert "may not read the yearly report" in response.json()["detail"]

    def test_an_inspector_may_download_it(self, world: World) -> None:
        response = world.get("report", role=Role.INSPECTOR, year=YEAR, format="html")
        assert response.status_code == 200

    def test_a_bad_year_is_refused_400_naming_the_rule(self, world: World) -> None:
        body = world.get("report", year="2025-27").json()
        assert body["status"] == 400
        assert body["field"] == "year"
        assert "2025-26" in body["rule"]

    def test_a_year_before_the_partnership_is_refused(self, world: World) -> None:
        body = world.get("report", year="2023-24").json()
        assert body["status"] == 400
        assert "was not established by" in body["detail"]

    def test_an_unknown_partnership_is_404(self, world: World) -> None:
        headers = {"Authorization": f"Bearer {world.token(Role.BOARD)}"}
        response = httpx.get(
            f"{world.url}/partnerships/{P}/report", params={"year": YEAR}, headers=headers
        )
        assert response.status_code == 200
        other = world.tokens.issue(Role.BOARD, "southshire", agency="la", actor="act_la-000001")[0]
        response = httpx.get(
            f"{world.url}/partnerships/southshire/report",
            params={"year": YEAR},
            headers={"Authorization": f"Bearer {other}"},
        )
        assert response.status_code == 404
        assert response.json()["field"] == "partnership"

    def test_the_route_is_documented_in_openapi(self, world: World) -> None:
        document = httpx.get(f"{world.url}/schema/openapi.json").json()
        operation = document["paths"]["/partnerships/{partnership}/report"]["get"]
        assert {p["name"] for p in operation["parameters"]} >= {"partnership", "year", "format"}
        assert set(operation["responses"]["200"]["content"]) == {"application/pdf", "text/html"}


class TestTheCommand:
    def test_writes_the_html_and_the_pdf_0600_through_the_service(
        self, world: World, tmp_path: Path, pdf_text: str
    ) -> None:
        env = {"LEDGER_URL": world.url, "LEDGER_TOKEN": world.token(Role.BOARD)}
        out = tmp_path / "out"
        result = run_ledger(
            "report", "--partnership", P, "--year", YEAR, "--out", str(out), env=env
        )
        assert result.exit_code == 0, result.output + result.stderr
        written = sorted(out.iterdir())
        assert [p.name for p in written] == [f"report-{P}-{YEAR}.html", f"report-{P}-{YEAR}.pdf"]
        for path in written:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = " ".join(
            " ".join(page.extract_text().split()) for page in PdfReader(written[1]).pages
        )
        assert text == pdf_text

    def test_on_the_data_dir_writes_the_same_report_as_the_service(
        self,
        world: World,
        tmp_path: Path,
        pdf_text: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        env = {**world.nats, "LEDGER_DATA_DIR": str(tmp_path / "data")}
        for name in ("LEDGER_URL", "LEDGER_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr("runtime.bootstrap.configure_logging", lambda **_: None)
        out = tmp_path / "out"
        with capture_logs():
            result = run_ledger(
                "report", "--partnership", P, "--year", YEAR, "--out", str(out), env=env
            )
            unknown = run_ledger(
                "report", "--partnership", "southshire", "--year", YEAR, "--out", str(out),
                env=env,
            )  # fmt: skip
        assert result.exit_code == 0, result.output + result.stderr
        pdf = out / f"report-{P}-{YEAR}.pdf"
        text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(pdf).pages)
        assert text == pdf_text
        assert stat.S_IMODE(out.stat().st_mode) == 0o700
        assert unknown.exit_code == 1
        assert "partnership 'southshire' is not known to the ledger" in unknown.stderr

    def test_an_unknown_partnership_fails_with_exit_1_naming_it(
        self, world: World, tmp_path: Path
    ) -> None:
        other = world.tokens.issue(Role.BOARD, "southshire", agency="la", actor="act_la-000001")[0]
        env = {"LEDGER_URL": world.url, "LEDGER_TOKEN": other}
        result = run_ledger(
            "report", "--partnership", "southshire", "--year", YEAR, "--out", str(tmp_path), env=env
        )
        assert result.exit_code == 1
        assert "partnership 'southshire' is not known to the ledger" in result.stderr
        assert list(tmp_path.iterdir()) == []

    def test_an_agency_token_fails_with_exit_1_and_the_403(
        self, world: World, tmp_path: Path
    ) -> None:
        env = {"LEDGER_URL": world.url, "LEDGER_TOKEN": world.token(Role.AGENCY)}
        result = run_ledger(
            "report", "--partnership", P, "--year", YEAR, "--out", str(tmp_path), env=env
        )
        assert result.exit_code == 1
        assert "(403)" in result.stderr

    def test_a_malformed_year_is_a_usage_error(self, tmp_path: Path) -> None:
        result = run_ledger("report", "--partnership", P, "--year", "25", "--out", str(tmp_path))
        assert result.exit_code == 2
        assert "--year" in result.stderr


def test_the_years_bounds_are_londons_days() -> None:
    from interfaces.report import parse_year

    year = parse_year(YEAR)
    assert (year.first_day, year.last_day) == (FIRST, LAST)
    assert year.end.isoformat() == YEAR_END
    assert year.end + timedelta(microseconds=1) == datetime(2026, 3, 31, 23, tzinfo=UTC)
    calendar = parse_year("2025")
    assert (calendar.first_day, calendar.last_day) == (date(2025, 1, 1), date(2025, 12, 31))
