"""What the agency client hands out: :class:`Delivery`, its errors, and how a delivered
message becomes one.

A delivered message's subject is ``<prefix>-delivery.<agency>.<partnership>.<case>`` for
a case's event, ``<prefix>-delivery.<agency>.<partnership>.challenge.<challenge>`` for
a challenge's and ``<prefix>-delivery.<agency>.<partnership>.key.<key_id>`` for one of
the agency's own key events, and its headers carry the event's ledger sequence and
version (see :mod:`schemas.wire`); a message without them fails like a handler would,
with :class:`InvalidDelivery`.

A :data:`Key` names what a delivery is about: ``(partnership, case)``,
``(partnership, "challenge.<challenge>")`` for a challenge, or ``(partnership,
"key.<key_id>")`` for a key (no identifier holds a ``.``, so none of them meet). Dead
letters keep the key's second part as their ``case``. What deliveries are kept in order
with is :func:`order_of` the key: the key itself for a case or a challenge, and for a
key event the agency's whole key ring in the partnership, ``(partnership, "key.")``: whether
a key event was the agency's to make depends on which of its keys were live just before
(``ledger/proofs/keys.py``), so a registration of ``k2`` and a revocation of ``k1`` are
handed over in the ledger's order even when one of them fails and comes again.
Nothing here does I/O; :mod:`consumers.client` re-exports the public names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nats.aio.msg import Msg

from schemas import Event, decode_event, tag_of
from schemas.errors import LedgerError
from schemas.wire import HDR_SOURCE_SEQ, HDR_TOPIC, HDR_VERSION, split_delivery_subject

__all__ = [
    "ConsumerNotFound",
    "Delivery",
    "DeliveryUnavailable",
    "Handler",
    "InvalidDelivery",
    "InvalidSubscription",
    "Key",
    "case_key",
    "delivery_of",
    "int_or_none",
    "key_names",
    "order_of",
]

#: (partnership, case), (partnership, "challenge.<challenge>") or (partnership, "key.<key_id>")
Key = tuple[str, str]

#: The key's second part for a challenge: this, then the challenge's id.
_CHALLENGE_KEY = "challenge."
#: The key's second part for one of the agency's keys: this, then the key's id; alone, the
#: order of all of them (:func:`order_of`).
_KEY_KEY = "key."


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
    """One case, challenge or key event delivered to the agency.

    Exactly one of three names says whose event it is: ``case`` for a case's event;
    ``challenge`` for a challenge's (a challenge's case, if any, is in its
    ``ChallengeRaised``); ``key_id`` for an ``AgencyKeyRegistered`` or ``AgencyKeyRevoked``
    of one of the agency's own keys (a partnership event: an agency is told of every key
    registered or revoked in its name, so it notices one it never asked for).
    ``sequence`` is the event's ledger stream sequence (the same for every agency and
    every redelivery: the idempotency key), ``version`` its place in the case, challenge
    or (for a key event) the partnership, ``attempt`` how many times the consumer has
    delivered it (1 the first time; a replayed dead letter counts on from its attempts).
    """

    event: Event
    partnership: str
    case: str | None
    sequence: int
    version: int
    attempt: int
    _msg: Msg | None = field(default=None, compare=False)
    challenge: str | None = None
    key_id: str | None = None

    @property
    def event_type(self) -> str:
        return tag_of(type(self.event))

    def __repr__(self) -> str:  # the event's fields may be personal data: its type only
        return (
            f"Delivery(sequence={self.sequence}, partnership={self.partnership!r},"
            f" case={self.case!r}, challenge={self.challenge!r}, key_id={self.key_id!r},"
            f" event_type={self.event_type!r}, version={self.version}, attempt={self.attempt})"
        )


#: What :meth:`AgencySubscription.run` and :func:`replay` call for each delivery.
Handler = Callable[[Delivery], Awaitable[None]]


def case_key(subject: str, prefix: str, agency: str) -> Key | None:
    """The :data:`Key` of a delivery subject (a case's, a challenge's or a key's), or None
    if it names none of them."""
    found = split_delivery_subject(prefix, agency, subject)
    if found is None:
        return None
    partnership, kind, ident = found
    if kind == "case":
        return partnership, ident
    return partnership, f"{_CHALLENGE_KEY if kind == 'challenge' else _KEY_KEY}{ident}"


def key_names(second: str) -> tuple[str | None, str | None, str | None]:
    """``(case, challenge, key_id)`` from a key's second part (two of them are None)."""
    if second.startswith(_CHALLENGE_KEY):
        return None, second.removeprefix(_CHALLENGE_KEY), None
    if second.startswith(_KEY_KEY):
        return None, None, second.removeprefix(_KEY_KEY)
    return second, None, None


def order_of(key: Key) -> Key:
    """What a delivery of ``key`` is kept in order with: the key itself, except that all of
    the agency's key events in a partnership are one order (``(partnership, "key.")``)."""
    partnership, second = key
    return (partnership, _KEY_KEY) if second.startswith(_KEY_KEY) else key


def delivery_of(msg: Msg, key: Key | None, prefix: str, agency: str) -> Delivery:
    """The :class:`Delivery` of a message on subject ``key``; :class:`InvalidDelivery`
    (or the decoder's :class:`~schemas.errors.LedgerError`) if it is not one."""
    if key is None:
        msg_ = (
            f"delivery subject is not {prefix}.{agency}.<partnership>.<case>,"
            f" {prefix}.{agency}.<partnership>.challenge.<challenge> nor"
            f" {prefix}.{agency}.<partnership>.key.<key_id> (rule: the ledger service delivers"
            " each case, challenge or key event on its case's, challenge's or key's subject)"
        )
        raise InvalidDelivery(msg_, field="subject")
    headers = msg.headers or {}
    sequence = _header_int(headers, HDR_SOURCE_SEQ)
    version = _header_int(headers, HDR_VERSION)
    event = decode_event(msg.data)
    topic = headers.get(HDR_TOPIC)
    if topic is not None and topic != tag_of(type(event)):
        msg_ = (
            f"header {HDR_TOPIC} names another event type than the payload's"
            " 'type' (rule: the header repeats the payload's tag)"
        )
        raise InvalidDelivery(msg_, field=HDR_TOPIC)
    case, challenge, key_id = key_names(key[1])
    return Delivery(
        event=event,
        partnership=key[0],
        case=case,
        challenge=challenge,
        key_id=key_id,
        sequence=sequence,
        version=version,
        attempt=msg.metadata.num_delivered,
        _msg=msg,
    )


def _header_int(headers: dict[str, str], name: str) -> int:
    value = int_or_none(headers.get(name))
    if value is None or value < 1:
        msg = (
            f"delivery header {name} is missing or not a positive integer (rule: the ledger"
            " service stamps every delivered event with its ledger sequence and version)"
        )
        raise InvalidDelivery(msg, field=name)
    return value


def int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
