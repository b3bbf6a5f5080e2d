"""The fields every ledger event carries, and the base struct they share."""

from __future__ import annotations

import enum
from typing import Annotated, ClassVar, Final, Literal

import msgspec

from schemas._types import ActorRef, AgencyId, HappenedAt, ShortText, UtcDatetime

__all__ = [
    "MAX_SCHEMA_VERSION",
    "AggregateKind",
    "Event",
    "RecordedBy",
    "SchemaVersion",
    "Source",
    "SourceKind",
    "Strict",
]

#: The four kinds of aggregate; each is a subject token: ``ledger.<partnership>.<kind>.<id>``.
AggregateKind = Literal["partnership", "case", "challenge", "review"]

#: The highest ``schema_version``: a type whose meaning changed this often would be a
#: new type; the bound keeps the field a small integer in every store and language.
MAX_SCHEMA_VERSION: Final = 1000

SchemaVersion = Annotated[
    int,
    msgspec.Meta(
        ge=1,
        le=MAX_SCHEMA_VERSION,
        title="SchemaVersion",
        description="version of the event type's schema: an integer from 1 to "
        f"{MAX_SCHEMA_VERSION}",
    ),
]


class Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every struct of the vocabulary: an unknown field is refused, not dropped.

    A field a caller sends that the ledger does not know (a child's name beside the
    token) must be refused with its path, never silently lost. Fields are added to a
    type with a default and read by upgraded readers first; see ``docs/events.md``.
    """


class RecordedBy(Strict, frozen=True, kw_only=True):
    """Who recorded the event: the agency and a pseudonymous practitioner reference."""

    agency: AgencyId
    actor: ActorRef


class SourceKind(enum.StrEnum):
    """Where the information comes from; a chronology must name its source."""

    CASE_RECORD = "case_record"
    MEETING_MINUTES = "meeting_minutes"
    PHONE_CALL = "phone_call"
    EMAIL = "email"
    LETTER = "letter"
    REPORT = "report"
    REFERRAL_FORM = "referral_form"
    SYSTEM = "system"
    OTHER = "other"
    #: Taken in from a partnership's own spreadsheet by ``ledger import``; the
    #: reference names the file, the line and the row's digest (docs/import.md).
    IMPORTED = "imported"


class Source(Strict, frozen=True, kw_only=True):
    """The source of the information, with an optional local document reference."""

    kind: SourceKind
    reference: ShortText | msgspec.UnsetType = msgspec.UNSET


class Event(Strict, frozen=True, kw_only=True, tag_field="type"):
    """Base of every ledger event. Subclasses set an explicit, never-changing ``tag``.

    * ``occurred_at``: when it happened, as the agency says (never in the future);
    * ``recorded_at``: when the ledger accepted it (stamped by the ledger, not the caller);
    * ``recorded_by``: the agency and a pseudonymous actor;
    * ``source``: where the information comes from;
    * ``schema_version``: bumped with an upcaster when a type's meaning must change.

    The aggregate an event belongs to is not repeated in the payload: it is the
    NATS subject (``ledger.<partnership>.<kind>.<id>``), the eventsourcing
    originator id. ``aggregate_kind`` says which kind of aggregate the type belongs
    to and ``opens`` whether it is the event that creates that aggregate.
    """

    aggregate_kind: ClassVar[AggregateKind]
    opens: ClassVar[bool] = False

    schema_version: SchemaVersion = 1
    occurred_at: HappenedAt
    recorded_at: UtcDatetime
    recorded_by: RecordedBy
    source: Source
