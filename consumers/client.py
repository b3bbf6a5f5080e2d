"""An agency's subscription to the events of its cases: in order per case, at least once.

The ledger service fans each case event out to every agency party to the case (see
:mod:`consumers._names`); an agency reads its share through its durable pull consumer
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
  it comes back and succeeds or is dead-lettered; other cases go on.
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
  attempt is dead-lettered instead, since the server would drop it.

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
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Self
from urllib.parse import urlsplit

import msgspec
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from consumers._deadletters import DeadLetter, DeadLetterStore
from consumers._names import HDR_SOURCE_SEQ, consumer_name, delivery_prefix, delivery_stream
from ledger import _stream
from ledger.access import load_credentials
from ledger.logging import bound
from schemas import AgencyId, Event, decode_event, tag_of
from schemas.errors import LedgerError

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

_TOP_UP: Final = 0.05  # seconds a fetch waits for more once a backlog seems drained
_MIN_TOUCH: Final = 0.05  # never send in-progress acks more often than this
_CLOSE_FLUSH: Final = 2  # seconds to flush acks and naks when closing
_RETRY_MAX: Final = 5.0  # longest pause after a failed fetch

_Key = tuple[str, str]  # (partnership, case)


class InvalidSubscription(LedgerError, ValueError):
    """Raised when a subscription is asked for with an unusable agency id, batch, poll time
    or credentials file, or replayed without a dead-letter store."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class ConsumerNotFound(LedgerError, LookupError):
    """Raised when the agency's consumer (or the delivery stream) does not exist yet."""


class DeliveryUnavailable(LedgerError, ConnectionError):
    """Raised when the server cannot be reached, or the connection is closed for good."""


class InvalidDelivery(LedgerError, ValueError):
    """Raised (and handled as a failed delivery) when a delivered message lacks the
    subject layout or headers the ledger service always gives it."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Delivery:
    """One case event delivered to the agency.

    ``sequence`` is the event's ledger stream sequence (the same for every agency and
    every redelivery: the idempotency key), ``version`` its place in the case, ``attempt``
    how many times the consumer has delivered it (1 the first time; a replayed dead letter
    counts on from its attempts).
    """

    event: Event
    partnership: str
    case: str
    sequence: int
    version: int
    attempt: int
    _msg: Msg | None = field(default=None, compare=False)

    @property
    def event_type(self) -> str:
        return tag_of(type(self.event))

    def __repr__(self) -> str:  # the event's fields may be personal data: its type only
        return (
            f"Delivery(sequence={self.sequence}, partnership={self.partnership!r},"
            f" case={self.case!r}, event_type={self.event_type!r}, version={self.version},"
            f" attempt={self.attempt})"
        )


#: What :meth:`AgencySubscription.run` and :func:`replay` call for each delivery.
Handler = Callable[[Delivery], Awaitable[None]]


@dataclass(slots=True)
class _Held:
    """A message delivered to us and not yet acked, naked or termed."""

    msg: Msg
    key: _Key | None  # None for a subject that does not name a partnership and case
    touched: float  # monotonic time of receipt or of the last in-progress ack


@dataclass(slots=True)
class _Blocked:
    """A case whose delivery ``dseq`` (``msg``) was NAKed with a delay; ``parked`` are the
    case's later messages, held until it has come back and been settled."""

    dseq: int
    msg: Msg
    parked: list[int] = field(default_factory=list)


class AgencySubscription:
    """The agency's durable pull consumer, read in order; open it with :meth:`connect`.

    One reader at a time: a loop or :meth:`run`, in one task.
    """

    def __init__(
        self,
        nc: Client,
        psub: Any,
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
        self._psub = psub
        self._store = store
        self._poll = poll
        max_deliver = config.max_deliver
        self.max_deliver: int | None = max_deliver if max_deliver and max_deliver > 0 else None
        self.backoff: tuple[float, ...] = tuple(config.backoff or ())
        self.ack_wait: float = float(config.ack_wait or 30.0)
        max_pending = config.max_ack_pending
        self._batch = min(batch, max_pending) if max_pending and max_pending > 0 else batch
        self._touch_every = max(_MIN_TOUCH, min((self.ack_wait, *self.backoff)) / 3)
        self._held: dict[int, _Held] = {}  # by delivery stream sequence
        self._ready: deque[int] = deque()
        self._blocked: dict[_Key, _Blocked] = {}
        self._current: tuple[int, Delivery] | None = None
        self._new_loop = False
        self._backlog = False
        self._fetch_errors = 0
        self._stop = asyncio.Event()
        self._closed = False
        self._log = log.bind(agency=agency)
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
        ``<subject_prefix>-delivery.<agency>.<partnership>.<case>``. ``inbox_prefix``
        defaults to ``_INBOX_agency_<agency>``; ``poll`` is how long one fetch waits on the
        server for a message.
        """
        _check(agency, batch, poll)
        inbox = inbox_prefix or f"_INBOX_{consumer_name(agency)}"
        on = consumer_stream or delivery_stream(stream)
        nc = await _connect(url, agency, user, password, inbox, connect_timeout)
        try:
            config, psub = await _bind(nc, agency, on, _where(url))
        except BaseException:
            await _close_quietly(nc)
            raise
        store = DeadLetterStore(dead_letters) if dead_letters is not None else None
        sub = cls(nc, psub, agency, on, subject_prefix, batch, poll, config, store)
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
        agency = consumer.removeprefix("agency_")
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
                await self._give_back(dseq)
            else:
                await self._succeeded(dseq)
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
            with bound(
                agency=self.agency,
                partnership=delivery.partnership,
                case=delivery.case,
                event_type=delivery.event_type,
                seq=delivery.sequence,
            ):
                try:
                    await handler(delivery)
                except Exception as error:  # noqa: BLE001 - any handler failure is retried, then dead-lettered
                    self._current = None
                    await self._failed(dseq, error)
                    continue
            self._current = None
            await self._succeeded(dseq)

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
            while self._ready:
                dseq = self._ready.popleft()
                held = self._held.get(dseq)
                if held is None:
                    continue
                blocked = self._blocked.get(held.key) if held.key is not None else None
                if blocked is not None and blocked.dseq != dseq:
                    blocked.parked.append(dseq)
                    continue
                try:
                    return dseq, self._delivery(held)
                except LedgerError as error:  # undecodable: fails like a handler would
                    await self._failed(dseq, error)
            msgs = await self._pull(stops)
            if msgs is None:
                return None
            self._receive(msgs)

    async def _pull(self, stops: tuple[asyncio.Event, ...]) -> list[Msg] | None:
        """Fetched messages ([] if none came within a poll), or None once stopped.

        A long poll for one message returns as soon as it comes; while messages keep
        coming, whole batches are fetched with a short wait.
        """
        batch, timeout = (self._batch, _TOP_UP) if self._backlog else (1, self._poll)
        fetch = asyncio.ensure_future(self._psub.fetch(batch, timeout=timeout))
        waiters = [asyncio.ensure_future(stop.wait()) for stop in stops]
        try:
            await asyncio.wait([fetch, *waiters], return_when=asyncio.FIRST_COMPLETED)
            if not fetch.done():
                return None
            msgs: list[Msg] = fetch.result()
        except TimeoutError:
            self._backlog = False
            return []
        except nats.errors.ConnectionClosedError:
            msg = f"the connection of agency {self.agency!r} is closed"
            raise DeliveryUnavailable(msg) from None
        except nats.errors.Error as error:
            self._fetch_errors += 1
            pause = min(_RETRY_MAX, 0.1 * 2**self._fetch_errors)
            self._log.warning("fetch_failed", error_type=type(error).__name__, retry_in=pause)
            await asyncio.sleep(pause)
            return []
        finally:
            for waiter in waiters:
                waiter.cancel()
            if not fetch.done():
                # A message the server sends this request later waits in nats-py's
                # queue for the next fetch (or, once closed, for ack_wait to pass).
                fetch.cancel()
        self._fetch_errors = 0
        # After a long poll's first message, or a full batch, more are probably waiting.
        self._backlog = self._batch > 1 and len(msgs) >= batch
        return msgs

    def _receive(self, msgs: list[Msg]) -> None:
        now = time.monotonic()
        for msg in msgs:
            dseq = msg.metadata.sequence.stream
            if (held := self._held.get(dseq)) is not None:  # redelivered while we held it
                held.msg, held.touched = msg, now
                continue
            self._held[dseq] = _Held(msg=msg, key=self._key_of(msg.subject), touched=now)
            self._ready.append(dseq)

    def _key_of(self, subject: str) -> _Key | None:
        tokens = subject.split(".")
        if len(tokens) == 4 and tokens[0] == self._prefix and tokens[1] == self.agency:
            return tokens[2], tokens[3]
        return None

    def _delivery(self, held: _Held) -> Delivery:
        msg = held.msg
        if held.key is None:
            msg_ = (
                f"delivery subject is not {self._prefix}.{self.agency}.<partnership>.<case>"
                " (rule: the ledger service delivers each case event on its case's subject)"
            )
            raise InvalidDelivery(msg_, field="subject")
        headers = msg.headers or {}
        sequence = _header_int(headers, HDR_SOURCE_SEQ)
        version = _header_int(headers, _stream.HDR_VERSION)
        event = decode_event(msg.data)
        topic = headers.get(_stream.HDR_TOPIC)
        if topic is not None and topic != tag_of(type(event)):
            msg_ = (
                f"header {_stream.HDR_TOPIC} names another event type than the payload's"
                " 'type' (rule: the header repeats the payload's tag)"
            )
            raise InvalidDelivery(msg_, field=_stream.HDR_TOPIC)
        return Delivery(
            event=event,
            partnership=held.key[0],
            case=held.key[1],
            sequence=sequence,
            version=version,
            attempt=msg.metadata.num_delivered,
            _msg=msg,
        )

    # -- settling ------------------------------------------------------------------

    async def _succeeded(self, dseq: int) -> None:
        held = self._held.pop(dseq, None)
        if held is not None:
            await held.msg.ack()
            self._unblock(held.key, dseq)

    async def _failed(self, dseq: int, error: BaseException) -> None:
        """NAK with the backoff for this attempt and hold the case back, or on the last
        attempt dead-letter and TERM."""
        held = self._held.pop(dseq, None)
        if held is None:
            return
        attempt, last = held.msg.metadata.num_delivered, self._last_attempt(held)
        self._log.warning(
            "delivery_failed",
            **self._about(held),
            attempt=attempt,
            error_type=type(error).__name__,
            retry_in=None if last else self._delay(attempt),
        )
        if last:
            await self._give_up(dseq, held, type(error).__name__)
        else:
            await self._retry_later(dseq, held)

    async def _retry_later(self, dseq: int, held: _Held) -> None:
        """NAK for redelivery after this attempt's backoff (at once when closing), and
        hold its case back.

        nats-server redelivers a plain NAK at once; a NAK's delay it counts from an
        ack_wait already expired, then waits the consumer's backoff step for the attempt
        (or ack_wait), so asking for ack_wait gives exactly that step.
        """
        await held.msg.nak(delay=None if self._closed else self.ack_wait)
        if held.key is not None:
            self._blocked[held.key] = _Blocked(
                dseq=dseq,
                msg=held.msg,
                parked=self._blocked[held.key].parked if held.key in self._blocked else [],
            )

    async def _give_back(self, dseq: int) -> None:
        """The loop left this delivery without asking for the next one: retried like a
        failure, but not logged as one."""
        held = self._held.pop(dseq, None)
        if held is None:
            return
        if self._last_attempt(held):
            await self._give_up(dseq, held, "NotAcknowledged")  # the server would drop it
        else:
            await self._retry_later(dseq, held)

    async def _hand_back_all(self) -> None:
        """Closing: NAK every message we hold or hold a case back for, at once and in
        stream order, so the next client gets each case in order (redeliveries come
        before new messages); one on its last attempt is dead-lettered instead."""
        waiting = {blocked.dseq: blocked.msg for blocked in self._blocked.values()}
        for dseq in sorted(waiting.keys() | self._held.keys()):
            held = self._held.pop(dseq, None)
            try:
                if held is None:  # NAKed with a delay before: NAKed again, for now
                    await self._nc.publish(waiting[dseq].reply, b"-NAK")
                elif self._last_attempt(held):
                    await self._give_up(dseq, held, "NotAcknowledged")
                else:
                    await held.msg.nak()
            except nats.errors.Error as e:  # the server redelivers it after ack_wait anyway
                self._log.warning("give_back_failed", error_type=type(e).__name__)

    async def _give_up(self, dseq: int, held: _Held, error_type: str) -> None:
        """The last attempt failed: keep the message locally, then TERM it."""
        about = self._about(held)
        if self._store is not None:
            self._store.add(self._dead_letter(dseq, held, error_type))
            await held.msg.term()
            self._log.error("delivery_dead_lettered", **about, error_type=error_type)
        else:
            await held.msg.term()
            self._log.error("delivery_abandoned", **about, error_type=error_type)
        self._unblock(held.key, dseq)

    def _unblock(self, key: _Key | None, dseq: int) -> None:
        if key is None:
            return
        blocked = self._blocked.get(key)
        if blocked is not None and blocked.dseq == dseq:
            del self._blocked[key]
            self._ready.extendleft(sorted(blocked.parked, reverse=True))

    def _last_attempt(self, held: _Held) -> bool:
        """Whether the server would never deliver this message again."""
        return self.max_deliver is not None and held.msg.metadata.num_delivered >= self.max_deliver

    def _delay(self, attempt: int) -> float:
        """Seconds the server waits to redeliver after failed attempt ``attempt``: the
        consumer's backoff step for it, or ``ack_wait`` when it has none."""
        if not self.backoff:
            return self.ack_wait
        return self.backoff[min(attempt, len(self.backoff)) - 1]

    def _about(self, held: _Held) -> dict[str, Any]:
        headers = held.msg.headers or {}
        partnership, case = held.key or ("", "")
        return {
            "partnership": partnership,
            "case": case,
            "event_type": headers.get(_stream.HDR_TOPIC, ""),
            "seq": _int_or_none(headers.get(HDR_SOURCE_SEQ)),
        }

    def _dead_letter(self, dseq: int, held: _Held, error_type: str) -> DeadLetter:
        headers = dict(held.msg.headers or {})
        partnership, case = held.key or ("", "")
        return DeadLetter(
            sequence=_int_or_none(headers.get(HDR_SOURCE_SEQ)) or -dseq,
            partnership=partnership,
            case=case,
            event_type=headers.get(_stream.HDR_TOPIC, ""),
            failed_at=datetime.now(UTC),
            attempts=held.msg.metadata.num_delivered,
            error_type=error_type,
            payload=bytes(held.msg.data),
            headers=headers,
        )

    # -- keeping and closing -------------------------------------------------------

    async def _keep_alive(self) -> None:
        """In-progress acks for every message held longer than a third of its deadline."""
        while True:
            await asyncio.sleep(self._touch_every)
            now = time.monotonic()
            for held in [h for h in self._held.values() if now - h.touched >= self._touch_every]:
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
        self._stop.set()
        self._keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._keeper
        try:
            if self._current is not None:
                dseq, _ = self._current
                self._current = None
                if isinstance(error, Exception):
                    with contextlib.suppress(nats.errors.Error):  # handed back below
                        await self._failed(dseq, error)
            await self._hand_back_all()
        finally:
            self._held.clear()
            self._ready.clear()
            self._blocked.clear()
            with contextlib.suppress(nats.errors.Error, TimeoutError, ValueError):
                await self._psub.unsubscribe()
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await self._nc.flush(timeout=_CLOSE_FLUSH)
            await _close_quietly(self._nc)
            if self._store is not None:
                self._store.close()
            self._log.info("agency_subscription_closed")


async def replay(store: DeadLetterStore, handler: Handler) -> int:
    """Hand each dead letter, in ledger order, to ``handler`` as a :class:`Delivery`;
    remove those it takes without raising and return how many. A failure stays, with its
    attempts counted on and its error type updated."""
    replayed = 0
    for dead in store.list():
        with bound(
            partnership=dead.partnership,
            case=dead.case,
            event_type=dead.event_type,
            seq=dead.sequence,
        ):
            try:
                delivery = Delivery(
                    event=decode_event(dead.payload),
                    partnership=dead.partnership,
                    case=dead.case,
                    sequence=dead.sequence,
                    version=_int_or_none(dead.headers.get(_stream.HDR_VERSION)) or 0,
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


async def _connect(
    url: str,
    agency: str,
    user: str | None,
    password: str | None,
    inbox: str,
    timeout: float,
) -> Client:
    where, agency_log = _where(url), log.bind(agency=agency)
    last_error: list[BaseException] = []

    async def on_error(error: Exception) -> None:
        last_error[:] = [error]
        agency_log.warning("nats_error", error_type=type(error).__name__)

    async def on_disconnected() -> None:
        if not nc.is_closed:  # closing disconnects too
            agency_log.warning("nats_disconnected", server=where)

    async def on_reconnected() -> None:
        agency_log.info("nats_reconnected", server=where)

    nc = Client()
    try:
        # With max_reconnect_attempts=-1 nats-py also retries the first connection
        # forever: the deadline bounds that one; later reconnects go on for good.
        await asyncio.wait_for(
            nc.connect(
                servers=[url],
                user=user,
                password=password,
                inbox_prefix=inbox,
                name=f"ledger-{consumer_name(agency)}",
                max_reconnect_attempts=-1,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
            ),
            timeout=timeout,
        )
    except (TimeoutError, OSError, nats.errors.Error) as e:
        await _close_quietly(nc)
        cause = type(last_error[0] if last_error else e).__name__
        msg = f"cannot connect to {where} as agency {agency!r} within {timeout}s"
        raise DeliveryUnavailable(f"{msg} (last error: {cause})") from None
    return nc


async def _bind(nc: Client, agency: str, dstream: str, where: str) -> tuple[Any, Any]:
    """The consumer's configuration and a pull subscription bound to it."""
    name = consumer_name(agency)
    js = nc.jetstream()
    try:
        info = await js.consumer_info(dstream, name)
        return info.config, await js.pull_subscribe_bind(durable=name, stream=dstream)
    except nats.js.errors.NotFoundError:
        msg = (
            f"agency {agency!r} has no consumer {name} on stream {dstream} (rule: the ledger"
            " service creates it when the agency is first party to a case; an agency"
            " cannot create consumers)"
        )
        raise ConsumerNotFound(msg) from None
    except (TimeoutError, nats.errors.Error) as e:
        msg = f"{where} did not describe consumer {name} on {dstream} ({type(e).__name__})"
        raise DeliveryUnavailable(msg) from None


def _check(agency: str, batch: int, poll: float) -> None:
    try:
        msgspec.convert(agency, type=AgencyId)
    except msgspec.ValidationError:
        msg = (
            f"agency {agency!r} is not a valid agency id (rule: 1-64 lower-case letters,"
            " digits, '-' and '_', starting with a letter or digit)"
        )
        raise InvalidSubscription(msg, field="agency") from None
    if batch < 1:
        raise InvalidSubscription(f"batch {batch} must be at least 1", field="batch")
    if not poll > 0:
        raise InvalidSubscription(f"poll {poll} must be a positive number of seconds", field="poll")


def _header_int(headers: dict[str, str], name: str) -> int:
    value = _int_or_none(headers.get(name))
    if value is None or value < 1:
        msg = (
            f"delivery header {name} is missing or not a positive integer (rule: the ledger"
            " service stamps every delivered event with its ledger sequence and version)"
        )
        raise InvalidDelivery(msg, field=name)
    return value


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _where(url: str) -> str:
    """The server's host and port, never the credentials a URL may carry."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    return f"{parts.hostname}:{parts.port or 4222}"


async def _close_quietly(nc: Client) -> None:
    with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
        await nc.close()
