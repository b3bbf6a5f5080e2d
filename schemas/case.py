"""Events of the case aggregate: one multi-agency safeguarding case and its chronology.

Children appear only as pseudonymous ``ChildRef`` tokens. A child can carry
several tokens over time (a temporary UPN replaced, an NHS number made inactive,
an unborn child with none yet): tokens are linked and unlinked by events, and an
identifier that is not known carries its reason.

Refusals carry their stated basis, so that a decision not to share because
sharing would be more detrimental to the child (Children Act 2004 s16LA) stands
apart from a refusal with no stated basis.
"""

from __future__ import annotations

import enum
from typing import Annotated, ClassVar

import msgspec

from schemas._base import AggregateKind, Event, Strict
from schemas._types import AgencyId, ChildRef, FreeText, Id, ShortText, StreamSequence, UtcDatetime

__all__ = [
    "ActionKind",
    "ActionOutcome",
    "ActionRecorded",
    "AgeBand",
    "AgencyJoinedCase",
    "AgencyLeftCase",
    "CaseClosed",
    "CaseClosureReason",
    "CaseEvent",
    "CaseOpened",
    "ChildIdentifierLinked",
    "ChildIdentifierUnknown",
    "ChildIdentifierUnlinked",
    "ChildSubject",
    "ConcernKind",
    "ConcernRaised",
    "CooperationRefused",
    "IdentifierKind",
    "InformationProvided",
    "InformationRequested",
    "LateRecordingExplained",
    "RefusalBasis",
    "RefusalKind",
    "UnknownIdentifierReason",
]


class AgeBand(enum.StrEnum):
    """A child's age band when the case was opened (never a date of birth)."""

    UNBORN = "unborn"
    UNDER_1 = "under_1"
    AGED_1_4 = "1_4"
    AGED_5_9 = "5_9"
    AGED_10_15 = "10_15"
    AGED_16_17 = "16_17"
    AGED_18_PLUS = "18_plus"


class IdentifierKind(enum.StrEnum):
    """The kind of identifier a child token was derived from."""

    NHS_NUMBER = "nhs_number"
    UPN = "upn"
    LA_CHILD_ID = "la_child_id"
    OTHER = "other"


class UnknownIdentifierReason(enum.StrEnum):
    """Why a child has no consistent identifier yet."""

    UNBORN = "unborn"
    NOT_YET_ISSUED = "not_yet_issued"
    NOT_DISCLOSED = "not_disclosed"
    TEMPORARY = "temporary"
    OTHER = "other"


class ActionKind(enum.StrEnum):
    """What an agency did on a case."""

    REFERRAL_RECEIVED = "referral_received"
    REFERRAL_DECISION = "referral_decision"
    STRATEGY_DISCUSSION = "strategy_discussion"
    SECTION47_STARTED = "section47_started"
    SECTION47_COMPLETED = "section47_completed"
    ASSESSMENT_STARTED = "assessment_started"
    ASSESSMENT_COMPLETED = "assessment_completed"
    INITIAL_CONFERENCE = "initial_conference"
    REVIEW_CONFERENCE = "review_conference"
    CHILD_SEEN = "child_seen"
    HOME_VISIT = "home_visit"
    INFORMATION_SHARED = "information_shared"
    PLAN_REVIEWED = "plan_reviewed"
    PROTECTION_PLAN_STARTED = "protection_plan_started"
    PROTECTION_PLAN_ENDED = "protection_plan_ended"
    OTHER = "other"


class ActionOutcome(enum.StrEnum):
    """The outcome of a decision (a referral decision, a strategy discussion, a conference)."""

    NO_FURTHER_ACTION = "no_further_action"
    EARLY_HELP = "early_help"
    SECTION17 = "section17"
    SECTION47 = "section47"
    PROTECTION_PLAN = "protection_plan"
    OTHER = "other"


class RefusalKind(enum.StrEnum):
    """How an agency did not cooperate."""

    INFORMATION_WITHHELD = "information_withheld"
    MEETING_NOT_ATTENDED = "meeting_not_attended"
    REPORT_NOT_PROVIDED = "report_not_provided"
    REQUEST_NOT_ANSWERED = "request_not_answered"
    OTHER = "other"


class RefusalBasis(enum.StrEnum):
    """The basis an agency stated for not cooperating."""

    #: Sharing would be more detrimental to the child than not sharing (Children Act 2004 s16LA).
    MORE_DETRIMENTAL_TO_CHILD = "more_detrimental_to_child"
    LEGAL_PROHIBITION = "legal_prohibition"
    CONSENT_NOT_GIVEN = "consent_not_given"
    NO_STATED_BASIS = "no_stated_basis"
    OTHER = "other"


class ConcernKind(enum.StrEnum):
    """The kind of harm or risk a concern is about."""

    SIGNIFICANT_HARM = "significant_harm"
    NEGLECT = "neglect"
    PHYSICAL_ABUSE = "physical_abuse"
    SEXUAL_ABUSE = "sexual_abuse"
    EMOTIONAL_ABUSE = "emotional_abuse"
    EXPLOITATION = "exploitation"
    DOMESTIC_ABUSE = "domestic_abuse"
    OTHER = "other"


class CaseClosureReason(enum.StrEnum):
    """Why a case was closed."""

    NO_FURTHER_ACTION = "no_further_action"
    PLAN_ENDED = "plan_ended"
    MOVED_AREA = "moved_area"
    CHILD_TURNED_18 = "child_turned_18"
    OTHER = "other"


class ChildSubject(Strict, frozen=True, kw_only=True):
    """A child the case is about: a pseudonymous token and an age band."""

    child: ChildRef
    age_band: AgeBand


class CaseEvent(Event, frozen=True):
    """Base of the events whose aggregate is a case."""

    aggregate_kind: ClassVar[AggregateKind] = "case"


class CaseOpened(CaseEvent, tag="CaseOpened", frozen=True, kw_only=True):
    """A case was opened about one or more children, led by one agency."""

    opens: ClassVar[bool] = True

    children: Annotated[list[ChildSubject], msgspec.Meta(min_length=1, max_length=20)]
    lead_agency: AgencyId


class ChildIdentifierLinked(CaseEvent, tag="ChildIdentifierLinked", frozen=True, kw_only=True):
    """Two tokens were found to refer to the same child and were linked."""

    child: ChildRef
    linked: ChildRef
    identifier_kind: IdentifierKind
    reason: FreeText | msgspec.UnsetType = msgspec.UNSET


class ChildIdentifierUnlinked(CaseEvent, tag="ChildIdentifierUnlinked", frozen=True, kw_only=True):
    """A link between two child tokens was found wrong and was removed."""

    child: ChildRef
    linked: ChildRef
    identifier_kind: IdentifierKind
    reason: FreeText | msgspec.UnsetType = msgspec.UNSET


class ChildIdentifierUnknown(CaseEvent, tag="ChildIdentifierUnknown", frozen=True, kw_only=True):
    """A child's consistent identifier was recorded as not known, with the reason."""

    child: ChildRef
    reason: UnknownIdentifierReason


class AgencyJoinedCase(CaseEvent, tag="AgencyJoinedCase", frozen=True, kw_only=True):
    """An agency became party to the case."""

    agency: AgencyId
    role: ShortText | msgspec.UnsetType = msgspec.UNSET


class AgencyLeftCase(CaseEvent, tag="AgencyLeftCase", frozen=True, kw_only=True):
    """An agency stopped being party to the case."""

    agency: AgencyId
    reason: FreeText | msgspec.UnsetType = msgspec.UNSET


class ActionRecorded(CaseEvent, tag="ActionRecorded", frozen=True, kw_only=True):
    """An agency took an action on the case."""

    action: ActionKind
    child: ChildRef | msgspec.UnsetType = msgspec.UNSET
    # ``seen`` and ``seen_alone`` are meaningful for ``child_seen`` and ``home_visit``,
    # ``outcome`` for decisions (referral decision, strategy discussion, conferences).
    seen: bool | msgspec.UnsetType = msgspec.UNSET
    seen_alone: bool | msgspec.UnsetType = msgspec.UNSET
    outcome: ActionOutcome | msgspec.UnsetType = msgspec.UNSET
    note: FreeText | msgspec.UnsetType = msgspec.UNSET


class InformationRequested(CaseEvent, tag="InformationRequested", frozen=True, kw_only=True):
    """One agency asked another for information about the case."""

    request: Id
    from_agency: AgencyId
    to_agency: AgencyId
    due_by: UtcDatetime | msgspec.UnsetType = msgspec.UNSET
    note: FreeText | msgspec.UnsetType = msgspec.UNSET


class InformationProvided(CaseEvent, tag="InformationProvided", frozen=True, kw_only=True):
    """An agency provided the information it was asked for."""

    request: Id
    by_agency: AgencyId
    note: FreeText | msgspec.UnsetType = msgspec.UNSET


class CooperationRefused(CaseEvent, tag="CooperationRefused", frozen=True, kw_only=True):
    """An agency did not cooperate (withheld information, did not attend, ...), with its basis."""

    agency: AgencyId
    kind: RefusalKind
    basis: RefusalBasis
    reason: FreeText | msgspec.UnsetType = msgspec.UNSET
    request: Id | msgspec.UnsetType = msgspec.UNSET


class ConcernRaised(CaseEvent, tag="ConcernRaised", frozen=True, kw_only=True):
    """A concern about harm to a child was raised."""

    concern: Id
    kind: ConcernKind
    child: ChildRef | msgspec.UnsetType = msgspec.UNSET
    note: FreeText | msgspec.UnsetType = msgspec.UNSET


class LateRecordingExplained(CaseEvent, tag="LateRecordingExplained", frozen=True, kw_only=True):
    """The reason an event was recorded late was given."""

    event_sequence: StreamSequence
    reason: FreeText


class CaseClosed(CaseEvent, tag="CaseClosed", frozen=True, kw_only=True):
    """The case was closed."""

    reason: CaseClosureReason
    note: FreeText | msgspec.UnsetType = msgspec.UNSET
