"""Constrained building blocks shared by every event type.

Constraints live in the types, so validation on decode and the published JSON
Schema come from one place. Three kinds of string exist on purpose:

* **identifiers** (``PartnershipId``, ``AgencyId``, ``CaseId`` ...): safe subject
  tokens, lower-case letters, digits, ``-`` and ``_``; they become part of NATS
  subjects, so nothing else is allowed;
* **pseudonymous references** (``ChildRef``, ``ActorRef``): opaque tokens with a
  fixed prefix and a digest-like body, never a name; the pattern rejects spaces
  and so any "Firstname Lastname";
* **free text** (``FreeText``, ``ShortText``): bounded and marked as personal
  data (``personal_data`` in ``msgspec.Meta.extra``, ``x-personal-data`` in the
  JSON Schema), so that crypto-shredding can find every such field later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final

import msgspec

__all__ = [
    "PERSONAL_DATA",
    "ActorRef",
    "AgencyId",
    "CaseId",
    "ChallengeId",
    "ChildRef",
    "FreeText",
    "Id",
    "OrgName",
    "PartnershipId",
    "RecommendationId",
    "ReviewId",
    "ShortText",
    "StageNumber",
    "StreamSequence",
    "UtcDatetime",
]

#: Marker in ``msgspec.Meta.extra`` for fields that hold personal data.
PERSONAL_DATA: Final = "personal_data"

_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_ID_DESCRIPTION: Final = (
    "identifier: 1-64 characters, lower-case letters, digits, '-' and '_', "
    "starting with a letter or digit (it becomes a NATS subject token)"
)


def _identifier(title: str) -> msgspec.Meta:
    return msgspec.Meta(
        pattern=_ID_PATTERN, min_length=1, max_length=64, title=title, description=_ID_DESCRIPTION
    )


Id = Annotated[str, _identifier("Id")]
PartnershipId = Annotated[str, _identifier("PartnershipId")]
AgencyId = Annotated[str, _identifier("AgencyId")]
CaseId = Annotated[str, _identifier("CaseId")]
ChallengeId = Annotated[str, _identifier("ChallengeId")]
ReviewId = Annotated[str, _identifier("ReviewId")]
RecommendationId = Annotated[str, _identifier("RecommendationId")]

#: A pseudonymous child reference: ``ch_`` then 16-64 lower-case hex digits, the
#: (truncated) HMAC-SHA256 of an identifier such as an NHS number under a
#: per-partnership secret that never enters the stream.
ChildRef = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^ch_[0-9a-f]{16,64}$",
        title="ChildRef",
        description="pseudonymous child token: 'ch_' and 16-64 hex digits (a keyed hash, "
        "never a name or a raw identifier)",
    ),
]

#: A pseudonymous reference to a practitioner: ``act_`` then 6-64 safe characters.
ActorRef = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^act_[A-Za-z0-9_-]{6,64}$",
        title="ActorRef",
        description="pseudonymous practitioner reference: 'act_' and 6-64 letters, digits, "
        "'-' or '_' (never a name)",
    ),
]

#: Free text: bounded, and personal data by definition.
FreeText = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=2000,
        description="free text, at most 2000 characters; personal data",
        extra={PERSONAL_DATA: True},
        extra_json_schema={"x-personal-data": True},
    ),
]

#: Short free text (a source reference, a review title, an actor role): bounded, personal data.
ShortText = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        description="short free text, at most 200 characters; personal data",
        extra={PERSONAL_DATA: True},
        extra_json_schema={"x-personal-data": True},
    ),
]

#: The name of an organisation or a body (a partnership, an agency, an escalation
#: stage): bounded, and not personal data, so crypto-shredding leaves it readable.
OrgName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        description="name of an organisation or body, at most 200 characters; not personal data",
    ),
]

#: A timezone-aware instant (msgspec rejects naive datetimes with ``tz=True``).
UtcDatetime = Annotated[
    datetime, msgspec.Meta(tz=True, description="RFC 3339 instant with a UTC offset")
]

#: An escalation stage of a partnership's challenge procedure: 1 to 5.
StageNumber = Annotated[
    int,
    msgspec.Meta(
        ge=1, le=5, title="StageNumber", description="escalation stage, 1 (first) to 5 (last)"
    ),
]

#: A JetStream stream sequence: a positive integer, the ledger's global order.
StreamSequence = Annotated[
    int,
    msgspec.Meta(
        ge=1,
        title="StreamSequence",
        description="stream sequence of an event in the ledger: an integer >= 1",
    ),
]
