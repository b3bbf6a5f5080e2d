r"""The ledger's wire contract: subjects, header names, name rules and delivery names.

Written once here and imported by the ledger's NATS store, the access control, the
delivery service, the agency client and the AsyncAPI document, so none of them can
drift from the others. Everything here is plain data and string building.

**The ledger stream** (``NATS_STREAM``, default ``LEDGER``) holds, under the subject
prefix (``NATS_SUBJECT_PREFIX``, default ``ledger``):

* ``<prefix>.<partnership>.<kind>.<id>``: one subject per aggregate, ``kind`` one of
  :data:`AGGREGATE_KINDS` (``ledger.northshire.case.c-1042``);
* ``<prefix>._tracking.<app>``: the tracking positions of an application (three tokens,
  so never matched by ``<prefix>.*.*.*``);
* ``<prefix>._.uuid.<hex>``: UUID-keyed aggregates (the event-sourcing library's own
  conformance tests), not part of the contract agencies read.

Snapshots live in a subject space of their own, ``<prefix>_snapshots.<...>`` (the same
layout under :func:`snapshot_prefix`).

**Headers** of a ledger message: :data:`HDR_TOPIC` (the event's type tag) and
:data:`HDR_VERSION` (the aggregate's version after the event); a delivered copy adds
:data:`HDR_SOURCE_SEQ`. :data:`HDR_PREV_HASH` (the hash chain per subject) and
:data:`HDR_SIGNATURE` (the recording agency's signature) are the proofs' (docs/proofs.md):
the ledger sets them, no caller may (:data:`RESERVED_HEADERS`). The ``Nats-*`` headers the
store sets (message id, expected stream and
subject sequence, atomic batches) are NATS's own contract and stay with the NATS adapter
(``ledger/nats/_stream.py``), except the delivered copy's message id, whose *value*
(:func:`delivery_msg_id`) is the ledger's.

**Delivery**: the stream ``<stream>_DELIVERY``, subjects
``<prefix>-delivery.<agency>.<partnership>.<case>`` for a case's events and
``<prefix>-delivery.<agency>.<partnership>.challenge.<challenge>`` for a challenge's and
``<prefix>-delivery.<agency>.<partnership>.key.<key_id>`` for the agency's own key events
(:func:`delivery_subject`, :func:`delivery_challenge_subject`, :func:`delivery_key_subject`;
:func:`split_delivery_subject` reads each back), one durable pull consumer per agency
``agency_<agency>`` filtered to ``<prefix>-delivery.<agency>.>``, whose user's replies come
under ``_INBOX_agency_<agency>``; each copy's ``Nats-Msg-Id`` is ``<source seq>.<agency>``
so that a republish after a crash falls in the stream's duplicate window.

**The access log**: the stream ``<stream>_ACCESS``, subjects
``<prefix>-access.<partnership>.<case>``, one message per read of a case's chronology
(:class:`schemas.access.ChronologyRead`); kept for ever, like the ledger.

**Names** end at the true end: every rule is :func:`schemas.anchored` and is matched with
``fullmatch`` (Python's ``$`` alone lets a final newline through).
"""

from __future__ import annotations

import re
import typing
from typing import Final, Literal, TypeAlias

from schemas._base import AggregateKind
from schemas._types import ID_BODY, anchored

__all__ = [
    "AGGREGATE_ID_PATTERN",
    "AGGREGATE_KINDS",
    "APP_TOKEN_PATTERN",
    "CONSUMER_PREFIX",
    "DELIVERY_KINDS",
    "HDR_PREV_HASH",
    "HDR_SIGNATURE",
    "HDR_SOURCE_SEQ",
    "HDR_TOPIC",
    "HDR_VERSION",
    "HTTP_ATTESTATION",
    "LEDGER_HEADERS",
    "PREFIX_PATTERN",
    "RESERVED_HEADERS",
    "SNAPSHOT_SPACE",
    "STREAM_PATTERN",
    "TRACKING_SPACE",
    "DeliveryKind",
    "access_filter",
    "access_prefix",
    "access_stream",
    "access_subject",
    "aggregate_id",
    "aggregate_subject",
    "all_aggregates",
    "checkpoint_prefix",
    "checkpoint_stream",
    "checkpoint_subject",
    "consumer_name",
    "cosignature_subject",
    "delivery_challenge_subject",
    "delivery_filter",
    "delivery_inbox",
    "delivery_key_subject",
    "delivery_msg_id",
    "delivery_prefix",
    "delivery_stream",
    "delivery_subject",
    "is_identifier",
    "is_prefix",
    "is_stream_name",
    "partnership_subjects",
    "snapshot_prefix",
    "snapshot_stream",
    "split_aggregate_id",
    "split_delivery_msg_id",
    "split_delivery_subject",
    "tracking_subject",
    "user_inbox",
]

# -- headers -------------------------------------------------------------------------

#: The event's type tag (the payload's ``type``).
HDR_TOPIC: Final = "Ledger-Topic"
#: The aggregate's version after the event, in decimal, from 1.
HDR_VERSION: Final = "Ledger-Version"
#: On a delivered copy: the event's sequence in the ledger stream.
HDR_SOURCE_SEQ: Final = "Ledger-Source-Sequence"
#: The hash of the previous event on the subject (docs/proofs.md, "Hash chain").
HDR_PREV_HASH: Final = "Ledger-Prev-Hash"
#: The recording agency's signature over what it asserts (docs/proofs.md, "Signatures").
HDR_SIGNATURE: Final = "Ledger-Signature"
#: Every ``Ledger-*`` header of the contract.
LEDGER_HEADERS: Final = (HDR_TOPIC, HDR_VERSION, HDR_SOURCE_SEQ, HDR_PREV_HASH, HDR_SIGNATURE)
#: The headers only the ledger's own write path sets: no caller's message may carry them
#: (a signature reaches the ledger as an argument, checked before it is stored).
RESERVED_HEADERS: Final = frozenset({HDR_PREV_HASH, HDR_SIGNATURE})
#: An HTTP response header, not a stream one: on a case chronology's download, what vouches
#: for its entries ("verified against checkpoint N, witnessed by X, Y"; docs/http.md).
HTTP_ATTESTATION: Final = "Ledger-Attestation"

# -- name rules ----------------------------------------------------------------------

#: ``NATS_SUBJECT_PREFIX``: one safe subject token.
PREFIX_PATTERN: Final = anchored(r"[A-Za-z0-9_-]{1,32}")
#: ``NATS_STREAM`` (and the delivery stream built from it): a name that can also sit in a
#: JetStream API subject.
STREAM_PATTERN: Final = anchored(r"[A-Za-z0-9_-]{1,64}")
#: An application name that is its own tracking token (others are hex-encoded).
APP_TOKEN_PATTERN: Final = anchored(r"[A-Za-z0-9_-]{1,64}")
#: The kinds of aggregate, each the third token of its subjects.
AGGREGATE_KINDS: Final[tuple[str, ...]] = typing.get_args(AggregateKind)
#: ``<partnership>.<kind>.<id>``: three safe subject tokens (groups 1-3).
AGGREGATE_ID_PATTERN: Final = re.compile(
    anchored(rf"({ID_BODY})\.({'|'.join(AGGREGATE_KINDS)})\.({ID_BODY})")
)
_PREFIX: Final = re.compile(PREFIX_PATTERN)
_STREAM: Final = re.compile(STREAM_PATTERN)
_APP_TOKEN: Final = re.compile(APP_TOKEN_PATTERN)

#: The second token of the tracking subjects.
TRACKING_SPACE: Final = "_tracking"
#: Appended to the prefix for the snapshots' subject space.
SNAPSHOT_SPACE: Final = "_snapshots"
#: The consumer name (and NATS user) of an agency is this and its id.
CONSUMER_PREFIX: Final = "agency_"
#: What a delivery subject names: a case, a challenge, or one of the agency's own keys
#: (the fourth token of a challenge's or a key's subject is this word).
DeliveryKind: TypeAlias = Literal["case", "challenge", "key"]
DELIVERY_KINDS: Final[tuple[str, ...]] = typing.get_args(DeliveryKind)


def is_prefix(value: str) -> bool:
    """Whether ``value`` may be a subject prefix (1-32 letters, digits, ``-``, ``_``)."""
    return _PREFIX.fullmatch(value) is not None


def is_stream_name(value: str) -> bool:
    """Whether ``value`` may be a stream name (1-64 letters, digits, ``-``, ``_``)."""
    return _STREAM.fullmatch(value) is not None


# -- the ledger stream's subjects ------------------------------------------------------


def aggregate_id(partnership: str, kind: str, ident: str) -> str:
    """The aggregate id (and subject suffix) of ``ident`` of ``kind`` in ``partnership``."""
    return f"{partnership}.{kind}.{ident}"


def split_aggregate_id(value: str) -> tuple[str, str, str]:
    """``(partnership, kind, id)`` of an aggregate id; ``ValueError`` if it is not one."""
    match = AGGREGATE_ID_PATTERN.fullmatch(value)
    if match is None:
        msg = (
            "aggregate id is not '<partnership>.<kind>.<id>' with safe tokens "
            "(lower-case letters, digits, '-', '_') and kind partnership/case/challenge/review"
        )
        raise ValueError(msg)
    return match.group(1), match.group(2), match.group(3)


def aggregate_subject(prefix: str, partnership: str, kind: str, ident: str) -> str:
    """``<prefix>.<partnership>.<kind>.<id>``; ``ValueError`` on an unsafe token."""
    value = aggregate_id(partnership, kind, ident)
    split_aggregate_id(value)
    if not is_prefix(prefix):
        msg = "subject prefix must be 1-32 letters, digits, '-' or '_'"
        raise ValueError(msg)
    return f"{prefix}.{value}"


def all_aggregates(prefix: str) -> str:
    """The wildcard subject of every aggregate's events under ``prefix``."""
    return f"{prefix}.*.*.*"


def partnership_subjects(prefix: str) -> str:
    """The wildcard subject of every partnership aggregate's events under ``prefix``."""
    return f"{prefix}.*.partnership.*"


def tracking_subject(prefix: str, application_name: str) -> str:
    """``<prefix>._tracking.<app>``; a name that is not a safe token is hex-encoded
    behind an ``x`` (so no name can reach a subject unchanged unless it is safe)."""
    token = (
        application_name
        if _APP_TOKEN.fullmatch(application_name)
        else ("x" + application_name.encode().hex())
    )
    return f"{prefix}.{TRACKING_SPACE}.{token}"


def snapshot_stream(stream: str) -> str:
    """The snapshot stream beside ``stream``: ``LEDGER`` -> ``LEDGER_SNAPSHOTS``."""
    return f"{stream}_SNAPSHOTS"


def snapshot_prefix(prefix: str) -> str:
    """``ledger`` -> ``ledger_snapshots``: the snapshots' subject space beside the events'."""
    return prefix + SNAPSHOT_SPACE


# -- delivery ------------------------------------------------------------------------


def delivery_stream(ledger_stream: str) -> str:
    """``LEDGER`` -> ``LEDGER_DELIVERY``."""
    return f"{ledger_stream}_DELIVERY"


def delivery_prefix(subject_prefix: str) -> str:
    """``ledger`` -> ``ledger-delivery`` (never under the ledger stream's own subjects)."""
    return f"{subject_prefix}-delivery"


def delivery_subject(subject_prefix: str, agency: str, partnership: str, case: str) -> str:
    """``<prefix>-delivery.<agency>.<partnership>.<case>``."""
    return f"{delivery_prefix(subject_prefix)}.{agency}.{partnership}.{case}"


def delivery_challenge_subject(
    subject_prefix: str, agency: str, partnership: str, challenge: str
) -> str:
    """``<prefix>-delivery.<agency>.<partnership>.challenge.<challenge>``: one token more
    than a case's subject, so the two never meet."""
    return f"{delivery_prefix(subject_prefix)}.{agency}.{partnership}.challenge.{challenge}"


def delivery_key_subject(subject_prefix: str, agency: str, partnership: str, key_id: str) -> str:
    """``<prefix>-delivery.<agency>.<partnership>.key.<key_id>``: an ``AgencyKeyRegistered``
    or ``AgencyKeyRevoked`` of ``agency``'s key ``key_id``, delivered to ``agency`` itself.
    Five tokens like a challenge's, told apart by the fourth."""
    return f"{delivery_prefix(subject_prefix)}.{agency}.{partnership}.key.{key_id}"


def split_delivery_subject(
    delivery_prefix_: str, agency: str, subject: str
) -> tuple[str, DeliveryKind, str] | None:
    """``(partnership, kind, id)`` of ``agency``'s delivery subject under ``delivery_prefix_``
    (``ledger-delivery``): ``case`` and the case, ``challenge`` and the challenge, or
    ``key`` and the key id. None for any other layout, another agency's subject, or a
    partnership or id that is not an identifier."""
    tokens = subject.split(".")
    if len(tokens) < 4 or tokens[0] != delivery_prefix_ or tokens[1] != agency:
        return None
    found: tuple[str, DeliveryKind, str]
    if len(tokens) == 4:
        found = (tokens[2], "case", tokens[3])
    elif len(tokens) == 5 and tokens[3] == "challenge":
        found = (tokens[2], "challenge", tokens[4])
    elif len(tokens) == 5 and tokens[3] == "key":
        found = (tokens[2], "key", tokens[4])
    else:
        return None
    if not (is_identifier(found[0]) and is_identifier(found[2])):
        return None
    return found


def delivery_filter(subject_prefix: str, agency: str) -> str:
    """The filter subject of ``agency``'s consumer: ``<prefix>-delivery.<agency>.>``."""
    return f"{delivery_prefix(subject_prefix)}.{agency}.>"


def consumer_name(agency: str) -> str:
    """The agency's durable consumer on the delivery stream (and its NATS user)."""
    return f"{CONSUMER_PREFIX}{agency}"


def user_inbox(user: str) -> str:
    """The inbox prefix of a restricted NATS user, the only replies it may read."""
    return f"_INBOX_{user}"


def delivery_inbox(agency: str) -> str:
    """The inbox prefix of ``agency``'s user: ``_INBOX_agency_<agency>``."""
    return user_inbox(consumer_name(agency))


def delivery_msg_id(source_seq: int, agency: str) -> str:
    """A delivered copy's ``Nats-Msg-Id``: ``<source seq>.<agency>``."""
    return f"{source_seq}.{agency}"


def split_delivery_msg_id(value: str) -> tuple[int, str]:
    """``(source seq, agency)`` of a delivered copy's message id; ``ValueError`` if not one."""
    seq, sep, agency = value.partition(".")
    if not sep or not seq.isdigit() or not seq.isascii() or not is_identifier(agency):
        msg = "delivery message id is not '<source sequence>.<agency id>'"
        raise ValueError(msg)
    return int(seq), agency


# -- the access log -------------------------------------------------------------------


def access_stream(ledger_stream: str) -> str:
    """``LEDGER`` -> ``LEDGER_ACCESS``: the log of who read which case's chronology."""
    return f"{ledger_stream}_ACCESS"


def access_prefix(subject_prefix: str) -> str:
    """``ledger`` -> ``ledger-access`` (never under the ledger stream's own subjects)."""
    return f"{subject_prefix}-access"


def access_subject(subject_prefix: str, partnership: str, case: str) -> str:
    """``<prefix>-access.<partnership>.<case>``; ``ValueError`` on an unsafe token."""
    for field, value in (("partnership", partnership), ("case", case)):
        if not is_identifier(value):
            msg = f"{field} is not an identifier (lower-case letters, digits, '-', '_')"
            raise ValueError(msg)
    return f"{access_prefix(subject_prefix)}.{partnership}.{case}"


def access_filter(subject_prefix: str, partnership: str, case: str | None = None) -> str:
    """The subjects of one partnership's reads (of one case's, with ``case``)."""
    if case is not None:
        return access_subject(subject_prefix, partnership, case)
    return access_subject(subject_prefix, partnership, "x").rsplit(".", 1)[0] + ".*"


# -- the Merkle log's checkpoints and their witnesses ----------------------------------


def checkpoint_stream(ledger_stream: str) -> str:
    """``LEDGER`` -> ``LEDGER_LOG``: signed checkpoints of the ledger stream and cosignatures."""
    return f"{ledger_stream}_LOG"


def checkpoint_prefix(subject_prefix: str) -> str:
    """``ledger`` -> ``ledger-log`` (never under the ledger stream's own subjects)."""
    return f"{subject_prefix}-log"


def checkpoint_subject(subject_prefix: str) -> str:
    """``<prefix>-log.checkpoint``: one signed checkpoint note per message."""
    return f"{checkpoint_prefix(subject_prefix)}.checkpoint"


def cosignature_subject(subject_prefix: str, agency: str) -> str:
    """``<prefix>-log.cosignature.<agency>``; ``ValueError`` on an unsafe agency id."""
    if not is_identifier(agency):
        msg = "agency is not an identifier (lower-case letters, digits, '-', '_')"
        raise ValueError(msg)
    return f"{checkpoint_prefix(subject_prefix)}.cosignature.{agency}"


_ID: Final = re.compile(anchored(ID_BODY))


def is_identifier(value: str) -> bool:
    """Whether ``value`` is an identifier (a safe subject token: an agency, a case ...)."""
    return _ID.fullmatch(value) is not None
