"""What every command shares: the partnership it is for, its source and when it happened.

A command is the caller's request to record one event, as data: an imperative,
frozen struct (``RecordAction``, ``EscalateChallenge`` ...) tagged with its name
in the ``type`` field, refusing unknown fields. Its fields are the fields of the
event it records (``records``), with the constraints of their types, less what the
ledger stamps itself: ``recorded_at`` (the ledger's clock), ``recorded_by`` (the
caller's identity, never the body of a command) and ``schema_version``.
"""

from __future__ import annotations

from typing import ClassVar, Final

import msgspec

from schemas._base import Event, Source, SourceKind, Strict
from schemas._types import HappenedAt, PartnershipId

__all__ = ["DEFAULT_SOURCE", "BaseCommand"]

#: The source of a command that names none: the agency's own case record.
DEFAULT_SOURCE: Final = Source(kind=SourceKind.CASE_RECORD)


class BaseCommand(Strict, frozen=True, kw_only=True, tag_field="type"):
    """Base of every command. Subclasses set an explicit, never-changing ``tag``.

    * ``records``: the event type the command records;
    * ``by_recorder``: the fields that default to the recording agency when not given;
    * ``partnership``: the partnership it is recorded in;
    * ``source``: where the information comes from (default: the agency's case record);
    * ``occurred_at``: when it happened (default: when the ledger records it).

    The aggregate a command is for is the field named after the kind of its event's
    aggregate (``case``, ``challenge``, ``review``; a partnership's is ``partnership``).
    """

    records: ClassVar[type[Event]]
    by_recorder: ClassVar[tuple[str, ...]] = ()

    partnership: PartnershipId
    source: Source = DEFAULT_SOURCE
    occurred_at: HappenedAt | msgspec.UnsetType = msgspec.UNSET
