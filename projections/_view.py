"""What every view shares: the envelope it is given, its tables, how events reach it, the
clock its queries default to (:class:`ClockedView`) and how a query's conditions are built
(:class:`Where`). Query-argument checks are in :mod:`projections._checks`.

A :class:`View` is an eventsourcing :class:`~eventsourcing.projection.Projection`
over the ledger's notification log. ``process_event`` (the library's entry point)
applies one event and its tracking position in one transaction; the
:class:`~projections.runner.ViewRunner` instead opens one transaction per batch
and gives each event to the handlers :meth:`View.handler_for` names for its tag
(:meth:`View.apply` by default), which is what makes a rebuild fast. Either way a
view's rows and its position are committed together.

Handlers are methods named after the event tag (``on_CaseOpened``), found once
per class; an event with no handler only advances the position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import MethodType
from typing import Any, ClassVar, cast

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from projections._checks import Day, check_day, check_id, check_instant
from projections._store import Tx, ViewStore, to_micros
from projections.calendar import local_date
from schemas import Event, LedgerEvent
from schemas.wire import split_aggregate_id

__all__ = [
    "ClockedView",
    "Envelope",
    "View",
    "Where",
    "check_id",
    "check_instant",
    "envelope",
    "envelope_of",
    "utc_now",
]


@dataclass(frozen=True, slots=True)
class Envelope:
    """One ledger event as a view sees it: the fact, whose it is, where it lies in the stream."""

    seq: int
    aggregate_id: str
    partnership: str
    kind: str
    ident: str
    version: int
    tag: str
    fact: LedgerEvent

    @property
    def occurred_us(self) -> int:
        return to_micros(self.fact.occurred_at)

    @property
    def recorded_us(self) -> int:
        return to_micros(self.fact.recorded_at)

    @property
    def agency(self) -> str:
        return self.fact.recorded_by.agency


def envelope_of(domain_event: Any, seq: int) -> Envelope:
    """Wrap a domain event from the ledger's mapper (an ``Opened``/``Recorded``) for the views."""
    return envelope(
        domain_event.fact,
        str(domain_event.originator_id),
        int(domain_event.originator_version),
        seq,
    )


def envelope(fact: Event, aggregate_id: str, version: int, seq: int) -> Envelope:
    """An envelope from a fact and where it lies (the runner's path, without a domain event)."""
    partnership, kind, ident = split_aggregate_id(aggregate_id)
    return Envelope(
        seq=seq,
        aggregate_id=aggregate_id,
        partnership=partnership,
        kind=kind,
        ident=ident,
        version=version,
        tag=type(fact).__struct_config__.tag,  # type: ignore[arg-type]
        fact=cast("LedgerEvent", fact),  # a decoded ledger fact is one of the union's types
    )


Handler = Callable[[Any, Tx, Envelope], None]


class View(Projection[ViewStore]):
    """Base of the views: a name, its tables, and ``on_<Tag>`` handlers."""

    name: str = ""
    #: DDL for the view's tables and indexes (``{blob}``/``{bigint}`` filled in per dialect).
    tables: ClassVar[tuple[str, ...]] = ()
    #: Table names, dropped by a rebuild.
    table_names: ClassVar[tuple[str, ...]] = ()
    _handlers: ClassVar[dict[str, Handler]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {
            attr[3:]: getattr(cls, attr) for attr in dir(cls) if attr.startswith("on_")
        }

    def __init__(self, view: ViewStore) -> None:
        super().__init__(view)
        self.create_tables()

    # -- lifecycle -----------------------------------------------------------------

    def create_tables(self) -> None:
        with self.view.transaction() as tx:
            for statement in self.tables:
                tx.execute(self.view.dialect.ddl(statement))

    def drop(self, tx: Tx) -> None:
        """Drop the view's rows and reset its position, inside ``tx`` (a rebuild's first step)."""
        for table in self.table_names:
            tx.execute(f"DROP TABLE IF EXISTS {table}")
        tx.execute("DELETE FROM view_tracking WHERE view = ?", (self.name,))
        for statement in self.tables:
            tx.execute(self.view.dialect.ddl(statement))
        self.forget()

    def forget(self) -> None:
        """Drop in-memory caches (after a rollback or a rebuild); subclasses extend."""

    def flush(self, tx: Tx) -> None:
        """Write what :meth:`apply` held back for one bulk statement; before ``tx`` tracks.

        A view may queue rows during a batch and write them here with one
        ``executemany``; it must not read those rows back before flushing.
        """

    # -- applying events -----------------------------------------------------------

    def apply(self, tx: Tx, event: Envelope) -> None:
        """Apply one event's effect on the view's rows inside ``tx`` (no tracking)."""
        handler = self._handlers.get(event.tag)
        if handler is not None:
            handler(self, tx, event)

    def handler_for(self, tag: str) -> Callable[[Tx, Envelope], None] | None:
        """What applies events tagged ``tag`` to this view, or None if it ignores them.

        The runner asks once per tag and batch rather than calling :meth:`apply` for
        every event and view. A view that overrides :meth:`apply` gets every event
        unless it overrides this too.
        """
        if type(self).apply is not View.apply:
            return self.apply
        handler = self._handlers.get(tag)
        return None if handler is None else MethodType(handler, self)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """eventsourcing's entry point: apply one event and track it, in one transaction."""
        try:
            with self.view.transaction() as tx:
                position = tx.lock(self.name)
                if tracking.notification_id <= position:
                    return
                self.apply(tx, envelope_of(domain_event, tracking.notification_id))
                self.flush(tx)
                tx.track(self.name, position, tracking.notification_id)
        except BaseException:
            self.forget()
            raise


def utc_now() -> datetime:
    """What time it is: the clock a :class:`ClockedView` reads unless given another."""
    return datetime.now(UTC)


class ClockedView(View):
    """A view whose queries default ``as_of`` to today, the London date of ``clock`` (a test's
    fixed clock)."""

    def __init__(self, view: ViewStore, *, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(view)
        self._clock = clock

    def _as_of(self, as_of: Day | None) -> date:
        """``as_of`` parsed as a day, or today in London by the view's clock when not given."""
        if as_of is None:
            return local_date(self._clock())
        return check_day("as_of", as_of)


class Where:
    """A query's ``WHERE`` conditions and their parameters, in order.

    Conditions are constant SQL fragments written in a view's code and every value
    is a parameter, so :attr:`sql` may be joined into a statement.
    """

    def __init__(self, condition: str, *params: object) -> None:
        self.conditions = [condition]
        self.params: list[object] = list(params)

    def add(self, condition: str, *params: object) -> None:
        self.conditions.append(condition)
        self.params.extend(params)

    def equal(self, column: str, value: object) -> None:
        """``column = value``, when ``value`` is given (not ``None``)."""
        if value is not None:
            self.add(f"{column} = ?", value)

    def days(self, column: str, date_from: date | None, date_to: date | None) -> None:
        """``column`` (a day as ISO text) from ``date_from`` to ``date_to``, both included."""
        if date_from is not None:
            self.add(f"{column} >= ?", date_from.isoformat())
        if date_to is not None:
            self.add(f"{column} <= ?", date_to.isoformat())

    @property
    def sql(self) -> str:
        return " AND ".join(self.conditions)
