"""Keeping views current: read the stream once, apply each batch to every view in one transaction.

:class:`ViewRunner` subscribes to the ledger's recorder (for NATS, an ordered push
consumer: the fastest way to read the stream) from the lowest tracking position
of its views, maps each notification once, hands it to every view that has not
seen it, and commits a batch of up to ``batch_size`` events with every view's new
position in the same transaction. A crash loses at most the open batch, which is
read again on the next run: each event is applied exactly once.

* :meth:`ViewRunner.catch_up` applies what the stream holds now and returns.
* :meth:`ViewRunner.rebuild` drops the views' rows and positions, then catches up
  from the first event. Commands may keep being recorded meanwhile: the rebuild
  stops at the position the stream had when it started, and ``follow`` (or the next
  catch-up) takes it from there.
* :meth:`ViewRunner.follow` keeps applying as events arrive until stopped; a batch
  is committed whenever the runner has reached the stream's last position.

If another process moves a view's position meanwhile (a rebuild elsewhere, a
second follower), the batch is refused with :class:`~projections._store.TrackingConflict`
and rolled back; ``follow`` then reloads the positions and carries on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from ledger.ports import batch_reader
from projections._store import TrackingConflict, Tx, ViewStore
from projections._view import Envelope, View, envelope, envelope_of
from projections.errors import UnknownEvent, ViewFailed, ViewStoreError
from schemas import EVENT_TYPES

__all__ = ["Progress", "RunStats", "ViewRunner"]

log = structlog.get_logger()

#: Called with (events applied so far, events to apply in all).
Progress = Callable[[int, int], None]

DEFAULT_BATCH = 2_000


@dataclass(frozen=True)
class RunStats:
    """What one catch-up or rebuild did."""

    events: int
    seconds: float
    position: int

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class ViewRunner:
    """Applies the ledger's events to ``views`` in ``store``, in batches of ``batch_size``."""

    def __init__(
        self,
        app: Application[Any],
        store: ViewStore,
        views: Sequence[View],
        *,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        if batch_size < 1:
            msg = f"batch_size {batch_size} is below 1; rule: a batch holds at least one event"
            raise ValueError(msg)
        self.app = app
        self.store = store
        self.views = tuple(views)
        self.batch_size = batch_size
        self._stopping = threading.Event()

    # -- positions -----------------------------------------------------------------

    def positions(self) -> dict[str, int]:
        known = self.store.positions()
        return {view.name: known.get(view.name, 0) for view in self.views}

    def stream_position(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    # -- one-shot work -------------------------------------------------------------

    def rebuild(self, progress: Progress | None = None) -> RunStats:
        """Drop the views and apply every event up to the stream's current end."""
        with self.store.transaction() as tx:
            for view in self.views:
                view.drop(tx)
        log.info("views_dropped", views=[v.name for v in self.views])
        return self.catch_up(progress)

    def catch_up(self, progress: Progress | None = None) -> RunStats:
        """Apply every event the stream holds now that a view has not seen; then return."""
        started = time.perf_counter()
        target = self.stream_position()
        first = start = min(self.positions().values(), default=0)
        applied = 0
        while self.views and target > start:
            expected = self.positions()
            start = min(expected.values(), default=0)
            try:
                for batch in self._read(start, target):
                    applied += self._apply(batch, expected)
                    if progress is not None:
                        progress(batch[-1].id - first, target - first)
            except TrackingConflict:
                log.warning("views_position_moved", start=start)
                continue
            reached = min(self.positions().values(), default=0)
            if reached <= start:
                break  # the stream ended before the target (nothing more to read)
            start = reached
        stats = RunStats(applied, time.perf_counter() - started, max(target, start))
        log.info("views_caught_up", events=stats.events, position=stats.position)
        return stats

    # -- following -----------------------------------------------------------------

    def follow(self, on_batch: Callable[[int], None] | None = None) -> None:
        """Apply events as they are recorded until :meth:`stop` is called."""
        self._stopping.clear()
        while not self._stopping.is_set():
            expected = self.positions()
            start = min(expected.values(), default=0)
            try:
                for batch in self._read(start, None):
                    self._apply(batch, expected)
                    if on_batch is not None:
                        on_batch(batch[-1].id)
            except TrackingConflict:
                log.warning("views_position_moved", start=start)
                continue

    def stop(self) -> None:
        """Make :meth:`follow` return after its current batch."""
        self._stopping.set()

    # -- internals -----------------------------------------------------------------

    def _read(self, start: int, target: int | None) -> Iterator[list[Notification]]:
        """Batches after ``start`` (up to ``target``, or following when it is ``None``).

        A recorder that can read batches on this thread (the NATS one) does; any
        other eventsourcing recorder is read in pages of ``select_notifications``
        up to a target, and through its ``subscribe()`` when following.
        """
        recorder = self.app.recorder
        reader = batch_reader(recorder)
        if reader is not None:
            yield from reader.read_batches(
                gt=start, until=target, size=self.batch_size, stop=self._stopping
            )
            return
        if target is not None:
            while start < target:
                page = recorder.select_notifications(
                    start=start + 1, limit=self.batch_size, stop=target
                )
                if not page:
                    return
                yield list(page)
                start = page[-1].id
            return
        with self._subscription(start) as notifications:
            yield from self._batches(notifications, target)

    def _subscription(self, start: int) -> Any:
        subscription = self.app.recorder.subscribe(gt=start)
        stopper = threading.Thread(
            target=self._stop_when_stopping, args=(subscription,), daemon=True
        )
        stopper.start()
        return subscription

    def _stop_when_stopping(self, subscription: Any) -> None:
        while not self._stopping.wait(0.2):
            if getattr(subscription, "_has_been_stopped", False):
                return
        subscription.stop()

    def _batches(
        self, notifications: Iterator[Notification], target: int | None
    ) -> Iterator[list[Notification]]:
        """Group notifications into batches: full ones, or whatever arrived up to the stream's end.

        With a ``target`` the batches end there. Without one (following) a batch is
        closed when the runner reaches the position the stream had when it last
        looked, so a quiet stream costs one position check per batch.
        """
        batch: list[Notification] = []
        horizon = target if target is not None else self.stream_position()
        for notification in notifications:
            batch.append(notification)
            at_horizon = notification.id >= horizon
            if at_horizon and target is None:
                horizon = self.stream_position()
                at_horizon = notification.id >= horizon
            if len(batch) >= self.batch_size or at_horizon:
                yield batch
                batch = []
                if target is not None and notification.id >= target:
                    return
        if batch:
            yield batch

    def _apply(self, batch: list[Notification], expected: dict[str, int]) -> int:
        """Apply ``batch`` to the views in one transaction, from the positions ``expected``.

        ``expected`` holds the position each view had when this runner started reading
        and is moved on after each commit. A view whose stored position differs was
        moved by another process (a rebuild, a second follower): the batch is refused
        with :class:`TrackingConflict` before a row is written. A handler that raises
        rolls the batch back and stops the views with :class:`ViewFailed` (the view, the
        sequence and the event type, logged critical), chained from its error.
        """
        mapper = self.app.mapper
        # The ledger's mapper gives the fact alone, without building a domain event
        # per notification; any other mapper goes the library's way.
        to_fact = getattr(mapper, "to_fact", None)
        applied = 0
        last = batch[-1].id
        # By tag: each view that handles it, with the position after which it applies.
        handlers: dict[str, list[tuple[str, int, Callable[[Tx, Envelope], None]]]] = {}
        try:
            with self.store.transaction() as tx:
                for view in self.views:
                    stored = tx.lock(view.name)
                    if stored != expected[view.name]:
                        msg = (
                            f"view {view.name!r} is at {stored}, not {expected[view.name]}:"
                            " another process moved it; rule: one writer per view position"
                        )
                        raise TrackingConflict(msg)
                for notification in batch:
                    if notification.topic not in EVENT_TYPES:
                        msg = (
                            f"notification {notification.id} is a {notification.topic!r}, an"
                            " event type this version does not know; rule: upgrade the views"
                            " before they follow a stream a newer ledger wrote"
                        )
                        raise UnknownEvent(msg)
                    if to_fact is not None:
                        event = envelope(
                            to_fact(notification),
                            notification.originator_id,  # type: ignore[arg-type]
                            notification.originator_version,
                            notification.id,
                        )
                    else:
                        event = envelope_of(mapper.to_domain_event(notification), notification.id)
                    wanted = handlers.get(event.tag)
                    if wanted is None:
                        wanted = handlers[event.tag] = [
                            (view.name, expected[view.name], handler)
                            for view in self.views
                            if (handler := view.handler_for(event.tag)) is not None
                        ]
                    for name, after, handler in wanted:
                        if notification.id > after:
                            try:
                                handler(tx, event)
                            except ViewStoreError:
                                raise  # already typed: the store, not the view, failed
                            except Exception as error:
                                raise _failed(name, event) from error
                    applied += 1
                for view in self.views:
                    view.flush(tx)
                    tx.track(view.name, expected[view.name], max(last, expected[view.name]))
        except BaseException:
            for view in self.views:
                view.forget()
            raise
        for view in self.views:
            expected[view.name] = max(last, expected[view.name])
        return applied


def _failed(view: str, event: Envelope) -> ViewFailed:
    """The error for ``view``'s handler failing on ``event``, logged at critical level.

    It names the view, the sequence and the event type, never the event's content
    (nor the handler's message, which may quote it: it is chained, not logged).
    """
    log.critical("view_failed", view=view, seq=event.seq, event_type=event.tag)
    msg = (
        f"view {view!r} failed to apply event {event.seq} ({event.tag}); the batch was"
        " rolled back and the views stopped; rule: a view applies every event of the stream"
    )
    return ViewFailed(msg, view=view, seq=event.seq, event_type=event.tag)
