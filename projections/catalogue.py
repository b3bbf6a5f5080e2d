"""The views by name, the store they live in, and the runner that keeps them current.

``open_store(settings)`` picks the store: PostgreSQL when ``LEDGER_VIEWS_DSN`` is
set, otherwise the SQLite file in the data dir. :class:`Views` builds every view
on it (or the ones named) and is the query API the CLI and HTTP layers use:
``views.chronology.chronology(partnership, case, as_of=...)`` and so on, each
returning msgspec Structs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from eventsourcing.application import Application

from ledger.settings import Settings
from projections._store import ViewStore
from projections._view import View
from projections.challenges import ChallengeView
from projections.chronology import ChronologyView
from projections.clocks import RuleSet, load_rules
from projections.errors import UnknownView
from projections.key_moments import KeyMomentView
from projections.optouts import OptOutView
from projections.postgres import PostgresViewStore
from projections.recommendations import RecommendationView
from projections.runner import DEFAULT_BATCH, ViewRunner
from projections.sqlite import SQLiteViewStore
from projections.timeliness import TimelinessView

if TYPE_CHECKING:
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
)


def open_store(settings: Settings) -> ViewStore:
    """The settings' view store: PostgreSQL at ``views_dsn``, else SQLite at ``views_file``."""
    if settings.views_dsn:
        return PostgresViewStore(settings.views_dsn)
    return SQLiteViewStore(settings.views_file)


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

    def __init__(
        self, store: ViewStore, *, rules: RuleSet | None = None, rules_file: Path | None = None
    ) -> None:
        self.store = store
        self.rules = rules if rules is not None else load_rules(rules_file)
        self.optouts = OptOutView(store)
        self.timeliness = TimelinessView(store, rules=self.rules)
        self.challenges = ChallengeView(store)
        self.chronology = ChronologyView(store)
        self.recommendations = RecommendationView(store)
        self.key_moments = KeyMomentView(store)

    @classmethod
    def open(cls, settings: Settings) -> Views:
        """The views of ``settings``' store, with the packaged rules and the partnership's own."""
        return cls(open_store(settings), rules_file=settings.rules_file)

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
