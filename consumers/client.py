"""An agency's subscription to the events of its cases and challenges, and of its own keys:
in order per case (per challenge, and over the agency's keys in a partnership), at least
once.

The ledger service fans each case event out to every agency party to the case (see
:mod:`schemas.wire`); an agency reads its share through its durable pull consumer
``agency_<agency>`` on the delivery stream, which the service creates and configures
(``max_deliver``, ``backoff``). The agency's NATS user may only pull from and acknowledge
on that consumer, with replies under its own inbox prefix ``_INBOX_agency_<agency>``::

    async with AgencySubscription.connect(url, agency="police", dead_letters=path) as sub:
        async for delivery in sub:
            await record(delivery.event)        # acked when the loop asks for the next one

    async with AgencySubscription.connect(url, agency="police", dead_letters=path) as sub:
        await sub.run(record, stop=stopping)    # acked when record() returns

The rules, the same for both forms:

* **In order within a case.** One consumer, messages in stream order, one at a time. When
  a delivery fails, later deliveries of the same case are held back (not handled) until
  it comes back and succeeds or is dead-lettered; other cases go on. A challenge's events
  (``Delivery.challenge`` set, ``case`` None) are kept in order the same way, and so are
  the agency's own key events (``Delivery.key_id`` set), all of a partnership's as one
  (see :func:`~consumers._delivery_types.order_of`).
* **At least once.** A delivery is acknowledged only once its handler (or loop body)
  finished without raising. A failure is NAKed for redelivery after the consumer's
  backoff step for that attempt (a plain NAK would be redelivered at once).
  A loop only sees a failure that leaves the ``async with``; a delivery whose loop was
  left another way (``break``, an exception caught inside the ``async with``) is given
  back like a failure when the next loop starts, or on close. Handlers must therefore be
  idempotent: ``sequence`` (the ledger stream sequence) is the key.
* **Dead letters.** A failure on the consumer's last attempt would never be redelivered:
  it is written to the local :class:`~consumers._deadletters.DeadLetterStore` (when
  ``dead_letters`` is given), then TERMed; :func:`replay` hands it to a handler later.
* **What the client holds stays its own.** Every message fetched and not yet settled is
  kept alive with in-progress acks, so a slow handler or a long batch causes no
  redelivery. On close (or cancellation) all of them, and every failed delivery still
  waiting out its backoff, are NAKed at once in stream order: the next client gets
  redeliveries before new messages, so it sees each case in order. One on its last
  attempt is dead-lettered instead, since the server would drop it. The client first lets
  its pull requests on the server end (at most a second), still listening and keeping
  what it holds alive: a message the server hands out as the inbox goes would come back
  to the next client before those NAKed (see :mod:`consumers._pulling`).

Limits: after a crash (no close), held messages come back after ``ack_wait``, possibly
before a failed one still waiting out its backoff, and one on its last attempt is lost to
the agency (it stays in the stream; the service can deliver it again). One client per
agency consumer: two would share its messages and neither would see a case in order.
Logs carry agency, partnership, case, event type and sequence, never payload fields or
an exception's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Self

import msgspec
import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from structlog.contextvars import bound_contextvars

from consumers import _connection
from consumers._deadletters import DeadLetterStore
from consumers._delivery_types import (
    ConsumerNotFound,
    Delivery,
    DeliveryUnavailable,
    Handler,
    InvalidDelivery,
    InvalidSubscription,
    Key,
    case_key,
    delivery_of,
    int_or_none,
    key_names,
)
from consumers._ordering import CaseOrder
from consumers._pulling import Puller
from consumers._settling import Settler
from schemas import decode_event
from schemas.credentials import load_credentials
from schemas.errors import LedgerError
from schemas.wire import (
    CONSUMER_PREFIX,
    HDR_VERSION,
    consumer_name,
    delivery_inbox,
    delivery_prefix,
    delivery_stream,
)

__all__ = [
    "AgencySubscription",
    "ConsumerNotFound",
    "Delivery",
    "DeliveryUnavailable",
    "Handler",
    "InvalidDelivery",
    "InvalidSubscription",
    "replay",
]

log = structlog.get_logger()

_MIN_TOUCH: Final = 0.05  # never send in-progress acks more often than this
_CLOSE_FLUSH: Final = 2  # seconds to flush acks and naks when closing


class AgencySubscription:
    """The agency's durable pull consumer, read in order; open it with :meth:`connect`.

    One reader at a time: a loop or :meth:`run`, in one task.
    """

    def __init__(
        self,
        nc: Client,
        puller: Puller,
        agency: str,
        stream: str,
        subject_prefix: str,
        batch: int,
        poll: float,
        config: Any,
        store: DeadLetterStore | None,
    ) -> None:
        self.agency = agency
        self.consumer = consumer_name(agency)
        self.stream = stream  # the consumer's: the delivery stream
        self._prefix = delivery_prefix(subject_prefix)
        self._nc = nc
        self._puller = puller
        self._store = store
        self._poll = poll
        max_deliver = config.max_deliver
        self.max_deliver: int | None = max_deliver if max_deliver and max_deliver > 0 else None
        self.backoff: tuple[float, ...] = tuple(config.backoff or ())
        self.ack_wait: float = float(config.ack_wait or 30.0)
        max_pending = config.max_ack_pending
        self._batch = min(batch, max_pending) if max_pending and max_pending > 0 else batch
        # A held message is touched once it is a quarter of the shortest deadline old,
        # checked every quarter: touched by half its deadline, so the event loop may
        # stall for half of it (a loaded machine) before the server redelivers. It is
        # counted as a quarter old when taken in: it may have waited that long in the
        # puller (the keeper takes in what came every quarter), and its deadline runs
        # from its arrival.
        self._touch_every = max(_MIN_TOUCH, min((self.ack_wait, *self.backoff)) / 4)
        # Settled sequences remembered: several times what can be in flight at once.
        self._order = CaseOrder(remember=4 * max_pending if max_pending else 0)
        self._current: tuple[int, Delivery] | None = None
        self._new_loop = False
        self._stop = asyncio.Event()
        self._closed = False
        self._log = log.bind(agency=agency)
        self._settle = Settler(
            nc,
            self._order,
            store,
            max_deliver=self.max_deliver,
            backoff=self.backoff,
            ack_wait=self.ack_wait,
            log=self._log,
        )
        self._keeper = asyncio.create_task(self._keep_alive())
        self._log.info(
            "agency_subscription_opened",
            stream=self.stream,
            consumer=self.consumer,
            max_deliver=self.max_deliver,
            backoff=list(self.backoff),
            batch=self._batch,
        )

    # -- opening -------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        url: str,
        *,
        agency: str,
        user: str | None = None,
        password: str | None = None,
        inbox_prefix: str | None = None,
        stream: str = "LEDGER",
        subject_prefix: str = "ledger",
        batch: int = 100,
        dead_letters: Path | None = None,
        poll: float = 5.0,
        connect_timeout: float = 10.0,
        consumer_stream: str | None = None,
    ) -> AsyncIterator[AgencySubscription]:
        """Connect as ``agency`` and bind to its consumer; give back and close on exit.

        ``stream`` and ``subject_prefix`` are the ledger's: the consumer is on
        ``consumer_stream``, by default ``<stream>_DELIVERY``, and the subjects are
        ``<subject_prefix>-delivery.<agency>.<partnership>.<case>`` (and ``.challenge.<id>``,
        ``.key.<key_id>``). ``inbox_prefix``
        defaults to ``_INBOX_agency_<agency>``; ``poll`` is how long one fetch waits on the
        server for a message.
        """
        _connection.check_options(agency, batch, poll)
        inbox = inbox_prefix or delivery_inbox(agency)
        on = consumer_stream or delivery_stream(stream)
        nc = await _connection.open_connection(url, agency, user, password, inbox, connect_timeout)
        try:
            config = await _connection.bind_consumer(nc, agency, on, _connection.where(url))
            max_pending = config.max_ack_pending
            ahead = min(batch, max_pending) if max_pending and max_pending > 0 else batch
            puller = Puller(nc, on, consumer_name(agency), ahead, poll, log.bind(agency=agency))
            await puller.start()
        except BaseException:
            await _connection.close_quietly(nc)
            raise
        store = DeadLetterStore(dead_letters) if dead_letters is not None else None
        sub = cls(nc, puller, agency, on, subject_prefix, batch, poll, config, store)
        try:
            yield sub
        except BaseException as error:
            await sub._close(error)
            raise
        await sub._close(None)

    @classmethod
    def from_credentials(
        cls,
        path: Path,
        url: str,
        *,
        batch: int = 100,
        dead_letters: Path | None = None,
        poll: float = 5.0,
        connect_timeout: float = 10.0,
    ) -> contextlib.AbstractAsyncContextManager[AgencySubscription]:
        """:meth:`connect` with the user, password, inbox, consumer stream and subject
        prefix of an agency's credentials file (written by ``ledger agency add``)."""
        credentials = load_credentials(path)
        consumer = credentials.consumer or ""
        agency = consumer.removeprefix(CONSUMER_PREFIX)
        if not consumer or consumer != consumer_name(agency):
            msg = (
                f"credentials file {path} is not an agency's: consumer {consumer!r} is not"
                " 'agency_<agency id>' (rule: only an agency user has a consumer to read)"
            )
            raise InvalidSubscription(msg, field="consumer")
        return cls.connect(
            url,
            agency=agency,
            user=credentials.user,
            password=credentials.password,
            inbox_prefix=credentials.inbox_prefix,
            consumer_stream=credentials.stream,  # an agency's is where its consumer is
            subject_prefix=credentials.subject_prefix,
            batch=batch,
            dead_letters=dead_letters,
            poll=poll,
            connect_timeout=connect_timeout,
        )

    # -- reading -------------------------------------------------------------------

    @property
    def dead_letters(self) -> DeadLetterStore | None:
        return self._store

    def stop(self) -> None:
        """Make a running :meth:`run` return, and a loop end, once the current delivery
        is settled (safe to call from a signal handler's callback)."""
        self._stop.set()

    def __aiter__(self) -> Self:
        self._new_loop = True
        return self

    async def __anext__(self) -> Delivery:
        if self._current is not None:
            dseq, _ = self._current
            self._current = None
            if self._new_loop:  # the last loop left without asking for the next one
                await self._settle.give_back(dseq)
            else:
                await self._settle.succeeded(dseq)
        self._new_loop = False
        found = await self._next((self._stop,))
        if found is None:
            raise StopAsyncIteration
        self._current = found
        return found[1]

    async def run(self, handler: Handler, *, stop: asyncio.Event | None = None) -> None:
        """Call ``await handler(delivery)`` for each delivery, until ``stop`` is set or
        :meth:`stop` is called. Returns acks; an exception NAKs with backoff, or on the
        last attempt dead-letters and TERMs; either way the next delivery follows."""
        stops = (self._stop,) if stop is None else (self._stop, stop)
        while (found := await self._next(stops)) is not None:
            dseq, delivery = self._current = found
            with bound_contextvars(
                agency=self.agency,
                partnership=delivery.partnership,
                case=delivery.case,
                challenge=delivery.challenge,
                key_id=delivery.key_id,
                event_type=delivery.event_type,
                seq=delivery.sequence,
            ):
                try:
                    await handler(delivery)
                except Exception as error:  # noqa: BLE001 - any handler failure is retried, then dead-lettered
                    self._current = None
                    await self._settle.failed(dseq, error)
                    continue
            self._current = None
            await self._settle.succeeded(dseq)

    async def replay(self, handler: Handler) -> int:
        """:func:`replay` this subscription's dead letters."""
        if self._store is None:
            msg = "this subscription has no dead-letter store (connect with dead_letters=PATH)"
            raise InvalidSubscription(msg, field="dead_letters")
        return await replay(self._store, handler)

    async def _next(self, stops: tuple[asyncio.Event, ...]) -> tuple[int, Delivery] | None:
        """The next delivery that may be handled now, or None once stopped or closed
        (what is still buffered then stays held, and is handed back on close)."""
        while True:
            if self._closed or any(stop.is_set() for stop in stops):
                return None
            while (ready := self._order.next_ready()) is not None:
                dseq, held = ready
                try:
                    return dseq, delivery_of(held.msg, held.key, self._prefix, self.agency)
                except LedgerError as error:  # undecodable: fails like a handler would
                    await self._settle.failed(dseq, error)
            msgs = await self._pull(stops)
            if msgs is None:
                return None
            await self._take_in(msgs)

    async def _pull(self, stops: tuple[asyncio.Event, ...]) -> list[Msg] | None:
        """The messages that have come ([] if none came within a poll), or None once
        stopped: whatever the streaming pull has received, as soon as there is one."""
        return await self._puller.take(stops, self._poll)

    async def _take_in(self, msgs: list[Msg]) -> None:
        """Hold what came; ack again, without handling, copies of what we settled."""
        if duplicates := self._order.receive(msgs, self._key_of, waited=self._touch_every):
            await self._settle.drop_duplicates(duplicates, self._key_of)

    def _key_of(self, subject: str) -> Key | None:
        return case_key(subject, self._prefix, self.agency)

    # -- keeping and closing -------------------------------------------------------

    async def _keep_alive(self) -> None:
        """In-progress acks for every message held longer than a quarter of its deadline."""
        while True:
            await asyncio.sleep(self._touch_every)
            # What came while the reader was busy is held from now on, so kept alive too.
            await self._take_in(self._puller.take_now())
            now = time.monotonic()
            for held in self._order.stale(now, self._touch_every):
                held.touched = now
                try:
                    await held.msg.in_progress()
                except nats.errors.Error as error:
                    self._log.warning("keep_alive_failed", error_type=type(error).__name__)
                    break

    async def _close(self, error: BaseException | None) -> None:
        if self._closed:
            return
        self._closed = True
        self._settle.closing = True
        self._stop.set()
        try:
            # What the server sends until its last pull request ends comes in before the
            # inbox closes (kept alive meanwhile); held, it is handed back with the rest,
            # in stream order.
            try:
                arrived = await self._puller.stop()
            finally:
                self._keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._keeper
            await self._take_in(arrived)
            if self._current is not None:
                dseq, _ = self._current
                self._current = None
                if isinstance(error, Exception):
                    with contextlib.suppress(nats.errors.Error):  # handed back below
                        await self._settle.failed(dseq, error)
            await self._settle.hand_back_all()
        finally:
            self._order.clear()
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await self._nc.flush(timeout=_CLOSE_FLUSH)
            await _connection.close_quietly(self._nc)
            if self._store is not None:
                self._store.close()
            self._log.info("agency_subscription_closed")


async def replay(store: DeadLetterStore, handler: Handler) -> int:
    """Hand each dead letter, in ledger order, to ``handler`` as a :class:`Delivery`;
    remove those it takes without raising and return how many. A failure stays, with its
    attempts counted on and its error type updated."""
    replayed = 0
    for dead in store.list():
        with bound_contextvars(
            partnership=dead.partnership,
            case=dead.case,
            event_type=dead.event_type,
            seq=dead.sequence,
        ):
            try:
                case, challenge, key_id = key_names(dead.case)
                delivery = Delivery(
                    event=decode_event(dead.payload),
                    partnership=dead.partnership,
                    case=case,
                    challenge=challenge,
                    key_id=key_id,
                    sequence=dead.sequence,
                    version=int_or_none(dead.headers.get(HDR_VERSION)) or 0,
                    attempt=dead.attempts + 1,
                )
                await handler(delivery)
            except Exception as error:  # noqa: BLE001 - a failed replay is kept and counted, not raised
                store.add(
                    msgspec.structs.replace(
                        dead,
                        failed_at=datetime.now(UTC),
                        attempts=dead.attempts + 1,
                        error_type=type(error).__name__,
                    )
                )
                log.warning(
                    "dead_letter_replay_failed",
                    attempt=dead.attempts + 1,
                    error_type=type(error).__name__,
                )
                continue
            store.remove(dead.sequence)
            replayed += 1
            log.info("dead_letter_replayed")
    return replayed
