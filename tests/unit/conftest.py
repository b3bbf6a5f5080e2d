"""Fixtures for the unit tests of the ledger: a fixed clock, an in-memory ledger, a demo setup.

The ledger runs on eventsourcing's in-memory persistence (no ``PERSISTENCE_MODULE``),
so nothing here does I/O. ``rejected`` checks the three things every rejection must
show: the right error type, a message and ``field`` naming the field, and nothing
written to the recorder.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from ledger_scenario import (
    CASE,
    CHILD,
    HEALTH,
    LA,
    PARTNERSHIP,
    POLICE,
    SIBLING,
    FixedClock,
    Rejected,
    establish,
    written,
)

from ledger.application import Ledger
from ledger.errors import RuleViolation


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def ledger(clock: FixedClock) -> Iterator[Ledger]:
    app = Ledger(clock=clock)
    yield app
    app.close()


@pytest.fixture
def rejected(ledger: Ledger) -> Rejected:
    """``with rejected(RuleViolation, field="agency"): ...`` asserts a clean rejection."""

    @contextmanager
    def check(
        error: type[Exception] = RuleViolation,
        *,
        field: str | None = None,
        match: str | None = None,
    ) -> Iterator[pytest.ExceptionInfo[Exception]]:
        before = written(ledger)
        with pytest.raises(error, match=match) as info:
            yield info
        if field is not None:
            assert getattr(info.value, "field", None) == field
            assert field in str(info.value)
        assert written(ledger) == before, "a rejected command wrote an event"

    return check


@pytest.fixture
def partnership(ledger: Ledger) -> str:
    """The demo partnership with la, police and health registered (school is not)."""
    establish(ledger)
    return PARTNERSHIP


@pytest.fixture
def case(ledger: Ledger, partnership: str) -> str:
    """Case ``c-1`` about two children, led by la, with police and health as parties."""
    ledger.open_case(
        partnership=partnership,
        case=CASE,
        recorded_by=LA,
        children=[{"child": CHILD, "age_band": "5_9"}, {"child": SIBLING, "age_band": "1_4"}],
    )
    for agency in (POLICE, HEALTH):
        ledger.join_case(
            partnership=partnership, case=CASE, recorded_by=LA, agency=agency["agency"]
        )
    return CASE
