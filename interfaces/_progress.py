"""The progress bar of long commands (``ledger views rebuild|update``).

At 80 columns it shows all of: what it does, the bar, the count done of the total,
the rate and the time left. The views' names are printed on a line of their own
before it: in the bar's label they pushed everything else off the line.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["progress_bar"]


class _Rate(ProgressColumn):
    """Events per second, ``12,345/s`` (blank until rich has measured it)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


def progress_bar(
    console: Console, label: str, *, get_time: Callable[[], float] | None = None
) -> Progress:
    """A progress display on ``console``: ``label``, bar, done/total, rate, time left."""
    return Progress(
        TextColumn(label),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        _Rate(),
        TimeRemainingColumn(compact=True),
        console=console,
        get_time=get_time,
    )
