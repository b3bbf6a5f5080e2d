"""An agency's events read straight from the ledger, for agencies without a NATS client.

:class:`AgencyFeed` hands over, page by page, the events after a stream sequence that an
agency may see: those of the cases it is party to, of the challenges it raised or
received, and the registrations and revocations of its own keys, in stream order (so in
order within a case). The HTTP API serves it as
Server-Sent Events (``GET /partnerships/{p}/events``), resumable from any sequence.

* **Membership is the delivery view's** (:meth:`~consumers.delivery.DeliveryView.members`,
  kept by the delivery runner), asked when the page is read: an agency that is not, or no
  longer, party to a case gets nothing of it, however far back it resumes; one that joined
  gets the case's events from where it resumes, the earlier ones too, since it may now
  read the whole chronology anyway. Its own ``AgencyLeftCase`` is sent to it too (as the
  NATS delivery does), and nothing of the case after it.
* **Never ahead of the view.** A page ends at the delivery view's position, so membership
  always reflects at least every event handed over (an agency's own join included): a
  feed read while the view lags waits for it, and loses nothing.
* **Challenges**: their parties (the raising agency and the one challenged) are fixed when
  the challenge is raised; they are read from the challenge aggregate once per feed.
* **Its own keys**: every ``AgencyKeyRegistered`` and ``AgencyKeyRevoked`` whose
  ``agency`` is the agency, as the NATS delivery sends them (the one party that can notice
  a key registered in its name that it never asked for), and no other agency's.
* **Same payload as the NATS client**: each event's JSON (:func:`schemas.encode_event`),
  its type tag and its ledger sequence.

Pages are bounded (``page_size`` notifications read, whatever passes the filter), read
through the ledger's recorder (``select_notifications``, the driver pool); the caller
runs :meth:`AgencyFeed.page` in a worker thread, never on an event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from consumers.delivery import KEY_EVENTS, DeliveryView, Outgoing
from ledger.application import Ledger
from ledger.errors import AggregateNotFound, CorruptHistory
from projections import ViewStore
from schemas import AgencyKeyRegistered, AgencyKeyRevoked, AgencyLeftCase, Event, encode_event
from schemas.wire import split_aggregate_id

__all__ = ["AgencyFeed", "FeedEvent", "FeedPage"]

#: The events that name the agency they are sent to, whatever it may otherwise see: its own
#: leave of a case, and its own keys' registrations and revocations.
_ADDRESSED: Final = frozenset({"AgencyLeftCase", *KEY_EVENTS})
#: Notifications read per page unless told otherwise.
DEFAULT_PAGE: Final = 200


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One event for the agency: its ledger sequence, type tag and JSON."""

    sequence: int
    tag: str
    data: bytes


@dataclass(frozen=True, slots=True)
class FeedPage:
    """The events of a page and the sequence the next page reads after."""

    events: list[FeedEvent]
    position: int


class AgencyFeed:
    """Pages of an agency's events from the ledger, filtered by the delivery view's memberships."""

    def __init__(
        self,
        ledger: Ledger,
        store: ViewStore,
        *,
        subject_prefix: str,
        page_size: int = DEFAULT_PAGE,
    ) -> None:
        if page_size < 1:
            msg = f"page_size {page_size} is below 1; rule: a page reads at least one event"
            raise ValueError(msg)
        self._ledger = ledger
        self._store = store
        self._page_size = page_size
        # Only its memberships are asked (it publishes nothing here).
        self._members = DeliveryView(store, publish=_no_publishing, subject_prefix=subject_prefix)
        self._closed = threading.Event()
        #: Each challenge's parties, learnt once (they never change once it is raised).
        self._challenges: dict[tuple[str, str], frozenset[str]] = {}

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called: open streams end, new pages are empty."""
        return self._closed.is_set()

    def close(self) -> None:
        """End every stream reading this feed (a server shutting down calls it first, so
        that its long-lived connections finish and the server can stop)."""
        self._closed.set()

    def horizon(self) -> int:
        """How far the feed may read: the delivery view's position."""
        return self._store.positions().get(self._members.name, 0)

    def page(self, partnership: str, agency: str, after: int) -> FeedPage:
        """The agency's events after ``after``, up to the delivery view's position, from at
        most ``page_size`` notifications; ``position`` is where the next page starts."""
        horizon = self.horizon()
        if horizon <= after or self.closed:
            return FeedPage([], after)
        recorder = self._ledger.recorder
        notifications = recorder.select_notifications(
            start=after + 1, limit=self._page_size, stop=horizon
        )
        if not notifications:
            return FeedPage([], horizon)
        members: dict[str, set[str]] = {}
        events: list[FeedEvent] = []
        for notification in notifications:
            try:
                owner, kind, ident = split_aggregate_id(str(notification.originator_id))
            except ValueError:
                continue  # not a ledger aggregate's event (the library's own ids)
            if owner != partnership:
                continue
            fact: Event | None = None
            if not self._may_see(agency, owner, kind, ident, members):
                if notification.topic not in _ADDRESSED:
                    continue
                # its own leave, and its own keys, are the agency's to know
                fact = self._fact(notification)
                if not (
                    isinstance(fact, (AgencyLeftCase, AgencyKeyRegistered, AgencyKeyRevoked))
                    and fact.agency == agency
                ):
                    continue
            fact = fact or self._fact(notification)
            tag = type(fact).__struct_config__.tag
            events.append(FeedEvent(notification.id, str(tag), encode_event(fact)))
        position = notifications[-1].id
        if len(notifications) < self._page_size:
            position = max(position, horizon)  # nothing else of the ledger's up to there
        return FeedPage(events, position)

    def _may_see(
        self, agency: str, partnership: str, kind: str, ident: str, members: dict[str, set[str]]
    ) -> bool:
        if kind == "case":
            if ident not in members:
                members[ident] = self._members.members(partnership, ident)
            return agency in members[ident]
        if kind == "challenge":
            return agency in self._challenge_parties(partnership, ident)
        return False

    def _challenge_parties(self, partnership: str, challenge: str) -> frozenset[str]:
        key = (partnership, challenge)
        parties = self._challenges.get(key)
        if parties is None:
            try:
                found = self._ledger.get_challenge(partnership, challenge)
            except AggregateNotFound:
                return frozenset()
            parties = frozenset({found.by_agency, found.against_agency})
            self._challenges[key] = parties
        return parties

    def _fact(self, notification: Any) -> Event:
        to_fact = getattr(self._ledger.mapper, "to_fact", None)
        if to_fact is None:  # pragma: no cover - the Ledger's mapper always has it
            msg = "the ledger's mapper cannot give an event's fact"
            raise CorruptHistory(msg)
        fact: Event = to_fact(notification)
        return fact


def _no_publishing(outgoing: Sequence[Outgoing]) -> None:  # pragma: no cover - never called
    msg = "the agency feed reads memberships only; it never publishes"
    raise RuntimeError(msg)
