"""Commands on a case: open it, manage its parties and child tokens, record its chronology.

Each command names the event it records (``records``); ``by_recorder`` lists the
fields that default to the recording agency when not given.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from schemas._base import Event
from schemas._types import (
    AgencyId,
    CaseId,
    ChildRef,
    FreeText,
    Id,
    ShortText,
    StreamSequence,
    UtcDatetime,
)
from schemas.case import (
    ActionKind,
    ActionOutcome,
    ActionRecorded,
    AgencyJoinedCase,
    AgencyLeftCase,
    CaseClosed,
    CaseClosureReason,
    CaseOpened,
    ChildIdentifierLinked,
    ChildIdentifierUnknown,
    ChildIdentifierUnlinked,
    ChildSubject,
    ConcernKind,
    ConcernRaised,
    CooperationRefused,
    IdentifierKind,
    InformationProvided,
    InformationRequested,
    LateRecordingExplained,
    RefusalBasis,
    RefusalKind,
    UnknownIdentifierReason,
)
from schemas.commands._base import BaseCommand

__all__ = [
    "CloseCase",
    "ExplainLateRecording",
    "JoinCase",
    "LeaveCase",
    "LinkChildIdentifier",
    "OpenCase",
    "ProvideInformation",
    "RaiseConcern",
    "RecordAction",
    "RecordUnknownIdentifier",
    "RefuseCooperation",
    "RequestInformation",
    "UnlinkChildIdentifier",
]


class OpenCase(BaseCommand, tag="OpenCase", frozen=True, kw_only=True):
    """Open ``case`` about ``children``; the recording agency leads it (``lead_agency``)."""

    records: ClassVar[type[Event]] = CaseOpened
    by_recorder: ClassVar[tuple[str, ...]] = ("lead_agency",)

    case: CaseId
    children: Annotated[list[ChildSubject], msgspec.Meta(min_length=1, max_length=20)]
    lead_agency: AgencyId | msgspec.UnsetType = msgspec.UNSET


class LinkChildIdentifier(BaseCommand, tag="LinkChildIdentifier", frozen=True, kw_only=True):
    """Link the token ``linked`` to ``child`` of the case: both refer to the same child."""

    records: ClassVar[type[Event]] = ChildIdentifierLinked

    case: CaseId
    child: ChildRef
    linked: ChildRef
    identifier_kind: IdentifierKind
    reason: FreeText | msgspec.UnsetType = msgspec.UNSET


class UnlinkChildIdentifier(BaseCommand, tag="UnlinkChildIdentifier", frozen=True, kw_only=True):
    """Remove a link between two child tokens that was found wrong."""

    records: ClassVar[type[Event]] = ChildIdentifierUnlinked

    case: CaseId
    child: ChildRef
    linked: ChildRef
    identifier_kind: IdentifierKind
    reason: FreeText | msgspec.UnsetType = msgspec.UNSET


class RecordUnknownIdentifier(
    BaseCommand, tag="RecordUnknownIdentifier", frozen=True, kw_only=True
):
    """Record that ``child`` has no consistent identifier yet, and why."""

    records: ClassVar[type[Event]] = ChildIdentifierUnknown

    case: CaseId
    child: ChildRef
    reason: UnknownIdentifierReason


class JoinCase(BaseCommand, tag="JoinCase", frozen=True, kw_only=True):
    """Make the registered ``agency`` a party to the case."""

    records: ClassVar[type[Event]] = AgencyJoinedCase

    case: CaseId
    agency: AgencyId
    role: ShortText | msgspec.UnsetType = msgspec.UNSET


class LeaveCase(BaseCommand, tag="LeaveCase", frozen=True, kw_only=True):
    """Record that ``agency`` is no longer a party to the case (never its lead)."""

    records: ClassVar[type[Event]] = AgencyLeftCase

    case: CaseId
    agency: AgencyId
    reason: FreeText | msgspec.UnsetType = msgspec.UNSET


class RecordAction(BaseCommand, tag="RecordAction", frozen=True, kw_only=True):
    """Record an ``action`` the recording agency took on the case."""

    records: ClassVar[type[Event]] = ActionRecorded

    case: CaseId
    action: ActionKind
    child: ChildRef | msgspec.UnsetType = msgspec.UNSET
    seen: bool | msgspec.UnsetType = msgspec.UNSET
    seen_alone: bool | msgspec.UnsetType = msgspec.UNSET
    outcome: ActionOutcome | msgspec.UnsetType = msgspec.UNSET
    note: FreeText | msgspec.UnsetType = msgspec.UNSET


class RequestInformation(BaseCommand, tag="RequestInformation", frozen=True, kw_only=True):
    """Ask ``to_agency`` for information (``from_agency`` defaults to the recording agency)."""

    records: ClassVar[type[Event]] = InformationRequested
    by_recorder: ClassVar[tuple[str, ...]] = ("from_agency",)

    case: CaseId
    request: Id
    to_agency: AgencyId
    from_agency: AgencyId | msgspec.UnsetType = msgspec.UNSET
    due_by: UtcDatetime | msgspec.UnsetType = msgspec.UNSET
    note: FreeText | msgspec.UnsetType = msgspec.UNSET


class ProvideInformation(BaseCommand, tag="ProvideInformation", frozen=True, kw_only=True):
    """Answer the open ``request`` (``by_agency``, its addressee, defaults to the recorder)."""

    records: ClassVar[type[Event]] = InformationProvided
    by_recorder: ClassVar[tuple[str, ...]] = ("by_agency",)

    case: CaseId
    request: Id
    by_agency: AgencyId | msgspec.UnsetType = msgspec.UNSET
    note: FreeText | msgspec.UnsetType = msgspec.UNSET


class RefuseCooperation(BaseCommand, tag="RefuseCooperation", frozen=True, kw_only=True):
    """Record that the party ``agency`` did not cooperate, how, and on what stated basis."""

    records: ClassVar[type[Event]] = CooperationRefused

    case: CaseId
    agency: AgencyId
    kind: RefusalKind
    basis: RefusalBasis
    reason: FreeText | msgspec.UnsetType = msgspec.UNSET
    request: Id | msgspec.UnsetType = msgspec.UNSET


class RaiseConcern(BaseCommand, tag="RaiseConcern", frozen=True, kw_only=True):
    """Raise a concern of harm (``kind``) about the case or one of its children."""

    records: ClassVar[type[Event]] = ConcernRaised

    case: CaseId
    concern: Id
    kind: ConcernKind
    child: ChildRef | msgspec.UnsetType = msgspec.UNSET
    note: FreeText | msgspec.UnsetType = msgspec.UNSET


class ExplainLateRecording(BaseCommand, tag="ExplainLateRecording", frozen=True, kw_only=True):
    """Give the reason the event at stream sequence ``event_sequence`` was recorded late."""

    records: ClassVar[type[Event]] = LateRecordingExplained

    case: CaseId
    event_sequence: StreamSequence
    reason: FreeText


class CloseCase(BaseCommand, tag="CloseCase", frozen=True, kw_only=True):
    """Close the case; nothing more is recorded on it."""

    records: ClassVar[type[Event]] = CaseClosed

    case: CaseId
    reason: CaseClosureReason
    note: FreeText | msgspec.UnsetType = msgspec.UNSET
