"""Every view as of a past instant: only what the ledger had recorded by then.

The views answer about everything recorded so far; an inspector asks what the board's
figures were on the day of a decision. Event sourcing's own answer is to replay: a
:class:`PastViews` builds every view afresh in a throwaway in-memory SQLite store from
the events whose ``recorded_at`` is at or before the instant ``T``, in stream order,
and hands back a :class:`~projections.catalogue.Views` to query as usual::

    past = PastViews(ledger)
    with past.at(instant) as views:
        views.timeliness.performance("northshire", as_of=evaluation_day(instant))
        views.directory.cases("northshire")

The methods that take a day (``as_of: date``: which clocks are overdue, which
challenges are open) are then given :func:`evaluation_day` of ``T``, its London date;
those that default to today take that day too (the views' clock reads ``T``).

**Which events.** ``recorded_at`` is stamped by the ledger before an event is saved,
so an event that depends on another (a response to a challenge) is recorded after it.
Several writers may save in an order slightly different from their stamps, so stream
order is not ``recorded_at`` order. A :class:`PastViews` therefore keeps an index of
every event's sequence and ``recorded_at`` (16 bytes an event, read once per process
and then only the stream's new tail), from which it knows the exact set of events
recorded by ``T`` and the last of them; a replay reads the stream up to that last one
and skips the others. No skew bound is assumed: an event saved late with an early
stamp is in the set as soon as the index has read it.

**Cache.** Replays are kept in a small LRU (``cache_size``, 4 by default), keyed by
the set's identity ``(last included sequence, how many)``: the sets of two instants
are nested, so equal keys mean equal sets, and two questions about instants with no
event recorded between them share one replay. An evicted store is closed when the
last reader using it leaves its ``with`` block. Thread-safe: one replay runs at a
time; readers of cached stores do not wait for it.

**Refused.** A naive ``T`` (``InvalidViewQuery`` naming ``as_of``: an instant must be
timezone-aware) and a ``T`` after now, by the given clock: the future is not yet
recorded, and an answer for it would change as it is.

The store is SQLite's ``memdb`` VFS, shared by name between the store's per-thread
connections and freed with the last of them: the replayed rows (personal data) are
never written to disk.
"""

from __future__ import annotations

import bisect
import secrets
import sqlite3
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from ledger.ports import batch_reader
from projections._checks import check_instant, check_int
from projections._store import ViewStore, from_micros, to_micros
from projections._view import utc_now
from projections.calendar import local_date
from projections.catalogue import Views
from projections.clocks import RuleSet, load_rules
from projections.errors import InvalidViewQuery, UnknownEvent, ViewStoreError
from projections.runner import DEFAULT_BATCH, ViewRunner
from projections.sqlite import SQLiteViewStore
from schemas import EVENT_TYPES

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["DEFAULT_CACHE", "MemoryViewStore", "PastViews", "evaluation_day"]

log = structlog.get_logger()

#: How many past instants' views a :class:`PastViews` keeps by default.
DEFAULT_CACHE = 4

#: The instant a reader inside :meth:`PastViews.at` asked about (the past views' "now").
_asked: ContextVar[datetime | None] = ContextVar("ledger_as_of", default=None)


def evaluation_day(instant: datetime) -> date:
    """The day the views evaluate "as of" for an instant: its Europe/London date."""
    check_instant("as_of", instant)
    return local_date(instant)


class MemoryViewStore(ViewStore):
    """A view store in memory (SQLite's ``memdb`` VFS), shared by this store's connections.

    Its rows live as long as one connection is open, so until :meth:`close`; nothing
    is written to disk. For throwaway views (:class:`PastViews`), never for the views
    a service keeps.
    """

    dialect = SQLiteViewStore.dialect

    def __init__(self) -> None:
        self._uri = f"file:/ledger-as-of-{secrets.token_hex(12)}?vfs=memdb"
        super().__init__()

    def _connect(self) -> Any:
        try:
            return sqlite3.connect(
                self._uri,
                uri=True,
                isolation_level=None,
                timeout=30.0,
                check_same_thread=False,
            )
        except sqlite3.Error as e:
            msg = f"an in-memory view store cannot be opened: {e}"
            raise ViewStoreError(msg) from e

    def _begin(self, connection: Any) -> None:
        connection.execute("BEGIN IMMEDIATE")


@dataclass
class _Entry:
    """One replay in the cache: its views, how many readers use it, whether it was evicted."""

    views: Views
    readers: int = 0
    evicted: bool = False


@dataclass
class _Index:
    """Every event's sequence and ``recorded_at`` (microseconds), in stream order."""

    seqs: array[int] = field(default_factory=lambda: array("q"))
    recorded: array[int] = field(default_factory=lambda: array("q"))
    #: Whether ``recorded`` has never gone down (then the set is a prefix: a bisection).
    monotonic: bool = True

    @property
    def last(self) -> int:
        return self.seqs[-1] if self.seqs else 0

    def add(self, seq: int, recorded_us: int) -> None:
        if self.recorded and recorded_us < self.recorded[-1]:
            self.monotonic = False
        self.seqs.append(seq)
        self.recorded.append(recorded_us)

    def key(self, bound_us: int) -> tuple[int, int]:
        """``(last sequence, count)`` of the events recorded at or before ``bound_us``."""
        if self.monotonic:
            count = bisect.bisect_right(self.recorded, bound_us)
            return (self.seqs[count - 1] if count else 0), count
        last = count = 0
        for seq, recorded in zip(self.seqs, self.recorded, strict=True):
            if recorded <= bound_us:
                last, count = seq, count + 1
        return last, count


class _PastRunner(ViewRunner):
    """A runner that reads the stream up to ``until`` and applies only events recorded by
    ``bound_us`` (the index knows which)."""

    def __init__(
        self,
        app: Application[Any],
        store: ViewStore,
        views: Views,
        *,
        until: int,
        bound_us: int,
        index: _Index,
        batch_size: int,
    ) -> None:
        super().__init__(app, store, views.select(), batch_size=batch_size)
        self._until = until
        self._index = index
        self._bound = bound_us

    def stream_position(self) -> int:
        return self._until

    def _read(self, start: int, target: int | None) -> Iterator[list[Notification]]:
        # Both run in stream order, so one pointer walks the index beside the stream.
        # The index is only appended to (by another thread, past ``until``): reading
        # its first entries while it grows is safe.
        seqs, recorded, bound = self._index.seqs, self._index.recorded, self._bound
        i = bisect.bisect_left(seqs, start + 1)
        for batch in super()._read(start, target):
            kept = []
            for notification in batch:
                seq = notification.id
                while i < len(seqs) and seqs[i] < seq:
                    i += 1
                if i < len(seqs) and seqs[i] == seq and recorded[i] <= bound:
                    kept.append(notification)
            if kept:
                yield kept


class PastViews:
    """Every view as of a past instant, replayed from ``app``'s stream into memory.

    ``rules``/``rules_file`` are the timescale rules (as :class:`Views` takes them);
    ``clock`` says what time it is (a later instant is refused); ``cache_size``
    replays are kept; ``batch_size`` events are read and applied at a time.
    """

    def __init__(
        self,
        app: Application[Any],
        *,
        rules: RuleSet | None = None,
        rules_file: Path | None = None,
        clock: Callable[[], datetime] = utc_now,
        cache_size: int = DEFAULT_CACHE,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        check_int("cache_size", cache_size, 1, None, "at least one past instant is kept")
        check_int("batch_size", batch_size, 1, None, "a batch holds at least one event")
        self.app = app
        self.rules = rules if rules is not None else load_rules(rules_file)
        self._clock = clock
        self._cache_size = cache_size
        self._batch_size = batch_size
        self._index = _Index()
        self._index_lock = threading.Lock()
        self._cache: OrderedDict[tuple[int, int], _Entry] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._replay_lock = threading.Lock()
        self._closed = False
        #: How many replays ran (a cached answer runs none): for tests and the bench.
        self.replays = 0
        #: Events applied by the last replay, and how long it took in seconds.
        self.last_replay: tuple[int, float] = (0, 0.0)

    @contextmanager
    def at(self, instant: datetime) -> Iterator[Views]:
        """Every view as the ledger had recorded it by ``instant`` (an aware datetime, not after
        now), for the ``with`` block; the views' "today" is :func:`evaluation_day` of it."""
        check_instant("as_of", instant)
        now = self._clock()
        if instant > now:
            msg = (
                f"as_of {instant.isoformat()} is after now ({now.isoformat()}); rule: a view"
                " answers as of an instant the ledger has reached, never the future"
            )
            raise InvalidViewQuery(msg, field="as_of")
        bound = to_micros(instant)
        with self._index_lock:
            self._catch_up_index()
            key = self._index.key(bound)
        entry = self._checkout(key)
        if entry is None:
            with self._replay_lock:
                entry = self._checkout(key)  # another thread may have replayed it meanwhile
                if entry is None:
                    entry = self._replay(key, bound)
        token = _asked.set(instant)
        try:
            yield entry.views
        finally:
            _asked.reset(token)
            self._checkin(entry)

    def close(self) -> None:
        """Close every kept store (one still being read closes when its reader is done)."""
        with self._cache_lock:
            self._closed = True
            for entry in self._cache.values():
                entry.evicted = True
                if entry.readers == 0:
                    entry.views.close()
            self._cache.clear()

    # -- the index -----------------------------------------------------------------

    def _catch_up_index(self) -> None:
        """Read the stream's new tail into the index (under ``_index_lock``)."""
        recorder = self.app.recorder
        end = recorder.max_notification_id() or 0
        start = self._index.last
        if end <= start:
            return
        mapper = self.app.mapper
        to_fact = getattr(mapper, "to_fact", None)
        for batch in self._notifications(start, end):
            for notification in batch:
                if notification.topic not in EVENT_TYPES:
                    msg = (
                        f"notification {notification.id} is a {notification.topic!r}, an"
                        " event type this version does not know; rule: upgrade the views"
                        " before they read a stream a newer ledger wrote"
                    )
                    raise UnknownEvent(msg)
                fact = (
                    to_fact(notification)
                    if to_fact is not None
                    else mapper.to_domain_event(notification).fact  # type: ignore[attr-defined]
                )
                self._index.add(notification.id, to_micros(fact.recorded_at))

    def _notifications(self, start: int, end: int) -> Iterator[Sequence[Notification]]:
        recorder = self.app.recorder
        reader = batch_reader(recorder)
        if reader is not None:
            yield from reader.read_batches(gt=start, until=end, size=self._batch_size)
            return
        while start < end:
            page = recorder.select_notifications(start=start + 1, limit=self._batch_size, stop=end)
            if not page:
                return
            yield page
            start = page[-1].id

    # -- the cache -----------------------------------------------------------------

    def _checkout(self, key: tuple[int, int]) -> _Entry | None:
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            self._cache.move_to_end(key)
            entry.readers += 1
            return entry

    def _checkin(self, entry: _Entry) -> None:
        with self._cache_lock:
            entry.readers -= 1
            if entry.evicted and entry.readers == 0:
                entry.views.close()

    def _replay(self, key: tuple[int, int], bound: int) -> _Entry:
        """Replay the set ``key`` names into a new store, keep it, and check it out."""
        started = time.perf_counter()
        store = MemoryViewStore()
        built = _asked_or(bound)
        views = Views(store, rules=self.rules, clock=built)
        try:
            runner = _PastRunner(
                self.app,
                store,
                views,
                until=key[0],
                bound_us=bound,
                index=self._index,
                batch_size=self._batch_size,
            )
            stats = runner.catch_up()
        except BaseException:
            views.close()
            raise
        seconds = time.perf_counter() - started
        self.replays += 1
        self.last_replay = (stats.events, seconds)
        log.info("past_views_replayed", events=stats.events, position=key[0], seconds=seconds)
        entry = _Entry(views=views, readers=1)
        with self._cache_lock:
            if self._closed:
                entry.evicted = True
                return entry
            self._cache[key] = entry
            while len(self._cache) > self._cache_size:
                _, old = self._cache.popitem(last=False)
                old.evicted = True
                if old.readers == 0:
                    old.views.close()
        return entry


def _asked_or(bound_us: int) -> Callable[[], datetime]:
    """The past views' clock: the instant being asked about (a replay is shared by every
    instant with the same events), or, outside :meth:`PastViews.at`, the one it was built for."""
    built = from_micros(bound_us)

    def now() -> datetime:
        asked = _asked.get()
        return built if asked is None else asked

    return now
