"""Whatever a file holds, an import either writes all it checked or nothing (no I/O)."""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ledger_scenario import PARTNERSHIP, FixedClock
from views_support import demo_ledger

from interfaces.imports import ImportRefused, import_escalations
from ledger import Ledger, LedgerError
from schemas import RecordedBy

HEADER = "reference,date,from agency,to agency,matter,stage,response date,outcome,case,summary\n"
#: Per column, values mostly valid, some not (a formula, a bidi override, oversize text).
COLUMNS = [
    ["", "E-1", "E-2"],
    ["2025-02-03", "03/02/2025", "31/02/2025", "2099-01-01"],
    ["la", "la", "police", "fire", "=SUM(A1)"],
    ["police", "police", "la", "la"],
    ["attendance", "Threshold", "vibes"],
    ["1", "1", "2", "stage 2", "9"],
    ["", "2025-02-05", "x"],
    ["", "", "upheld", "withdrawn", "nope"],
    ["", "", "c-1", "c-9"],
    ["", "", "'=1", "\u202e", "x" * 2100, '"a,b"'],
]
#: The values of each column that are valid on their own (a file of them may still break a
#: rule: a response from the raising agency, an escalation downwards ...).
VALID = [
    ["", "E-1", "E-2"],
    ["2025-02-03", "03/02/2025"],
    ["la", "police"],
    ["police", "la"],
    ["attendance", "Threshold"],
    ["1", "2", "stage 2"],
    ["", "2025-02-05"],
    ["", "upheld", "withdrawn"],
    ["", "c-1"],
    ["", "'=1", '"a,b"'],
]


def _rows(columns: list[list[str]]) -> st.SearchStrategy[str]:
    row = st.tuples(*(st.sampled_from(c) for c in columns)).map(",".join)
    return st.lists(row, max_size=6).map(lambda rows: HEADER + "\n".join(rows))


FILES = st.one_of(_rows(VALID), _rows(COLUMNS))
RECORDER = RecordedBy(agency="la", actor="act_sw00042")


def _last(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


class TestAnyFile:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.one_of(FILES, st.text(max_size=300)))
    def test_an_import_writes_every_checked_event_or_nothing(self, text: str) -> None:
        ledger = demo_ledger(FixedClock(), "c-1", joined=["police"])
        before = _last(ledger)
        try:
            outcome = import_escalations(
                ledger, text.encode(), file_name="f.csv", partnership=PARTNERSHIP,
                recorded_by=RECORDER,
            )  # fmt: skip
        except ImportRefused:
            event("file refused")
            assert _last(ledger) == before
            return
        except LedgerError as error:  # pragma: no cover - reported with the text below
            raise AssertionError(f"not reported line by line: {error}") from error
        event("refused" if outcome.refused else "written" if outcome.written else "nothing")
        if outcome.refused:
            assert _last(ledger) == before
            assert all(p.line >= 1 for p in outcome.problems)
        else:
            assert _last(ledger) == before + len(outcome.written)
