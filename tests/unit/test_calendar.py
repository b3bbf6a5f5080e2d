"""Unit tests of the working-day calendars: bank holidays per nation, due dates, London dates.

Every expected date is worked out by hand from the published bank holidays of
England and Wales, so the tests check the ``holidays`` data as well as the arithmetic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Container, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections import calendar as calendar_module
from projections.calendar import (
    WorkingCalendar,
    add_calendar_days,
    add_months,
    calendar_for,
    due_date,
    lateness,
    local_date,
)
from schemas import Nation

NATIONS = pytest.mark.parametrize("nation", [Nation.ENGLAND, Nation.WALES])
D = dt.date


@pytest.fixture
def fresh_calendars() -> Iterator[None]:
    """Forget the cached calendars before and after a test that changes their source."""
    calendar_for.cache_clear()
    yield
    calendar_for.cache_clear()


class TestWorkingDays:
    @NATIONS
    def test_fifteen_working_days_from_mid_december_2025_skip_christmas_boxing_and_new_year(
        self, nation: Nation
    ) -> None:
        # 16-19, 22-24 Dec (7); 25, 26 Dec are bank holidays; 29-31 Dec (10);
        # 1 Jan is a bank holiday; 2, 5, 6, 7, 8 Jan (15).
        assert calendar_for(nation).add_working_days(D(2025, 12, 15), 15) == D(2026, 1, 8)

    @NATIONS
    def test_boxing_day_on_a_saturday_moves_the_holiday_to_monday_28_december_2026(
        self, nation: Nation
    ) -> None:
        # 15-18, 21-24 Dec (8); 25 Dec Friday; 26, 27 weekend; 28 Dec substitute day;
        # 29-31 Dec (11); 1 Jan 2027 Friday; 4-7 Jan (15).
        calendar = calendar_for(nation)
        assert not calendar.is_working_day(D(2026, 12, 28))
        assert calendar.add_working_days(D(2026, 12, 14), 15) == D(2027, 1, 7)

    @NATIONS
    def test_five_working_days_over_easter_skip_good_friday_and_easter_monday(
        self, nation: Nation
    ) -> None:
        # Good Friday 3 April and Easter Monday 6 April 2026; 7-10 and 13 April count.
        assert calendar_for(nation).add_working_days(D(2026, 4, 2), 5) == D(2026, 4, 13)

    @NATIONS
    def test_one_working_day_after_the_friday_before_a_bank_holiday_monday_is_tuesday(
        self, nation: Nation
    ) -> None:
        # Early May bank holiday, Monday 4 May 2026.
        assert calendar_for(nation).add_working_days(D(2026, 5, 1), 1) == D(2026, 5, 5)

    @NATIONS
    def test_weekends_and_bank_holidays_are_not_working_days(self, nation: Nation) -> None:
        calendar = calendar_for(nation)
        assert calendar.is_working_day(D(2026, 5, 1))  # Friday
        assert not calendar.is_working_day(D(2026, 5, 2))  # Saturday
        assert not calendar.is_working_day(D(2026, 5, 3))  # Sunday
        assert not calendar.is_working_day(D(2026, 5, 4))  # Early May bank holiday

    def test_zero_working_days_is_the_same_day_even_when_it_is_a_holiday(self) -> None:
        assert calendar_for(Nation.ENGLAND).add_working_days(D(2025, 12, 25), 0) == D(2025, 12, 25)

    def test_a_negative_number_of_working_days_is_refused(self) -> None:
        with pytest.raises(ValueError, match="counts forward only"):
            calendar_for(Nation.ENGLAND).add_working_days(D(2026, 5, 1), -1)

    @NATIONS
    def test_working_days_between_counts_the_half_open_range_and_is_signed(
        self, nation: Nation
    ) -> None:
        calendar = calendar_for(nation)
        assert calendar.working_days_between(D(2026, 5, 1), D(2026, 5, 1)) == 0
        assert calendar.working_days_between(D(2026, 5, 1), D(2026, 5, 5)) == 1
        assert calendar.working_days_between(D(2026, 5, 5), D(2026, 5, 1)) == -1
        assert calendar.working_days_between(D(2025, 12, 15), D(2026, 1, 8)) == 15

    @given(
        start=st.dates(min_value=D(2020, 1, 1), max_value=D(2035, 12, 31)),
        n=st.integers(min_value=0, max_value=300),
    )
    def test_counting_the_days_back_gives_the_number_added(self, start: dt.date, n: int) -> None:
        calendar = calendar_for(Nation.WALES)
        end = calendar.add_working_days(start, n)
        assert calendar.working_days_between(start, end) == n
        assert n == 0 or calendar.is_working_day(end)

    @given(
        a=st.dates(min_value=D(2019, 1, 1), max_value=D(2031, 12, 31)),
        b=st.dates(min_value=D(2019, 1, 1), max_value=D(2031, 12, 31)),
    )
    def test_working_days_between_is_the_count_of_working_days_day_by_day(
        self, a: dt.date, b: dt.date
    ) -> None:
        """Over years (leap ones and bank holidays on either end), whatever the counting."""
        calendar = WorkingCalendar(
            Nation.ENGLAND, bank_holidays={D(2020, 2, 29), D(2024, 12, 31), D(2025, 1, 1)}
        )
        low, high = min(a, b), max(a, b)
        days = (low + dt.timedelta(days=i + 1) for i in range((high - low).days))
        count = sum(1 for day in days if calendar.is_working_day(day))
        assert calendar.working_days_between(low, high) == count
        assert calendar.working_days_between(high, low) == -count


class TestNations:
    def test_the_calendars_of_england_and_wales_are_looked_up_by_their_own_subdivision(
        self, monkeypatch: pytest.MonkeyPatch, fresh_calendars: None
    ) -> None:
        asked: list[str] = []
        only_in_wales = D(2026, 3, 2)  # a Monday, standing in for a holiday only Wales keeps

        def fake_bank_holidays(subdivision: str) -> Container[dt.date]:
            asked.append(subdivision)
            return {only_in_wales} if subdivision == "WLS" else set()

        monkeypatch.setattr(calendar_module, "_bank_holidays", fake_bank_holidays)
        england, wales = calendar_for(Nation.ENGLAND), calendar_for(Nation.WALES)

        assert asked == ["ENG", "WLS"]
        assert (england.subdivision, wales.subdivision) == ("ENG", "WLS")
        assert england.is_working_day(only_in_wales)
        assert not wales.is_working_day(only_in_wales)

    def test_each_nation_has_one_cached_calendar(self) -> None:
        assert calendar_for(Nation.WALES) is calendar_for(Nation.WALES)
        assert calendar_for(Nation.WALES) is not calendar_for(Nation.ENGLAND)

    @NATIONS
    def test_a_new_calendar_reads_its_nation_s_bank_holidays_for_any_year(
        self, nation: Nation
    ) -> None:
        # Built afresh, not taken from calendar_for's cache, so the lookup itself runs.
        calendar = WorkingCalendar(nation)
        assert calendar.nation is nation
        assert (
            repr(calendar)
            == f"WorkingCalendar({nation.value!r}, subdivision={calendar.subdivision!r})"
        )
        assert not calendar.is_working_day(D(2026, 4, 6))  # Easter Monday: not Scotland's
        assert not calendar.is_working_day(D(2031, 12, 25))  # a year no test asked for before
        assert calendar.is_working_day(D(2026, 11, 30))  # St Andrew's Day is Scotland's only
        assert calendar.is_working_day(D(2026, 7, 13))  # the Boyne holiday is Northern Ireland's

    def test_a_calendar_can_be_given_its_own_bank_holidays(self) -> None:
        calendar = WorkingCalendar(Nation.ENGLAND, bank_holidays={D(2026, 5, 5)})
        assert calendar.is_working_day(D(2026, 5, 4))
        assert calendar.add_working_days(D(2026, 5, 1), 2) == D(2026, 5, 6)


class TestCalendarArithmetic:
    @pytest.mark.parametrize(
        ("start", "months", "expected"),
        [
            (D(2026, 1, 31), 1, D(2026, 2, 28)),
            (D(2028, 1, 31), 1, D(2028, 2, 29)),
            (D(2026, 8, 31), 6, D(2027, 2, 28)),
            (D(2027, 8, 31), 6, D(2028, 2, 29)),
            (D(2026, 3, 15), 3, D(2026, 6, 15)),
        ],
    )
    def test_a_month_on_is_the_same_day_or_the_last_day_of_a_shorter_month(
        self, start: dt.date, months: int, expected: dt.date
    ) -> None:
        assert add_months(start, months) == expected

    def test_calendar_days_count_every_day(self) -> None:
        assert add_calendar_days(D(2025, 12, 24), 8) == D(2026, 1, 1)

    @NATIONS
    def test_the_due_date_is_counted_in_the_rule_s_unit(self, nation: Nation) -> None:
        calendar = calendar_for(nation)
        start = D(2026, 5, 1)
        assert due_date(start, 1, "working_days", calendar) == D(2026, 5, 5)
        assert due_date(start, 1, "calendar_days", calendar) == D(2026, 5, 2)
        assert due_date(D(2026, 1, 31), 1, "calendar_months", calendar) == D(2026, 2, 28)


class TestLateness:
    @NATIONS
    def test_lateness_of_a_working_day_clock_skips_the_bank_holiday(self, nation: Nation) -> None:
        # Due Friday 1 May 2026, done Tuesday 5 May: Monday 4 May is the Early May bank holiday.
        assert lateness(D(2026, 5, 1), D(2026, 5, 5), "working_days", calendar_for(nation)) == 1

    def test_lateness_of_calendar_clocks_is_in_calendar_days(self) -> None:
        calendar = calendar_for(Nation.ENGLAND)
        assert lateness(D(2026, 5, 1), D(2026, 5, 5), "calendar_days", calendar) == 4
        assert lateness(D(2026, 2, 28), D(2026, 3, 2), "calendar_months", calendar) == 2

    @pytest.mark.parametrize("done", [D(2026, 4, 30), D(2026, 5, 1)])
    def test_done_on_or_before_the_due_date_is_not_late(self, done: dt.date) -> None:
        assert lateness(D(2026, 5, 1), done, "working_days", calendar_for(Nation.ENGLAND)) == 0


class TestLocalDate:
    def test_an_instant_late_in_the_evening_utc_in_summer_is_the_next_day_in_london(
        self,
    ) -> None:
        assert local_date(dt.datetime(2026, 7, 10, 23, 30, tzinfo=dt.UTC)) == D(2026, 7, 11)

    def test_an_instant_late_in_the_evening_utc_in_winter_is_the_same_day_in_london(
        self,
    ) -> None:
        assert local_date(dt.datetime(2026, 1, 10, 23, 30, tzinfo=dt.UTC)) == D(2026, 1, 10)

    def test_an_instant_whose_zone_gives_no_offset_is_refused(self) -> None:
        class NoOffset(dt.tzinfo):
            def utcoffset(self, when: dt.datetime | None) -> dt.timedelta | None:
                return None

        with pytest.raises(ValueError, match="timezone-aware"):
            local_date(dt.datetime(2026, 7, 10, 23, 30, tzinfo=NoOffset()))

    def test_a_naive_datetime_is_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            local_date(dt.datetime(2026, 7, 10, 23, 30))  # naive, on purpose
