"""The access log's record: one read of a case's chronology, who read it and as of when.

Reading a child's record is accountable too: every read of a case's chronology through
the service is one :class:`ChronologyRead` on the access stream (``<stream>_ACCESS``,
subject ``<prefix>-access.<partnership>.<case>``: :mod:`schemas.wire`). A record names
the reader by role, agency and token id (never the token's secret), the case by its id
and the instant asked for (``as_of``); it holds no free text and no child reference.
:class:`AccessEntry` is a record with its stream sequence, as a board reads them back.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from schemas._types import (
    ActorRef,
    AgencyId,
    CaseId,
    PartnershipId,
    StreamSequence,
    UtcDatetime,
)

__all__ = [
    "AccessEntry",
    "ChronologyRead",
    "QueryName",
    "ReaderRole",
    "TokenId",
    "TokenIdentity",
    "decode_access_record",
    "encode_access_record",
]

#: The query that read the chronology: a short lower-case name (``chronology``,
#: ``review_chronology`` ...), never its arguments.
QueryName = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        title="QueryName",
        description="the name of the query that read the chronology (1-64 of a-z, 0-9, _)",
    ),
]
#: The role of the token that read: ``agency``, ``board``, ``inspector`` or ``admin``.
ReaderRole = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(agency|board|inspector|admin)$",
        title="ReaderRole",
        description="the role of the token that read: agency, board, inspector or admin",
    ),
]
#: An API token's id (the 8 hex digits after ``ldg_``), never its secret.
TokenId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9a-f]{8}$",
        title="TokenId",
        description="the id of the API token that read (8 hex digits), never its secret",
    ),
]


class ChronologyRead(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A case's chronology was read: by whom (role, agency, token id), when, as of when."""

    partnership: PartnershipId
    case: CaseId
    query: QueryName
    role: ReaderRole
    #: The reading agency; ``None`` for a board, inspector or admin token.
    agency: AgencyId | None = None
    token: TokenId
    #: When the service answered the read (UTC, the service's clock).
    read_at: UtcDatetime
    #: The instant the reader asked the chronology as of; ``None``: as of now.
    as_of: UtcDatetime | None = None


class AccessEntry(ChronologyRead, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A :class:`ChronologyRead` and its sequence in the access stream (a page's cursor)."""

    sequence: StreamSequence


class TokenIdentity(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What an API token is bound to (``GET /token``), never its secret or hash, and the
    service's subject prefix: what a client signing a command signs over besides it."""

    id: TokenId
    role: ReaderRole
    partnership: PartnershipId
    #: The agency it records and reads as; ``None`` for an inspector token.
    agency: AgencyId | None = None
    #: The pseudonymous actor it records as; ``None`` for an inspector token.
    actor: ActorRef | None = None
    subject_prefix: str


_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(ChronologyRead)


def encode_access_record(record: ChronologyRead) -> bytes:
    """The record as it lies on the access stream (its msgspec JSON)."""
    return _encoder.encode(record)


def decode_access_record(data: bytes) -> ChronologyRead:
    """A record read back from the access stream; ``msgspec.ValidationError`` or
    ``msgspec.DecodeError`` when it is not one."""
    return _decoder.decode(data)
