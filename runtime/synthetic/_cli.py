"""The command line: ``python -m runtime.synthetic``."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ledger.application import Ledger
from runtime.embedded import EmbeddedNats
from runtime.logging import configure_logging
from runtime.settings import Settings
from runtime.synthetic._clock import SimulatedClock
from runtime.synthetic._run import GeneratedSummary, generate
from runtime.synthetic._units import REVIEW_EVERY


class _RateColumn(ProgressColumn):
    """Events per second, from rich's own speed estimate."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- ev/s" if speed is None else f"{speed:,.0f} ev/s", style="cyan")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.synthetic",
        description="Write a seeded synthetic safeguarding partnership through the ledger.",
    )
    parser.add_argument("--events", type=int, required=True, help="events to write")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=8, help="writing threads")
    parser.add_argument(
        "--big-case-events", type=int, default=0, help="also write one case with this many events"
    )
    parser.add_argument(
        "--reviews-every",
        type=int,
        default=REVIEW_EVERY,
        help="a serious incident on every N-th unit's case (default %(default)s)",
    )
    parser.add_argument("--nats-url", help="a running NATS server (default: start one)")
    parser.add_argument(
        "--data-dir", type=Path, help="the embedded server's data dir (default: a temporary one)"
    )
    parser.add_argument("--stream", default="SYNTHETIC")
    parser.add_argument("--subject-prefix", default="synthetic")
    parser.add_argument("--log-level", default="WARNING")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m runtime.synthetic``: returns the exit status."""
    args = _parser().parse_args(argv)
    console = Console(stderr=True)
    configure_logging(level=args.log_level)
    settings = Settings(stream=args.stream, subject_prefix=args.subject_prefix)
    with contextlib.ExitStack() as stack:
        url: str | None = args.nats_url
        if url is None:
            data_dir = args.data_dir or Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="ledger-synthetic-"))
            )
            url = stack.enter_context(EmbeddedNats(data_dir)).url
        clock = SimulatedClock()
        ledger = Ledger(env=settings.persistence_env(url), clock=clock)
        stack.callback(ledger.close)
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, speed_estimate_period=10) as bar:
            task = bar.add_task("events", total=args.events)
            try:
                summary = generate(
                    ledger,
                    clock=clock,
                    events=args.events,
                    seed=args.seed,
                    workers=args.workers,
                    big_case_events=args.big_case_events,
                    reviews_every=args.reviews_every,
                    progress=lambda n: bar.advance(task, n),
                )
            except ValueError as error:
                console.print(f"[red]{error}[/red]")
                return 2
        _print_summary(Console(), summary, url, args.stream)
    return 0


def _print_summary(console: Console, summary: GeneratedSummary, url: str, stream: str) -> None:
    table = Table(title=f"synthetic partnership on {stream} ({url})")
    table.add_column("event type")
    table.add_column("count", justify="right")
    for event_type, count in sorted(summary.by_type.items(), key=lambda kv: -kv[1]):
        table.add_row(event_type, f"{count:,}")
    console.print(table)
    console.print(
        f"{summary.events:,} events in {summary.seconds:,.1f} s "
        f"= {summary.events_per_second:,.0f} events/s; {summary.cases:,} cases, "
        f"{summary.challenges:,} challenges, {summary.reviews:,} reviews; "
        f"{summary.late_recorded:,} recorded late ({summary.late_explained:,} explained)"
        + (f"; big case {summary.big_case}" if summary.big_case else "")
    )
