"""Commands on a partnership: establish it, register its agencies and their keys,
revoke keys and require signatures.

Each command names the event it records (``records``); ``by_recorder`` lists the
fields that default to the recording agency when not given.
"""

from __future__ import annotations

import datetime
from typing import Annotated, ClassVar, Literal

import msgspec

from schemas._base import Event
from schemas._types import AgencyId, Id, OrgName
from schemas.commands._base import BaseCommand
from schemas.partnership import (
    AgencyKeyRegistered,
    AgencyKeyRevoked,
    AgencyKind,
    AgencyRegistered,
    AgencyRole,
    Ed25519PublicKey,
    EscalationStage,
    Nation,
    PartnershipEstablished,
    SignaturesRequired,
)

__all__ = [
    "EstablishPartnership",
    "RegisterAgency",
    "RegisterAgencyKey",
    "RequireSignatures",
    "RevokeAgencyKey",
]


class EstablishPartnership(BaseCommand, tag="EstablishPartnership", frozen=True, kw_only=True):
    """Establish ``partnership`` in ``nation`` with its escalation stages, numbered 1, 2 ..."""

    records: ClassVar[type[Event]] = PartnershipEstablished

    name: OrgName
    nation: Nation
    escalation_stages: Annotated[list[EscalationStage], msgspec.Meta(min_length=1, max_length=5)]
    strategy_discussion_working_days: Annotated[int, msgspec.Meta(ge=1, le=30)] = 3


class RegisterAgency(BaseCommand, tag="RegisterAgency", frozen=True, kw_only=True):
    """Register ``agency`` with the partnership, with its kind and role."""

    records: ClassVar[type[Event]] = AgencyRegistered

    agency: AgencyId
    name: OrgName
    kind: AgencyKind
    role: AgencyRole


class RegisterAgencyKey(BaseCommand, tag="RegisterAgencyKey", frozen=True, kw_only=True):
    """Register a public key of ``agency`` (recorded by that agency itself)."""

    records: ClassVar[type[Event]] = AgencyKeyRegistered

    agency: AgencyId
    key_id: Id
    public_key: Ed25519PublicKey
    algorithm: Literal["ed25519"] = "ed25519"
    custody: Literal["agency", "service"] = "agency"


class RevokeAgencyKey(BaseCommand, tag="RevokeAgencyKey", frozen=True, kw_only=True):
    """Revoke key ``key_id`` of ``agency`` (recorded by that agency itself)."""

    records: ClassVar[type[Event]] = AgencyKeyRevoked

    agency: AgencyId
    key_id: Id
    reason: Literal["rotated", "compromised", "retired"]


class RequireSignatures(BaseCommand, tag="RequireSignatures", frozen=True, kw_only=True):
    """Require agencies' signatures on every event recorded from ``required_from`` on."""

    records: ClassVar[type[Event]] = SignaturesRequired

    required_from: datetime.date
