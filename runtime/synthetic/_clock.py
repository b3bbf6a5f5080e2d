"""The simulated timeline, the ledger's clock on it, and working-day arithmetic."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Final

#: The simulated timeline: every case, challenge and review event lies in it.
START: Final = datetime(2024, 1, 1, tzinfo=UTC)
END: Final = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
#: An event recorded more than this after it occurred counts as recorded late.
LATE: Final = timedelta(days=1)
_SECOND: Final = timedelta(seconds=1)


class SimulatedClock:
    """The ledger's clock on a simulated timeline: each thread sets its own "now".

    Pass it as ``Ledger(clock=...)``; the generator calls :meth:`set` before every
    command, so threads writing different cases never see each other's time.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def set(self, now: datetime) -> None:
        """Make ``now`` this thread's time until the next call."""
        self._local.now = now

    def __call__(self) -> datetime:
        now: datetime | None = getattr(self._local, "now", None)
        if now is None:
            raise RuntimeError("SimulatedClock.set() was not called in this thread")
        return now


def _workdays(t: datetime, days: int) -> datetime:
    """``t`` moved on by ``days`` working days (Monday to Friday), same time of day."""
    weeks, days = divmod(days, 5)
    if weeks and not days:
        weeks, days = weeks - 1, 5
    t += timedelta(days=7 * weeks)  # any seven days hold five working days
    while days > 0:
        t += timedelta(days=1)
        if t.weekday() < 5:
            days -= 1
    return t


def _office(rng: random.Random, t: datetime) -> datetime:
    """A time in office hours on ``t``'s day, or the next working day, not before ``t``."""
    while t.weekday() >= 5:
        t += timedelta(days=1)
    start = t.replace(hour=8, minute=30, second=0, microsecond=0)
    moment = start + timedelta(minutes=rng.uniform(0, 540))
    return moment if moment > t else t + timedelta(minutes=rng.uniform(10, 120))


def _delay(rng: random.Random) -> timedelta:
    """How long after it occurred an event in time is recorded: minutes to hours."""
    x = rng.random()
    if x < 0.6:
        return timedelta(minutes=rng.uniform(1, 60))
    if x < 0.93:
        return timedelta(minutes=rng.uniform(60, 480))
    return timedelta(minutes=rng.uniform(480, 1200))
