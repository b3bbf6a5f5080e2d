"""The agency client's bookkeeping for order within a case: what it holds, what may be
handled next, and which cases are held back.

Messages come from one consumer in delivery stream order. Each one fetched is *held*
(:class:`Held`) until the client acks, NAKs or TERMs it, and queued as *ready*. When a
delivery fails and is NAKed with a delay, its case is *blocked* (:class:`Blocked`): the
case's later messages that come up are *parked*, not handled, until the failed one has
come back and been settled (acked, or dead-lettered and TERMed). Then the parked messages
go back to the front of the queue, in stream order, ahead of other cases' later messages.
A message whose subject names no case (``key`` None) blocks nothing. What is blocked is
the key's order (:func:`~consumers._delivery_types.order_of`): a case, a challenge, or the
agency's key events in a partnership, all of them together.

A message the client has already acked or TERMed can still come again: the server may
have redelivered it (its ``ack_wait`` ran out while it was parked, say) before our ack
reached it. The last settled sequences are remembered (at least :data:`REMEMBERED`), and
a *redelivery* (``num_delivered`` > 1) of one of them is returned by
:meth:`CaseOrder.receive` as a duplicate, to be acked again and not handled twice. A first
delivery is never a duplicate: a recreated delivery stream numbers from 1 again, and a
recreated consumer delivers everything afresh.

Nothing here does I/O or logs: :class:`~consumers._settling.Settler` acks, NAKs and TERMs
the messages, and :class:`~consumers.client.AgencySubscription` fetches them.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, KeysView
from dataclasses import dataclass, field

from nats.aio.msg import Msg

from consumers._delivery_types import Key, order_of

__all__ = ["REMEMBERED", "Blocked", "CaseOrder", "Held"]

#: How many settled delivery sequences are remembered at least, to drop late redeliveries
#: of them: far more than can be in flight (``max_ack_pending`` is 256 by default).
REMEMBERED = 4096


@dataclass(slots=True)
class Held:
    """A message delivered to us and not yet acked, naked or termed."""

    msg: Msg
    key: Key | None  # None for a subject that does not name a partnership and case
    touched: float  # monotonic time of receipt or of the last in-progress ack


@dataclass(slots=True)
class Blocked:
    """A case whose delivery ``dseq`` (``msg``) was NAKed with a delay; ``parked`` are the
    case's later messages, held until it has come back and been settled."""

    dseq: int
    msg: Msg
    parked: list[int] = field(default_factory=list)


class CaseOrder:
    """The messages held, by delivery stream sequence, and the order they may be handled."""

    def __init__(self, remember: int = REMEMBERED) -> None:
        self._remember = max(remember, REMEMBERED)
        self._held: dict[int, Held] = {}  # by delivery stream sequence
        self._ready: deque[int] = deque()
        self._blocked: dict[Key, Blocked] = {}
        self._settled: set[int] = set()
        self._settled_order: deque[int] = deque()

    def receive(
        self, msgs: list[Msg], key_of: Callable[[str], Key | None], *, waited: float = 0.0
    ) -> list[Msg]:
        """Hold fetched messages and queue them; a redelivery of one already held
        replaces its message and queues nothing. Returns the redeliveries of messages
        already settled, which the caller acks again and drops. ``waited`` is how long
        they may have come before (their deadline runs from then): counted as that old."""
        now = time.monotonic() - waited
        duplicates: list[Msg] = []
        for msg in msgs:
            dseq = msg.metadata.sequence.stream
            if (held := self._held.get(dseq)) is not None:  # redelivered while we held it
                held.msg, held.touched = msg, now
                continue
            if dseq in self._settled and msg.metadata.num_delivered > 1:
                # redelivered before our ack reached the server
                duplicates.append(msg)
                continue
            self._held[dseq] = Held(msg=msg, key=key_of(msg.subject), touched=now)
            self._ready.append(dseq)
        return duplicates

    def settled(self, dseq: int) -> None:
        """``dseq`` was acked or TERMed: a copy of it that comes later is a duplicate
        (a NAKed message is not settled: its redelivery is expected)."""
        self._settled.add(dseq)
        self._settled_order.append(dseq)
        if len(self._settled_order) > self._remember:
            self._settled.discard(self._settled_order.popleft())

    def next_ready(self) -> tuple[int, Held] | None:
        """The next held message that may be handled now, or None if none is queued;
        a message of a blocked case is parked on the way."""
        while self._ready:
            dseq = self._ready.popleft()
            held = self._held.get(dseq)
            if held is None:
                continue
            blocked = self._blocked.get(order_of(held.key)) if held.key is not None else None
            if blocked is not None and blocked.dseq != dseq:
                blocked.parked.append(dseq)
                continue
            return dseq, held
        return None

    def pop(self, dseq: int) -> Held | None:
        """Stop holding ``dseq`` (it is being settled); None if it is not held."""
        return self._held.pop(dseq, None)

    def held(self) -> KeysView[int]:
        """The delivery stream sequences of the messages held."""
        return self._held.keys()

    def stale(self, now: float, every: float) -> list[Held]:
        """The messages held that were last touched ``every`` seconds or more before ``now``."""
        return [held for held in self._held.values() if now - held.touched >= every]

    def block(self, dseq: int, held: Held) -> None:
        """``dseq`` was NAKed with a delay: hold its case back until it is settled (the
        case's messages parked so far stay parked)."""
        if held.key is not None:
            order = order_of(held.key)
            self._blocked[order] = Blocked(
                dseq=dseq,
                msg=held.msg,
                parked=self._blocked[order].parked if order in self._blocked else [],
            )

    def unblock(self, key: Key | None, dseq: int) -> None:
        """``dseq`` was settled: if its case waited on it, queue the case's parked
        messages first, in stream order."""
        if key is None:
            return
        order = order_of(key)
        blocked = self._blocked.get(order)
        if blocked is not None and blocked.dseq == dseq:
            del self._blocked[order]
            self._ready.extendleft(sorted(blocked.parked, reverse=True))

    def waiting(self) -> dict[int, Msg]:
        """The NAKed messages that blocked cases wait on, by delivery stream sequence."""
        return {blocked.dseq: blocked.msg for blocked in self._blocked.values()}

    def clear(self) -> None:
        self._held.clear()
        self._ready.clear()
        self._blocked.clear()
        self._settled.clear()
        self._settled_order.clear()
