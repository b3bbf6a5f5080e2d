"""What the agency client hands out: :class:`Delivery`, its errors, and how a delivered
message becomes one.

A delivered message's subject is ``<prefix>-delivery.<agency>.<partnership>.<case>`` and
its headers carry the event's ledger sequence and version (see :mod:`schemas.wire`);
a message without them fails like a handler would, with :class:`InvalidDelivery`.
Nothing here does I/O; :mod:`consumers.client` re-exports the public names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nats.aio.msg import Msg

from schemas import Event, decode_event, tag_of
from schemas.errors import LedgerError
from schemas.wire import HDR_SOURCE_SEQ, HDR_TOPIC, HDR_VERSION

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
]

Key = tuple[str, str]  # (partnership, case)


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


def case_key(subject: str, prefix: str, agency: str) -> Key | None:
    """The (partnership, case) a delivery subject names, or None if it names none."""
    tokens = subject.split(".")
    if len(tokens) == 4 and tokens[0] == prefix and tokens[1] == agency:
        return tokens[2], tokens[3]
    return None


def delivery_of(msg: Msg, key: Key | None, prefix: str, agency: str) -> Delivery:
    """The :class:`Delivery` of a message on subject ``key``; :class:`InvalidDelivery`
    (or the decoder's :class:`~schemas.errors.LedgerError`) if it is not one."""
    if key is None:
        msg_ = (
            f"delivery subject is not {prefix}.{agency}.<partnership>.<case>"
            " (rule: the ledger service delivers each case event on its case's subject)"
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
    return Delivery(
        event=event,
        partnership=key[0],
        case=key[1],
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
