"""Reading a partnership's CSV file: limits, encoding, header, cells (no I/O)."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

import schemas
from interfaces.imports._sheet import (
    MAX_BYTES,
    MAX_ROWS,
    ImportRefused,
    Problem,
    parse_date,
    parse_time,
    read_sheet,
)

COLUMNS = {
    "required": ("date", "from agency"),
    "optional": ("outcome",),
    "aliases": {"from": "from agency"},
}


def read(text: str | bytes) -> tuple[list[tuple[int, dict[str, str]]], list[Problem]]:
    data = text.encode() if isinstance(text, str) else text
    sheet = read_sheet(data, "log.csv", **COLUMNS)  # type: ignore[arg-type]
    return sheet.rows, sheet.problems


class TestReadingAFile:
    def test_header_names_are_compared_without_case_spaces_or_underscores(self) -> None:
        rows, problems = read("\ufeffDATE,From_Agency , Outcome\n2025-01-02,la,upheld\n")
        assert problems == []
        assert rows == [(2, {"date": "2025-01-02", "from agency": "la", "outcome": "upheld"})]

    def test_an_alias_names_its_column(self) -> None:
        rows, _ = read("date,from\n2025-01-02,la\n")
        assert rows[0][1]["from agency"] == "la"

    def test_an_unknown_repeated_or_missing_column_is_a_problem_of_line_1(self) -> None:
        _, problems = read("date,respone date,date\n")
        assert [(p.line, p.column) for p in problems] == [
            (1, "respone date"),
            (1, "date"),
            (1, "from agency"),
        ]
        assert "is not a column of this file (rule: the columns are date, from agency" in str(
            problems[0]
        )

    def test_blank_rows_are_passed_over_and_lines_keep_their_spreadsheet_numbers(self) -> None:
        rows, _ = read('date,from agency\n,\n2025-01-02,"la\nx"\n2025-01-03,police\n')
        assert [number for number, _ in rows] == [3, 4]

    def test_a_row_with_more_cells_than_the_header_is_a_problem(self) -> None:
        rows, problems = read("date,from agency\n2025-01-02,la,extra\n")
        assert rows == []
        assert str(problems[0]).startswith("line 2: has 3 cells, the header 2")

    def test_the_quote_an_export_puts_before_a_formula_is_taken_off_and_formulas_stay_text(
        self,
    ) -> None:
        rows, _ = read("date,from agency\n'=2025,=SUM(A1)\n")
        assert rows[0][1] == {"date": "=2025", "from agency": "=SUM(A1)"}

    def test_a_file_over_the_size_limit_is_refused_whole(self) -> None:
        with pytest.raises(ImportRefused, match="is over 5,242,880 bytes"):
            read(b"date,from agency\n" + b"x" * MAX_BYTES)

    def test_a_file_that_is_not_utf8_is_refused_with_the_byte(self) -> None:
        with pytest.raises(ImportRefused, match="is not UTF-8 at byte 18"):
            read("date,from agency\nl\xe4,x\n".encode("latin-1"))

    def test_a_file_with_a_nul_is_refused(self) -> None:
        with pytest.raises(ImportRefused, match="NUL"):
            read("date,from agency\nla\x00,x\n")

    def test_more_rows_than_the_limit_is_a_problem(self) -> None:
        rows, problems = read("date,from agency\n" + "2025-01-02,la\n" * (MAX_ROWS + 1))
        assert len(rows) == MAX_ROWS
        assert str(problems[-1]).startswith(f"line {MAX_ROWS + 2}: the file has more than")


class TestCells:
    @pytest.mark.parametrize("text", ["2025-02-03", "03/02/2025", "3/2/2025"])
    def test_a_date_is_iso_or_day_first(self, text: str) -> None:
        assert parse_date(text) == date(2025, 2, 3)

    @pytest.mark.parametrize("text", ["31/02/2025", "2025-13-01", "Feb 3", "=TODAY()"])
    def test_anything_else_is_not_a_date(self, text: str) -> None:
        with pytest.raises(ValueError, match="is not a calendar date"):
            parse_date(text)

    def test_a_time_is_on_the_24_hour_clock(self) -> None:
        assert parse_time("09:30") == time(9, 30)
        with pytest.raises(ValueError, match="is not a time"):
            parse_time("9.30am")


class TestTheImportedSource:
    def test_an_event_stored_before_imported_existed_still_decodes(self) -> None:
        stored = (
            b'{"type":"ChallengeResolved","occurred_at":"2025-02-17T00:00:00Z",'
            b'"recorded_at":"2025-02-18T09:00:00Z","recorded_by":{"agency":"la",'
            b'"actor":"act_sw00042"},"source":{"kind":"case_record"},"outcome":"upheld"}'
        )
        assert schemas.decode_event(stored).source.kind is schemas.SourceKind.CASE_RECORD
        imported = stored.replace(
            b'{"kind":"case_record"}',
            b'{"kind":"imported","reference":"f.csv line 2 #0123456789abcdef"}',
        )
        assert schemas.decode_event(imported).source.kind is schemas.SourceKind.IMPORTED

    def test_the_event_catalogue_lists_every_source_kind(self) -> None:
        docs = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
        section = docs.split("### `SourceKind`", 1)[1].split("###", 1)[0]
        assert all(f"`{kind.value}`" in section for kind in schemas.SourceKind)
