"""Every query method of every view takes a day as a date or an ISO date string and an
instant as an aware datetime or an ISO string with its offset, and refuses anything else
with ``InvalidViewQuery`` naming the argument (issue 10, item 6).

The methods are found from :class:`projections.catalogue.Views`, so a new query method
or argument is swept without being listed here; the expected list below makes a sweep
that finds nothing fail.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ledger.application import Ledger
from projections._checks import check_day, check_instant, check_range
from projections._view import View
from projections.calendar import local_date
from projections.catalogue import VIEW_NAMES, Views
from projections.errors import InvalidViewQuery
from projections.sqlite import SQLiteViewStore
from runtime.demo import PARTNERSHIP, run_scenario

DAY = date(2026, 3, 2)
INSTANT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

#: Values that are not a day, each with what the message must say of it.
NOT_DAYS: list[tuple[object, str]] = [
    (datetime(2026, 3, 2, 9, 0, tzinfo=UTC), "is an instant, not a calendar date"),
    (datetime(2026, 3, 2, 9, 0), "is an instant, not a calendar date"),
    ("2026-03-02T09:00:00Z", "is not an ISO calendar date"),
    ("2026-13-01", "is not an ISO calendar date"),
    ("20260302", "is not an ISO calendar date"),
    ("yesterday", "is not an ISO calendar date"),
    ("", "is not an ISO calendar date"),
    (20260302, "is not a calendar date"),
    (b"2026-03-02", "is not a calendar date"),
    (True, "is not a calendar date"),
]
#: Values that are not an instant, each with what the message must say of it.
NOT_INSTANTS: list[tuple[object, str]] = [
    (date(2026, 3, 2), "is a calendar date, not an instant"),
    (datetime(2026, 3, 2, 9, 0), "has no time zone"),
    ("2026-03-02T09:00:00", "has no time zone"),
    ("2026-03-02", "has no time zone"),
    ("2026-03-02 nine o'clock", "is not an ISO 8601 instant"),
    ("x" * 500, "is not an ISO 8601 instant"),
    (1_772_442_000, "is not an instant"),
    (1.5, "is not an instant"),
]

#: Every (view, method, argument) taking a day or an instant, as the sweep must find them.
EXPECTED = {
    ("challenges", "by_agency", "as_of", "day"),
    ("challenges", "challenges", "date_from", "day"),
    ("challenges", "challenges", "date_to", "day"),
    ("challenges", "open_challenges", "as_of", "day"),
    ("chronology", "chronology", "as_of", "instant"),
    ("chronology", "standing", "as_of", "instant"),
    ("key_moments", "summary", "date_from", "day"),
    ("key_moments", "summary", "date_to", "day"),
    ("optouts", "entries", "as_of", "day"),
    ("optouts", "entries", "date_from", "day"),
    ("optouts", "entries", "date_to", "day"),
    ("optouts", "repeated", "as_of", "day"),
    ("recommendations", "recommendations", "as_of", "day"),
    ("recommendations", "reviews", "as_of", "day"),
    ("timeliness", "clocks", "as_of", "day"),
    ("timeliness", "performance", "as_of", "day"),
}


def _kind(annotation: object) -> str | None:
    """``instant`` for an argument typed with datetime, ``day`` for one typed with date
    (and not datetime), else None."""
    members = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else ()
    found = set(members or (annotation,))
    if datetime in found:
        return "instant"
    if date in found:
        return "day"
    return None


def _query_methods(views: Views) -> Iterator[tuple[str, str, Callable[..., Any]]]:
    """(view name, method name, bound method) of every public query method of every view."""
    for name in VIEW_NAMES:
        view = getattr(views, name)
        for attr, _ in inspect.getmembers(type(view), inspect.isfunction):
            if attr.startswith("_") or hasattr(View, attr) or attr == "handler_for":
                continue
            yield name, attr, getattr(view, attr)


def _arguments(method: Callable[..., Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Valid keyword arguments for ``method`` (its required ones), and the kind of each
    argument that takes a day or an instant."""
    valid: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    for param in inspect.signature(method, eval_str=True).parameters.values():
        kind = _kind(param.annotation)
        if kind is not None:
            kinds[param.name] = kind
        if param.default is not inspect.Parameter.empty:
            continue
        if kind == "day":
            valid[param.name] = DAY
        elif kind == "instant":
            valid[param.name] = INSTANT
        elif param.name == "partnership":
            valid[param.name] = PARTNERSHIP
        else:
            valid[param.name] = "c-1"  # a case
    return valid, kinds


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Views]:
    """Every view, filled with the demo scenario (a case, a challenge, a review)."""
    app = Ledger()  # the scenario is dated from today
    run_scenario(app)
    found = Views(SQLiteViewStore(Path(tmp_path_factory.mktemp("views")) / "views.sqlite"))
    found.runner(app).catch_up()
    yield found
    found.close()


def _sweep(views: Views) -> list[tuple[str, str, str, str, Callable[..., Any], dict[str, Any]]]:
    out = []
    for view, name, method in _query_methods(views):
        valid, kinds = _arguments(method)
        for arg, kind in sorted(kinds.items()):
            out.append((view, name, arg, kind, method, valid))
    return out


class TestEveryViewQueryChecksItsArguments:
    def test_the_sweep_finds_every_day_and_instant_argument_of_every_view(
        self, views: Views
    ) -> None:
        assert {(v, m, a, k) for v, m, a, k, _, _ in _sweep(views)} == EXPECTED

    def test_a_value_that_is_not_a_day_or_not_an_instant_is_refused_naming_the_argument(
        self, views: Views
    ) -> None:
        for view, name, arg, kind, method, valid in _sweep(views):
            for value, problem in NOT_DAYS if kind == "day" else NOT_INSTANTS:
                where = f"{view}.{name}({arg}={value!r:.40})"
                with pytest.raises(InvalidViewQuery) as refused:
                    method(**{**valid, arg: value})
                assert refused.value.field == arg, where
                message = str(refused.value)
                assert message.startswith(f"{arg} "), where
                assert problem in message, where
                assert "; rule: " in message, where
                assert "x" * 100 not in message, where  # a long value is cut short

    def test_an_iso_string_gives_the_same_answer_as_the_value_it_names(self, views: Views) -> None:
        now = datetime.now(UTC).astimezone(timezone(timedelta(hours=1)))
        days = {
            "day": (local_date(now), local_date(now).isoformat()),
            "instant": (now, now.isoformat()),
        }
        for view, name, arg, kind, method, valid in _sweep(views):
            if arg == "date_from":  # a range: both ends as strings, from before the scenario
                valid = {**valid, "date_to": date(2070, 1, 1)}
                value, text = date(2020, 1, 1), "2020-01-01"
            else:
                value, text = days[kind]
            as_value = method(**{**valid, arg: value})
            as_text = method(**{**valid, arg: text})
            assert as_text == as_value, f"{view}.{name}({arg}={text!r})"

    def test_the_scenario_gives_the_sweep_something_to_answer(self, views: Views) -> None:
        (challenge,) = views.challenges.challenges(PARTNERSHIP)
        assert challenge.case is not None
        assert views.chronology.chronology(PARTNERSHIP, challenge.case).entries


class TestTheOnePlaceThatParses:
    def test_a_day_string_is_parsed_to_its_date_and_a_date_is_returned_as_is(self) -> None:
        assert check_day("as_of", "2026-04-30") == date(2026, 4, 30)
        assert check_day("as_of", DAY) is DAY

    def test_an_instant_string_keeps_its_offset_and_z_means_utc(self) -> None:
        assert check_instant("as_of", "2026-04-30T10:30:00+01:00") == datetime(
            2026, 4, 30, 9, 30, tzinfo=UTC
        )
        assert check_instant("as_of", "2026-04-30T09:30:00Z") == datetime(
            2026, 4, 30, 9, 30, tzinfo=UTC
        )
        assert check_instant("as_of", INSTANT) is INSTANT

    def test_a_range_is_parsed_then_refused_when_it_runs_backwards(self) -> None:
        assert check_range("2026-01-01", None) == (date(2026, 1, 1), None)
        with pytest.raises(InvalidViewQuery) as refused:
            check_range("2026-02-01", "2026-01-01")
        assert refused.value.field == "date_from"

    def test_a_day_out_of_range_is_refused_as_a_string_too(self) -> None:
        with pytest.raises(InvalidViewQuery, match="out of range") as refused:
            check_day("as_of", "1899-12-31")
        assert refused.value.field == "as_of"
