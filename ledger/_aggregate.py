"""How ledger aggregates meet eventsourcing: one event class pair, one mapper.

eventsourcing wants domain events with ``originator_id``, ``originator_version``
and ``timestamp`` that mutate an aggregate. The ledger's facts are msgspec
structs from ``schemas``. Rather than mirror every schema type as a second
eventsourcing class, each aggregate event wraps one fact:

* :class:`Opened` creates an aggregate (the fact's type has ``opens = True``);
* :class:`Recorded` is every later event.

Both call ``aggregate.when(fact)``, where the aggregate applies the fact to its
state. :class:`LedgerMapper` stores exactly the fact's msgspec JSON as the event
state and the fact's tag (``CaseOpened``) as the topic, so what lies on the
stream is language-neutral and validates against ``ledger schema`` output; it
falls back to the library's mapping for any other domain event.

Aggregate ids are strings ``<partnership>.<kind>.<id>``, which the NATS
persistence turns into the subject ``ledger.<partnership>.<kind>.<id>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final

import msgspec
from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic

import schemas
from schemas import Event as Fact
from schemas.errors import InvalidEvent
from schemas.wire import AGGREGATE_ID_PATTERN, aggregate_id, split_aggregate_id

__all__ = [
    "AGGREGATE_ID_PATTERN",
    "LedgerAggregate",
    "LedgerMapper",
    "Opened",
    "Recorded",
    "SignedStoredEvent",
    "aggregate_id",
    "proofs_on",
    "register_aggregate",
    "signature_of",
    "split_aggregate_id",
]

_YES: Final = frozenset({"y", "yes", "t", "true", "on", "1"})


def proofs_on(value: str | None) -> bool:
    """``LEDGER_PROOFS`` as a switch: on unless set to a false word (``n``, ``off`` ...)."""
    return value is None or value == "" or value.strip().lower() in _YES


@dataclass(frozen=True)
class SignedStoredEvent(StoredEvent):
    """A stored event with the ``Ledger-Signature`` header value the store writes beside it.

    The signature travels with the event it signs, from the application service through
    the library's recording path to the recorder: no state on the side.
    """

    signature: str = ""


def signature_of(stored: StoredEvent) -> str | None:
    """The ``Ledger-Signature`` value to store with ``stored``, if it has one."""
    return stored.signature or None if isinstance(stored, SignedStoredEvent) else None


class _FactEvent:
    """State shared by both event classes: the wrapped fact and the library's fields."""

    originator_id: str
    originator_version: int
    timestamp: datetime
    fact: Fact
    #: The ``Ledger-Signature`` header value the event is stored with ("" for none); set by
    #: the application service after checking it, before the save.
    signature: str = ""
    #: The fact's payload as the signature check encoded it (``schemas.encode_event``), so
    #: that the mapper stores the very bytes checked without encoding them again; or None.
    payload: bytes | None = None

    def __init__(
        self,
        *,
        originator_id: str,
        originator_version: int,
        timestamp: datetime,
        fact: Fact,
        originator_topic: str = "",
    ) -> None:
        self.originator_id = originator_id
        self.originator_version = originator_version
        self.timestamp = timestamp
        self.fact = fact
        if originator_topic:
            self.originator_topic = originator_topic

    def apply(self, aggregate: Any) -> None:
        aggregate.when(self.fact)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(originator_id={self.originator_id!r}, "
            f"originator_version={self.originator_version}, fact={type(self.fact).__name__})"
        )


class Recorded(_FactEvent, CanMutateAggregate[str]):
    """An event that changes an existing aggregate."""


class Opened(_FactEvent, CanInitAggregate[str]):
    """The event that creates an aggregate; ``originator_topic`` names its class."""

    originator_topic: str


class LedgerAggregate(BaseAggregate[str]):
    """Base of the ledger's aggregates.

    Subclasses set ``KIND`` and implement ``when(fact)``, which must only change
    state (all rule checks happen in command methods before an event is made),
    because ``when`` also runs when events are replayed from the stream.
    """

    KIND: ClassVar[str]

    @property
    def ident(self) -> str:
        """The aggregate's own id within its partnership (``c-1042`` of
        ``northshire.case.c-1042``; a partnership's is the partnership id)."""
        return split_aggregate_id(self.id)[2]

    def when(self, fact: Fact) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def open(cls, ident: str, fact: Fact) -> LedgerAggregate:
        """Create the aggregate ``ident`` from its opening ``fact``."""
        return cls._create(Opened, id=ident, fact=fact, timestamp=fact.recorded_at)

    def record(self, fact: Fact) -> None:
        """Apply ``fact`` as the next event of this aggregate."""
        self.trigger_event(Recorded, fact=fact, timestamp=fact.recorded_at)


_AGGREGATE_TOPICS: dict[str, str] = {}


def register_aggregate(cls: type[LedgerAggregate]) -> type[LedgerAggregate]:
    """Class decorator: let the mapper rebuild ``cls`` from events of its ``KIND``."""
    _AGGREGATE_TOPICS[cls.KIND] = get_topic(cls)
    return cls


class LedgerMapper(Mapper[str]):
    """Stores a ledger event as its schema JSON under its tag; other events as the library does.

    The cipher and compressor, when configured, apply to ledger events too.
    """

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if not isinstance(domain_event, _FactEvent):
            return super().to_stored_event(domain_event)
        state = domain_event.payload
        if state is None:
            state = schemas.encode_event(domain_event.fact)
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        if domain_event.signature:
            return SignedStoredEvent(
                originator_id=domain_event.originator_id,
                originator_version=domain_event.originator_version,
                topic=domain_event.fact.__struct_config__.tag,  # type: ignore[arg-type]
                state=state,
                signature=domain_event.signature,
            )
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=domain_event.fact.__struct_config__.tag,  # type: ignore[arg-type]
            state=state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        if stored_event.topic not in schemas.EVENT_TYPES:
            return super().to_domain_event(stored_event)
        fact = self.to_fact(stored_event)
        originator_id = str(stored_event.originator_id)
        if type(fact).opens:
            kind = split_aggregate_id(originator_id)[1]
            return Opened(
                originator_id=originator_id,
                originator_version=stored_event.originator_version,
                timestamp=fact.recorded_at,
                fact=fact,
                originator_topic=_AGGREGATE_TOPICS[kind],
            )
        return Recorded(
            originator_id=originator_id,
            originator_version=stored_event.originator_version,
            timestamp=fact.recorded_at,
            fact=fact,
        )

    def to_fact(self, stored_event: StoredEvent) -> schemas.Event:
        """Only the fact of a stored ledger event: what projections need, without the wrapper."""
        state = stored_event.state
        try:
            if self.cipher:
                state = self.cipher.decrypt(state)
            if self.compressor:
                state = self.compressor.decompress(state)
            fact = schemas.decode_event(state)
        except (InvalidEvent, msgspec.DecodeError, ValueError) as e:
            msg = (
                f"stored event {stored_event.originator_id!r} version "
                f"{stored_event.originator_version} ({stored_event.topic}) does not decode: {e}"
            )
            raise MapperDeserialisationError(msg) from e
        return fact
