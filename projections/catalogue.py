"""The views by name, the store they live in, and the runner that keeps them current.

``open_store(dsn=..., sqlite_file=...)`` picks the store: PostgreSQL when a DSN is
given, otherwise the SQLite file (:mod:`runtime` passes both from the settings).
:class:`Views` builds every view
on it (or the ones named) and is the query API the CLI and HTTP layers use:
``views.chronology.chronology(partnership, case, as_of=...)`` and so on, each
returning msgspec Structs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from eventsourcing.application import Application

from projections._store import ViewStore
from projections._view import View, utc_now
from projections.challenges import ChallengeView
from projections.chronology import ChronologyView
from projections.clocks import RuleSet, load_rules
from projections.directory import DirectoryView
from projections.errors import UnknownView
from projections.key_moments import KeyMomentView
from projections.optouts import OptOutView
from projections.postgres import PostgresViewStore
from projections.recommendations import RecommendationView
from projections.runner import DEFAULT_BATCH, ViewRunner
from projections.sqlite import SQLiteViewStore
from projections.timeliness import TimelinessView

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

__all__ = ["VIEW_NAMES", "Views", "open_store"]

#: Every view, in the order a rebuild applies them.
VIEW_NAMES: tuple[str, ...] = (
    "optouts",
    "timeliness",
    "challenges",
    "chronology",
    "recommendations",
    "key_moments",
    "directory",
)


def open_store(*, dsn: str | None, sqlite_file: Path) -> ViewStore:
    """The view store: PostgreSQL at ``dsn`` when given, else SQLite at ``sqlite_file``."""
    if dsn:
        return PostgresViewStore(dsn)
    return SQLiteViewStore(sqlite_file)


def check_names(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` in rebuild order; an unknown one is refused with the list of known ones."""
    wanted = tuple(dict.fromkeys(names))
    for name in wanted:
        if name not in VIEW_NAMES:
            msg = f"view {name!r} does not exist; rule: one of {', '.join(VIEW_NAMES)}"
            raise UnknownView(msg)
    return tuple(n for n in VIEW_NAMES if n in wanted) if wanted else VIEW_NAMES


class Views:
    """Every view on one store: the query API, and runners over a ledger."""

    optouts: OptOutView
    timeliness: TimelinessView
    challenges: ChallengeView
    chronology: ChronologyView
    recommendations: RecommendationView
    key_moments: KeyMomentView
    directory: DirectoryView

    def __init__(
        self,
        store: ViewStore,
        *,
        rules: RuleSet | None = None,
        rules_file: Path | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Every view on ``store``; ``clock`` is the "now" of queries that default to today
        (:mod:`projections.as_of` gives the instant its views answer as of)."""
        self.store = store
        self.rules = rules if rules is not None else load_rules(rules_file)
        self.optouts = OptOutView(store, clock=clock)
        self.timeliness = TimelinessView(store, rules=self.rules)
        self.challenges = ChallengeView(store, clock=clock)
        self.chronology = ChronologyView(store)
        self.recommendations = RecommendationView(store, clock=clock)
        self.key_moments = KeyMomentView(store)
        self.directory = DirectoryView(store)

    @classmethod
    def open(cls, *, dsn: str | None, sqlite_file: Path, rules_file: Path | None = None) -> Views:
        """The views on :func:`open_store`'s store, with the packaged rules and ``rules_file``'s."""
        return cls(open_store(dsn=dsn, sqlite_file=sqlite_file), rules_file=rules_file)

    def select(self, names: Sequence[str] = ()) -> list[View]:
        """The views called ``names`` (every view when empty)."""
        return [getattr(self, name) for name in check_names(names)]

    def runner(
        self, app: Application[Any], names: Sequence[str] = (), *, batch_size: int = DEFAULT_BATCH
    ) -> ViewRunner:
        """A runner applying ``app``'s events to the named views (all by default)."""
        return ViewRunner(app, self.store, self.select(names), batch_size=batch_size)

    def close(self) -> None:
        self.store.close()
