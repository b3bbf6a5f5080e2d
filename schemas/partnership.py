"""Events of the partnership aggregate: the safeguarding partnership and its agencies.

A partnership is established once, with its nation (whose bank holidays count as
non-working days) and its escalation procedure for professional disagreements;
agencies are then registered with it, and each agency registers the public keys
it will sign with (or one the service holds for it), revokes them, and the partnership
may require signatures on everything recorded from a date on (docs/proofs.md).
"""

from __future__ import annotations

import datetime
import enum
from typing import Annotated, ClassVar, Literal

import msgspec

from schemas._base import AggregateKind, Event, Strict
from schemas._types import AgencyId, Id, OrgName, StageNumber, anchored

__all__ = [
    "AgencyKeyRegistered",
    "AgencyKeyRevoked",
    "AgencyKind",
    "AgencyRegistered",
    "AgencyRole",
    "Ed25519PublicKey",
    "EscalationStage",
    "Nation",
    "PartnershipEstablished",
    "PartnershipEvent",
    "SignaturesRequired",
]

#: An Ed25519 public key: 32 bytes in standard base64 (43 characters and one ``=``).
#: The last character before the padding carries only 4 bits, so the pattern admits
#: exactly the canonical encodings.
Ed25519PublicKey = Annotated[
    str,
    msgspec.Meta(
        pattern=anchored(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]="),
        title="Ed25519PublicKey",
        description="Ed25519 public key: 32 bytes in standard base64 with padding (44 characters)",
    ),
]


class Nation(enum.StrEnum):
    """The nation whose law and bank holidays apply to the partnership."""

    ENGLAND = "england"
    WALES = "wales"


class AgencyKind(enum.StrEnum):
    """What kind of organisation an agency is."""

    LOCAL_AUTHORITY = "local_authority"
    POLICE = "police"
    HEALTH = "health"
    SCHOOL = "school"
    PROBATION = "probation"
    HOUSING = "housing"
    VOLUNTARY = "voluntary"
    OTHER = "other"


class AgencyRole(enum.StrEnum):
    """An agency's standing in the partnership's safeguarding arrangements."""

    STATUTORY_PARTNER = "statutory_partner"
    RELEVANT_AGENCY = "relevant_agency"


class EscalationStage(Strict, frozen=True, kw_only=True):
    """One stage of the partnership's escalation procedure and its response time."""

    stage: StageNumber
    title: OrgName
    response_working_days: Annotated[int, msgspec.Meta(ge=1, le=60)]


class PartnershipEvent(Event, frozen=True):
    """Base of the events whose aggregate is a partnership."""

    aggregate_kind: ClassVar[AggregateKind] = "partnership"


class PartnershipEstablished(
    PartnershipEvent, tag="PartnershipEstablished", frozen=True, kw_only=True
):
    """A safeguarding partnership was established with its escalation procedure."""

    opens: ClassVar[bool] = True

    name: OrgName
    nation: Nation
    escalation_stages: Annotated[list[EscalationStage], msgspec.Meta(min_length=1, max_length=5)]
    strategy_discussion_working_days: Annotated[int, msgspec.Meta(ge=1, le=30)] = 3


class AgencyRegistered(PartnershipEvent, tag="AgencyRegistered", frozen=True, kw_only=True):
    """An agency was registered with the partnership."""

    agency: AgencyId
    name: OrgName
    kind: AgencyKind
    role: AgencyRole


class AgencyKeyRegistered(PartnershipEvent, tag="AgencyKeyRegistered", frozen=True, kw_only=True):
    """An agency registered a public key with which its signatures can be verified."""

    agency: AgencyId
    key_id: Id
    algorithm: Literal["ed25519"]
    public_key: Ed25519PublicKey
    #: ``agency``: the agency holds the private key; ``service``: the ledger service holds
    #: it on the agency's behalf and signs with it for the agency (delegation).
    custody: Literal["agency", "service"] = "agency"


class AgencyKeyRevoked(PartnershipEvent, tag="AgencyKeyRevoked", frozen=True, kw_only=True):
    """An agency revoked one of its keys: nothing recorded from now on may be signed by it."""

    agency: AgencyId
    key_id: Id
    reason: Literal["rotated", "compromised", "retired"]


class SignaturesRequired(PartnershipEvent, tag="SignaturesRequired", frozen=True, kw_only=True):
    """The partnership requires an agency's signature on every event recorded from a date on."""

    required_from: datetime.date
