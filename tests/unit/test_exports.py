"""Exports: a view's answer flattened to rows, as CSV that parses back into the JSON's rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import msgspec

from interfaces.exports import REVIEW_COLUMNS, cell, columns, review_rows, rows, to_csv, to_json
from projections.challenges import ChallengeSummary, StageTiming
from projections.chronology import Chronology, ChronologyEntry

T = datetime(2026, 6, 1, 8, 30, tzinfo=UTC)


def _entry(seq: int, what: str = "Case opened") -> ChronologyEntry:
    return ChronologyEntry(
        sequence=seq,
        occurred_at=T,
        recorded_at=T,
        agency="la",
        actor="act_1",
        source="case_record",
        event_type="CaseOpened",
        aggregate="case.c-1",
        what=what,
    )


def _parsed(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:], newline="")))


class TestRows:
    def test_nested_fields_become_dotted_columns_enums_values_and_dates_iso(self) -> None:
        stage = StageTiming(
            stage=1,
            started_at=T,
            started_on=date(2026, 6, 1),
            started_by="raised",
            limit_working_days=5,
            limit_defined=True,
            due_on=date(2026, 6, 8),
        )
        summary = ChallengeSummary(
            challenge="ch-1",
            by_agency="la",
            against_agency="police",
            matter="information_sharing",
            case=None,
            raised_at=T,
            raised_on=date(2026, 6, 1),
            current_stage=1,
            stage_reached=1,
            status="open",
            outcome=None,
            ended_at=None,
            ended_on=None,
            stages=[stage],
        )
        [row] = rows([summary])
        assert row["raised_at"] == "2026-06-01T08:30:00+00:00"
        assert row["stages.1.due_on"] == "2026-06-08"
        assert row["case"] is None

    def test_a_chronology_is_one_row_per_entry_and_its_review_layout_is_london_time(self) -> None:
        chronology = Chronology(partnership="p", case="c-1", as_of=None, entries=[_entry(1)])
        assert [r["sequence"] for r in rows(chronology)] == [1]
        [review] = review_rows(chronology)
        assert tuple(review) == REVIEW_COLUMNS
        assert (review["date"], review["time"], review["event"]) == (
            "2026-06-01",
            "09:30",
            "Case opened",
        )


class TestCsv:
    def test_csv_has_a_bom_and_parses_back_into_the_json_rows(self) -> None:
        table = rows([_entry(1, 'a, "quoted"\nline'), _entry(2, "=cmd")])
        text = to_csv(table)
        decoded = msgspec.json.decode(to_json(table))
        assert _parsed(text) == [{k: cell(v) for k, v in r.items()} for r in decoded]
        assert _parsed(text)[0]["what"] == 'a, "quoted"\nline'
        assert _parsed(text)[1]["what"] == "'=cmd"  # Excel shows it as text

    def test_columns_keep_first_seen_order_and_missing_cells_are_empty(self) -> None:
        table = [{"a": 1, "c": 3}, {"a": 1, "b": 2, "c": 3}]
        assert columns(table) == ["a", "b", "c"]
        assert _parsed(to_csv(table))[0] == {"a": "1", "b": "", "c": "3"}
