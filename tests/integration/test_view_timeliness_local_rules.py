"""The timeliness view on a partnership's own rules: a start without the date its limit
names starts no clock, and the view keeps running (it used to stop on a TypeError)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from clock_support import a_rule, rules_file
from ledger_scenario import CASE, LA, PARTNERSHIP, FixedClock
from views_support import catch_up, demo_ledger

from projections._store import ViewStore
from projections.clocks import load_rules
from projections.timeliness import TimelinessView


def test_a_request_without_its_due_date_starts_no_clock_and_the_view_goes_on(
    clock: FixedClock, view_store: ViewStore, tmp_path: Path
) -> None:
    local = tmp_path / "local.toml"
    local.write_text(rules_file(a_rule(limit="event:due_by", unit="calendar_days")))
    ledger = demo_ledger(clock, CASE, joined=["police"])
    on_case = {"partnership": PARTNERSHIP, "case": CASE, "recorded_by": LA}
    ledger.request_information(**on_case, request="rq-1", to_agency="police")
    due = datetime(2026, 3, 20, 17, 0, tzinfo=UTC)
    ledger.request_information(**on_case, request="rq-2", to_agency="police", due_by=due)
    view = TimelinessView(view_store, rules=load_rules(local))

    catch_up(ledger, view_store, view)

    clocks = view.clocks(PARTNERSHIP, as_of=date(2026, 3, 31), rule="information_request")
    assert [(c.key, c.agency, c.due, c.status) for c in clocks] == [
        ("rq-2", "police", date(2026, 3, 20), "overdue")
    ]
