"""What the agency client hands out: :class:`Delivery`, its errors, and how a delivered
message becomes one.

A delivered message's subject is ``<prefix>-delivery.<agency>.<partnership>.<case>`` for
a case's event and ``<prefix>-delivery.<agency>.<partnership>.challenge.<challenge>`` for
a challenge's, and its headers carry the event's ledger sequence and version (see
:mod:`schemas.wire`); a message without them fails like a handler would, with
:class:`InvalidDelivery`.

A :data:`Key` says what a delivery is kept in order with: ``(partnership, case)``, or
``(partnership, "challenge.<challenge>")`` for a challenge (no identifier holds a ``.``,
so the two never meet). Dead letters keep the key's second part as their ``case``.
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
]

Key = tuple[str, str]  # (partnership, case), or (partnership, "challenge.<challenge>")

#: The key's second part for a challenge: this, then the challenge's id.
_CHALLENGE_KEY = "challenge."


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
    """One case or challenge event delivered to the agency.

    ``case`` is the case of a case's event; ``challenge`` the challenge of a challenge's
    event (then ``case`` is ``None``: a challenge's case, if any, is in its
    ``ChallengeRaised``). ``sequence`` is the event's ledger stream sequence (the same
    for every agency and every redelivery: the idempotency key), ``version`` its place in
    the case or challenge, ``attempt`` how many times the consumer has delivered it (1
    the first time; a replayed dead letter counts on from its attempts).
    """

    event: Event
    partnership: str
    case: str | None
    sequence: int
    version: int
    attempt: int
    _msg: Msg | None = field(default=None, compare=False)
    challenge: str | None = None

    @property
    def event_type(self) -> str:
        return tag_of(type(self.event))

    def __repr__(self) -> str:  # the event's fields may be personal data: its type only
        return (
            f"Delivery(sequence={self.sequence}, partnership={self.partnership!r},"
            f" case={self.case!r}, challenge={self.challenge!r},"
            f" event_type={self.event_type!r}, version={self.version}, attempt={self.attempt})"
        )


#: What :meth:`AgencySubscription.run` and :func:`replay` call for each delivery.
Handler = Callable[[Delivery], Awaitable[None]]


def case_key(subject: str, prefix: str, agency: str) -> Key | None:
    """The :data:`Key` of a delivery subject (a case's or a challenge's), or None if it
    names neither."""
    found = split_delivery_subject(prefix, agency, subject)
    if found is None:
        return None
    partnership, kind, ident = found
    return partnership, ident if kind == "case" else f"{_CHALLENGE_KEY}{ident}"


def key_names(second: str) -> tuple[str | None, str | None]:
    """``(case, challenge)`` from a key's second part (one of them is None)."""
    if second.startswith(_CHALLENGE_KEY):
        return None, second.removeprefix(_CHALLENGE_KEY)
    return second, None


def delivery_of(msg: Msg, key: Key | None, prefix: str, agency: str) -> Delivery:
    """The :class:`Delivery` of a message on subject ``key``; :class:`InvalidDelivery`
    (or the decoder's :class:`~schemas.errors.LedgerError`) if it is not one."""
    if key is None:
        msg_ = (
            f"delivery subject is not {prefix}.{agency}.<partnership>.<case> nor"
            f" {prefix}.{agency}.<partnership>.challenge.<challenge> (rule: the ledger service"
            " delivers each case or challenge event on its case's or challenge's subject)"
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
    case, challenge = key_names(key[1])
    return Delivery(
        event=event,
        partnership=key[0],
        case=case,
        challenge=challenge,
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
