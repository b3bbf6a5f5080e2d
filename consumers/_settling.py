"""How the agency client settles what it holds: at least once, each case in order.

* A delivery handled without raising is acked, and its case's parked messages released.
* A failure is NAKed for redelivery after the consumer's backoff step for that attempt, and
  its case held back (see :mod:`consumers._ordering`); a delivery the loop left without
  asking for the next one is given back the same way, without being logged as a failure.
* A failure on the consumer's last attempt would never be redelivered: it is written to
  the dead-letter store (when there is one), then TERMed, and its case released.
* On close every message held, and every one a case is held back for, is NAKed at once
  in stream order, so the next client gets redeliveries before new messages.

Log lines carry partnership, case, event type and ledger sequence (:func:`about`), never
payload fields or an exception's message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from consumers._deadletters import DeadLetter, DeadLetterStore
from consumers._delivery_types import Key, int_or_none, key_names
from consumers._ordering import CaseOrder, Held
from schemas.wire import HDR_SOURCE_SEQ, HDR_TOPIC

__all__ = ["Settler", "about", "dead_letter_of"]


class Settler:
    """Acks, NAKs and TERMs the messages in ``order`` for the consumer's policy:
    ``max_deliver`` (None for no limit), ``backoff`` and ``ack_wait``."""

    def __init__(
        self,
        nc: Client,
        order: CaseOrder,
        store: DeadLetterStore | None,
        *,
        max_deliver: int | None,
        backoff: tuple[float, ...],
        ack_wait: float,
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        self._nc = nc
        self._order = order
        self._store = store
        self.max_deliver = max_deliver
        self.backoff = backoff
        self.ack_wait = ack_wait
        self._log = log
        self.closing = False  # failures are then NAKed for redelivery at once

    async def succeeded(self, dseq: int) -> None:
        """Ack, and release the case's parked messages if it waited on this one."""
        held = self._order.pop(dseq)
        if held is not None:
            await held.msg.ack()
            self._order.settled(dseq)
            self._order.unblock(held.key, dseq)

    async def failed(self, dseq: int, error: BaseException) -> None:
        """NAK with the backoff for this attempt and hold the case back, or on the last
        attempt dead-letter and TERM."""
        held = self._order.pop(dseq)
        if held is None:
            return
        attempt, last = held.msg.metadata.num_delivered, self._last_attempt(held)
        self._log.warning(
            "delivery_failed",
            **about(held.msg, held.key),
            attempt=attempt,
            error_type=type(error).__name__,
            retry_in=None if last else self._delay(attempt),
        )
        if last:
            await self._give_up(dseq, held, type(error).__name__)
        else:
            await self._retry_later(dseq, held)

    async def give_back(self, dseq: int) -> None:
        """The loop left this delivery without asking for the next one: retried like a
        failure, but not logged as one."""
        held = self._order.pop(dseq)
        if held is None:
            return
        if self._last_attempt(held):
            await self._give_up(dseq, held, "NotAcknowledged")  # the server would drop it
        else:
            await self._retry_later(dseq, held)

    async def drop_duplicates(self, msgs: list[Msg], key_of: Callable[[str], Key | None]) -> None:
        """Ack again the redeliveries of messages already settled, so the server stops
        sending them; they are not handled a second time."""
        for msg in msgs:
            self._log.info("delivery_duplicate_dropped", **about(msg, key_of(msg.subject)))
            try:
                await msg.ack()
            except nats.errors.Error as e:  # already settled: the server forgets it anyway
                self._log.warning("duplicate_ack_failed", error_type=type(e).__name__)

    async def hand_back_all(self) -> None:
        """Closing: NAK every message we hold or hold a case back for, at once and in
        stream order, so the next client gets each case in order (redeliveries come
        before new messages); one on its last attempt is dead-lettered instead."""
        waiting = self._order.waiting()
        for dseq in sorted(waiting.keys() | self._order.held()):
            held = self._order.pop(dseq)
            try:
                if held is None:  # NAKed with a delay before: NAKed again, for now
                    await self._nc.publish(waiting[dseq].reply, b"-NAK")
                elif self._last_attempt(held):
                    await self._give_up(dseq, held, "NotAcknowledged")
                else:
                    await held.msg.nak()
            except nats.errors.Error as e:  # the server redelivers it after ack_wait anyway
                self._log.warning("give_back_failed", error_type=type(e).__name__)

    async def _retry_later(self, dseq: int, held: Held) -> None:
        """NAK for redelivery after this attempt's backoff (at once when closing), and
        hold its case back.

        nats-server redelivers a plain NAK at once; a NAK's delay it counts from an
        ack_wait already expired, then waits the consumer's backoff step for the attempt
        (or ack_wait), so asking for ack_wait gives exactly that step.
        """
        await held.msg.nak(delay=None if self.closing else self.ack_wait)
        self._order.block(dseq, held)

    async def _give_up(self, dseq: int, held: Held, error_type: str) -> None:
        """The last attempt failed: keep the message locally, then TERM it."""
        logged = about(held.msg, held.key)
        if self._store is not None:
            self._store.add(dead_letter_of(dseq, held.msg, held.key, error_type))
            await held.msg.term()
            self._log.error("delivery_dead_lettered", **logged, error_type=error_type)
        else:
            await held.msg.term()
            self._log.error("delivery_abandoned", **logged, error_type=error_type)
        self._order.settled(dseq)
        self._order.unblock(held.key, dseq)

    def _last_attempt(self, held: Held) -> bool:
        """Whether the server would never deliver this message again."""
        return self.max_deliver is not None and held.msg.metadata.num_delivered >= self.max_deliver

    def _delay(self, attempt: int) -> float:
        """Seconds the server waits to redeliver after failed attempt ``attempt``: the
        consumer's backoff step for it, or ``ack_wait`` when it has none."""
        if not self.backoff:
            return self.ack_wait
        return self.backoff[min(attempt, len(self.backoff)) - 1]


def about(msg: Msg, key: Key | None) -> dict[str, Any]:
    """What a log line may say about a message: its case (or challenge, or key id), event
    type and sequence."""
    headers = msg.headers or {}
    partnership, second = key or ("", "")
    case, challenge, key_id = key_names(second)
    named: dict[str, str | None] = {"case": case}
    if challenge is not None:
        named = {"challenge": challenge}
    elif key_id is not None:
        named = {"key_id": key_id}
    return {
        "partnership": partnership,
        **named,
        "event_type": headers.get(HDR_TOPIC, ""),
        "seq": int_or_none(headers.get(HDR_SOURCE_SEQ)),
    }


def dead_letter_of(dseq: int, msg: Msg, key: Key | None, error_type: str) -> DeadLetter:
    """The dead letter for message ``dseq`` of the delivery stream, failed now."""
    headers = dict(msg.headers or {})
    partnership, case = key or ("", "")
    return DeadLetter(
        sequence=int_or_none(headers.get(HDR_SOURCE_SEQ)) or -dseq,
        partnership=partnership,
        case=case,
        event_type=headers.get(HDR_TOPIC, ""),
        failed_at=datetime.now(UTC),
        attempts=msg.metadata.num_delivered,
        error_type=error_type,
        payload=bytes(msg.data),
        headers=headers,
    )
