"""What ``ledger serve --demo`` (``make run``) shows: the demo partnership answers every
question of the dashboard, the recommendations page and the yearly report with rows of
its own, asked through the HTTP API of a real serve.

The figures are asked as of the last day of the demo's simulated timeline
(:data:`runtime.synthetic.END`), so that they do not depend on the day the test runs
(a recommendation or a clock still open then turns overdue as the real calendar moves
on); the recommendations' red and green and an overdue one are also asked of today.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from serve_support import Served, ledger_env

from runtime.demo_partnership import DEMO_PARTNERSHIP, DEMO_TOKENS_FILE
from runtime.synthetic import END

#: The last day of the simulated timeline, in London (END is 23:59:59 UTC on it).
LAST_DAY = END.date().isoformat()


class _Demo:
    """The served demo, asked as the board (every partnership question is open to it)."""

    def __init__(self, served: Served, token: str) -> None:
        self.served = served
        self.token = token

    def items(self, question: str, **params: Any) -> list[Any]:
        response = httpx.get(
            f"{self.served.url}/partnerships/{DEMO_PARTNERSHIP}/{question}",
            params={"limit": 1000, **params},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["next"] is None, f"{question}: more than one page"
        items: list[Any] = body["items"]
        return items


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Demo]:
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    served = Served(ledger_env(data_dir, LEDGER_LOG_LEVEL="WARNING"), "--demo")
    try:
        served.wait_ready()
        tokens = json.loads((data_dir / DEMO_TOKENS_FILE).read_text())["tokens"]
        yield _Demo(served, tokens["board"])
    finally:
        assert served.stop() == 0, served.stderr[-4000:]


@pytest.mark.slow
class TestTheDemoPartnershipAnswersEveryDashboardQuestion:
    def test_it_has_two_or_more_reviews_taken_from_rapid_review_to_publication(
        self, demo: _Demo
    ) -> None:
        reviews = demo.items("reviews", as_of=LAST_DAY)
        published = [
            r
            for r in reviews
            if r["rapid_review_at"] and r["commissioned_at"] and r["published_at"]
        ]
        assert len(published) >= 2, reviews
        assert {r["level"] for r in published} >= {"local"}
        assert all(r["recommendations"] > 0 for r in published)

    def test_its_recommendations_are_red_amber_and_green_with_one_overdue_and_reports(
        self, demo: _Demo
    ) -> None:
        recommendations = demo.items("recommendations", as_of=LAST_DAY)
        assert {r["rag"] for r in recommendations} == {"red", "amber", "green"}
        assert any(r["overdue"] for r in recommendations)
        assert len({r["owner"] for r in recommendations}) >= 3
        assert any(r["reports"] > 0 for r in recommendations)
        assert any(r["rag_source"] == "reported" for r in recommendations)

    def test_today_its_recommendations_still_show_red_and_green_and_an_overdue_one(
        self, demo: _Demo
    ) -> None:
        recommendations = demo.items("recommendations")
        assert {r["rag"] for r in recommendations} >= {"red", "green"}
        assert any(r["overdue"] for r in recommendations)

    def test_a_theme_recurs_across_reviews_of_different_years(self, demo: _Demo) -> None:
        recurring = demo.items("themes/recurring")
        assert recurring
        assert all(t["reviews"] >= 2 and len(t["periods"]) >= 2 for t in recurring)

    def test_its_open_challenges_stand_at_two_stages_and_others_were_resolved(
        self, demo: _Demo
    ) -> None:
        open_now = demo.items("challenges/open", as_of=LAST_DAY)
        assert len({c["current_stage"] for c in open_now}) >= 2
        every = demo.items("challenges", as_of=LAST_DAY)
        assert any(c["status"] == "resolved" for c in every)
        stages = [s for c in every for s in c["stages"]]
        assert any(s["status"] == "escalated_unanswered" for s in stages)
        assert any(c["status"] == "open" and c["current_stage"] > 1 for c in every)

    def test_several_agencies_opted_out_and_one_refused_repeatedly(self, demo: _Demo) -> None:
        by_quarter = demo.items("opt-outs/by-quarter", as_of=LAST_DAY)
        assert len({c["agency"] for c in by_quarter if c["count"]}) >= 3
        assert demo.items("opt-outs/repeated", as_of=LAST_DAY)

    def test_its_clocks_are_on_time_late_open_and_overdue(self, demo: _Demo) -> None:
        statuses = Counter(c["status"] for c in demo.items("timeliness", as_of=LAST_DAY))
        assert {"on_time", "late", "open", "overdue"} <= set(statuses), statuses
        by_rule = demo.items("timeliness/by-rule", as_of=LAST_DAY)
        assert any(p["late"] for p in by_rule)
        assert any(p["overdue"] for p in by_rule)
