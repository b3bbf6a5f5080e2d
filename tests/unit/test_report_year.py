"""The yearly report's year: April to March (``2025-26``) or a calendar year (``2025``), in
London's days, and the instant a report of it is as of."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from interfaces.report import InvalidReportYear, parse_year, report_instant


class TestParseYear:
    def test_a_reporting_year_runs_from_april_to_march(self) -> None:
        year = parse_year("2025-26")
        assert (year.kind, year.first_day, year.last_day) == ("reporting", date(2025, 4, 1),
                                                              date(2026, 3, 31))  # fmt: skip
        assert year.contains(date(2026, 3, 31))
        assert not year.contains(date(2025, 3, 31))

    def test_a_calendar_year_runs_from_january_to_december(self) -> None:
        year = parse_year("2025")
        assert (year.kind, year.first_day, year.last_day) == ("calendar", date(2025, 1, 1),
                                                              date(2025, 12, 31))  # fmt: skip

    def test_a_year_ends_at_midnight_in_london_summer_time_or_not(self) -> None:
        assert parse_year("2025-26").end == datetime(2026, 3, 31, 22, 59, 59, 999999, tzinfo=UTC)
        assert parse_year("2025").end == datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
        assert parse_year("1999-00").last_day == date(2000, 3, 31)

    @pytest.mark.parametrize("text", ["2025-27", "2025-2026", "25", "2025/26", "", "20255"])
    def test_anything_else_is_refused_naming_the_field_and_the_rule(self, text: str) -> None:
        with pytest.raises(InvalidReportYear, match=r"^year .*; rule: a year is a reporting year"):
            parse_year(text)

    def test_a_year_before_1900_is_refused(self) -> None:
        with pytest.raises(InvalidReportYear, match="out of range"):
            parse_year("1899-00")


class TestReportInstant:
    NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)

    def test_a_year_over_is_reported_as_of_its_end(self) -> None:
        year = parse_year("2025-26")
        assert report_instant(year, self.NOW) == (year.end, True)

    def test_a_year_running_is_reported_as_of_now(self) -> None:
        assert report_instant(parse_year("2026-27"), self.NOW) == (self.NOW, False)

    def test_a_year_not_begun_is_refused(self) -> None:
        with pytest.raises(InvalidReportYear, match="begins on 2027-04-01, after today"):
            report_instant(parse_year("2027-28"), self.NOW)
