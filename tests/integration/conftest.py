"""Fixtures the view tests share: an in-memory demo ledger and its clock.

A test module whose scenario starts at another time overrides ``clock``; one that
needs cases opened overrides ``ledger`` with :func:`views_support.demo_ledger`.
Modules that run the ledger on NATS define their own ``ledger``.
"""

from __future__ import annotations

import pytest
from ledger_scenario import FixedClock
from views_support import demo_ledger

from ledger.application import Ledger


@pytest.fixture
def clock() -> FixedClock:
    """The ledger's clock: Monday 2 March 2026, 09:00 UTC (the scenario's ``T0``)."""
    return FixedClock()


@pytest.fixture
def ledger(clock: FixedClock) -> Ledger:
    """An in-memory ledger with the demo partnership (la, police, health) established."""
    return demo_ledger(clock)
