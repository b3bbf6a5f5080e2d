r"""Constrained building blocks shared by every event type.

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

Every pattern is written once, through :func:`anchored`, so that it means the same
to Python's ``re`` (which msgspec uses, with ``re.search``) and to an ECMA-262
engine reading the published JSON Schema: Python's ``$`` also matches before a
final newline, so ``"nl\n"`` passed every identifier pattern until ``(?!\n)``
pinned ``$`` to the true end (ECMA's ``$`` already is; ECMA has no ``\Z``).
No text holds a control character: C0 and C1 controls (NUL, ESC, U+0085 ...) and
DEL are refused in every text field; multi-line ``FreeText`` alone may hold tab,
line feed and carriage return. Nor does any text hold a bidirectional override or
isolate, a line or paragraph separator, a byte order mark or a noncharacter
(:data:`REFUSED_IN_TEXT`); joiners and the LRM/RLM marks stay allowed.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Final

import msgspec

__all__ = [
    "EARLIEST_YEAR",
    "HAPPENED",
    "ID_BODY",
    "ID_PATTERN",
    "LINE_PATTERN",
    "MAX_STREAM_SEQUENCE",
    "PERSONAL_DATA",
    "REFUSED_IN_TEXT",
    "TEXT_PATTERN",
    "WRITE_PATTERN",
    "YEARS_AHEAD",
    "ActorRef",
    "AgencyId",
    "CaseId",
    "ChallengeId",
    "ChildRef",
    "FreeText",
    "HappenedAt",
    "Id",
    "OrgName",
    "PartnershipId",
    "RecommendationId",
    "ReviewId",
    "ShortText",
    "StageNumber",
    "StreamSequence",
    "UtcDatetime",
    "anchored",
    "refused_character",
]

#: Marker in ``msgspec.Meta.extra`` for fields that hold personal data.
PERSONAL_DATA: Final = "personal_data"
#: Marker in ``msgspec.Meta.extra`` for instants at which something already happened:
#: the write path refuses them in the future (never the decoder: replay must not fail
#: because time moved on).
HAPPENED: Final = "happened"
#: Marker in ``msgspec.Meta.extra``: a pattern the value must match, checked on the write
#: path (:func:`schemas.validate`) rather than on every decode.
WRITE_PATTERN: Final = "write_pattern"

#: The largest stream sequence any store holds: SQLite's INTEGER and PostgreSQL's
#: BIGINT are signed 64-bit (JetStream's own sequences are unsigned 64-bit).
MAX_STREAM_SEQUENCE: Final = 2**63 - 1

#: No date a caller gives (in a command or a query) lies before this year. A safeguarding
#: record is about a living child and the practitioners around them; a year before 1900 is
#: a typing slip (``0025`` for ``2025``) or a probe, and working-day calendars know no bank
#: holidays that early.
EARLIEST_YEAR: Final = 1900
#: How many years ahead a date may lie (a due date after it is recorded, a query's time
#: after now). A child's plan runs until they are grown up; a date further off is a typing
#: slip (``2205`` for ``2025``) or a probe, and no calendar of working days reaches it.
YEARS_AHEAD: Final = 50


def anchored(body: str) -> str:
    r"""``^body$`` anchored at the true end alike in Python ``re`` and ECMA-262.

    ``(?!\n)`` after ``$`` refuses the final newline Python's ``$`` lets through;
    ECMA-262 reads the same text the same way, and ``\Z`` (Python only) is avoided.
    """
    return rf"^(?:{body})$(?!\n)"


#: The body of every identifier's pattern (it becomes a NATS subject token); the wire
#: contract (``schemas/wire.py``) builds its subject rules from it.
ID_BODY: Final = r"[a-z0-9][a-z0-9_-]{0,63}"
#: The pattern of every identifier.
ID_PATTERN: Final = anchored(ID_BODY)
#: The code points no text holds, as inclusive ranges: C0 controls, DEL and C1 controls;
#: bidirectional embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069),
#: which can make a note read otherwise than it is stored; the line and paragraph
#: separators (U+2028, U+2029), line breaks that break JavaScript and logs; the byte
#: order mark (U+FEFF); and the noncharacters, U+FDD0-U+FDEF and the last two code
#: points of every plane. Joiners (ZWJ, ZWNJ) and the marks LRM and RLM stay allowed:
#: real scripts need them. Multi-line text alone may hold tab, line feed and return.
REFUSED_IN_TEXT: Final[tuple[tuple[int, int], ...]] = tuple(
    sorted(
        [
            (0x00, 0x1F),
            (0x7F, 0x9F),
            (0x2028, 0x202E),
            (0x2066, 0x2069),
            (0xFDD0, 0xFDEF),
            (0xFEFF, 0xFEFF),
            *((plane << 16 | 0xFFFE, plane << 16 | 0xFFFF) for plane in range(17)),
        ]
    )
)


def _allowed_class(also: str = "") -> str:
    """A regex class of every code point outside :data:`REFUSED_IN_TEXT`, and ``also``
    (class items written as regex, ``\\t``).

    Written as the ranges allowed rather than ``[^...]``: with the astral noncharacters
    in a negated class Python's ``re`` took 14x longer over a 2000-character note
    (91 against 6.5 microseconds), with the ranges allowed 3.5. BMP code points are
    written ``\\uXXXX``; astral ones as themselves, as Python ``re`` and ECMA-262 (with
    the ``u`` flag) read them alike and share no escape for them.
    """
    parts: list[str] = [also]
    low = 0
    for first, last in (*REFUSED_IN_TEXT, (0x110000, 0x110000)):
        if low < first:
            parts.append(f"{_code(low)}-{_code(first - 1)}" if first - 1 > low else _code(low))
        low = last + 1
    return "[" + "".join(parts) + "]"


def _code(point: int) -> str:
    return f"\\u{point:04x}" if point <= 0xFFFF else chr(point)


#: Single-line text: nothing of :data:`REFUSED_IN_TEXT` (tab and line feed included).
LINE_PATTERN: Final = anchored(_allowed_class() + "*")
#: Multi-line text: as single-line, but tab, line feed and carriage return are allowed.
TEXT_PATTERN: Final = anchored(_allowed_class(r"\t\n\r") + "*")
_REFUSED: Final = (
    "no bidirectional override or isolate, line or paragraph separator, byte order mark "
    "or noncharacter"
)
_LINE_RULE: Final = f"no control characters; {_REFUSED}"
_TEXT_RULE: Final = f"no control characters but tab, line feed and carriage return; {_REFUSED}"
_ID_DESCRIPTION: Final = (
    "identifier: 1-64 characters, lower-case letters, digits, '-' and '_', "
    "starting with a letter or digit (it becomes a NATS subject token)"
)


def refused_character(value: str, pattern: str) -> str:
    """What is wrong with ``value``, which ``pattern`` (a text pattern) refuses, in words.

    Names the kind and code point of the first character text may not hold (``a
    bidirectional control (U+202E)``), never the text around it.
    """
    for char in value:
        if not re.search(pattern, char):
            return f"{_kind(ord(char))} (U+{ord(char):04X})"
    return "a character text may not hold"


def _kind(code: int) -> str:
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return "a control character"
    if 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069:
        return "a bidirectional control"
    if code in (0x2028, 0x2029):
        return "a line or paragraph separator"
    if code == 0xFEFF:
        return "a byte order mark"
    return "a noncharacter"


def _identifier(title: str) -> msgspec.Meta:
    return msgspec.Meta(
        pattern=ID_PATTERN, min_length=1, max_length=64, title=title, description=_ID_DESCRIPTION
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
        pattern=anchored(r"ch_[0-9a-f]{16,64}"),
        title="ChildRef",
        description="pseudonymous child token: 'ch_' and 16-64 hex digits (a keyed hash, "
        "never a name or a raw identifier)",
    ),
]

#: A pseudonymous reference to a practitioner: ``act_`` then 6-64 safe characters.
ActorRef = Annotated[
    str,
    msgspec.Meta(
        pattern=anchored(r"act_[A-Za-z0-9_-]{6,64}"),
        title="ActorRef",
        description="pseudonymous practitioner reference: 'act_' and 6-64 letters, digits, "
        "'-' or '_' (never a name)",
    ),
]

#: Free text: bounded, and personal data by definition.
#:
#: The control-character rules of every text type (``FreeText``, ``ShortText``,
#: ``OrgName``) are published in the JSON Schema and checked on the write path
#: (:func:`schemas.validate`), not by the decoder: as msgspec patterns they made a decode
#: 1.5x (short texts) to 5x (2000 characters) slower, measured, and what is stored went
#: through the write path.
FreeText = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=2000,
        description=f"free text, at most 2000 characters, {_TEXT_RULE}; personal data",
        extra={PERSONAL_DATA: True, WRITE_PATTERN: TEXT_PATTERN},
        extra_json_schema={"x-personal-data": True, "pattern": TEXT_PATTERN},
    ),
]

#: Short free text (a source reference, a review title, an actor role): bounded, personal data.
ShortText = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        description=f"short free text, at most 200 characters, one line, {_LINE_RULE}; "
        "personal data",
        extra={PERSONAL_DATA: True, WRITE_PATTERN: LINE_PATTERN},
        extra_json_schema={"x-personal-data": True, "pattern": LINE_PATTERN},
    ),
]

#: The name of an organisation or a body (a partnership, an agency, an escalation
#: stage): bounded, and not personal data, so crypto-shredding leaves it readable.
OrgName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        description="name of an organisation or body, at most 200 characters, one line, "
        f"{_LINE_RULE}; not personal data",
        extra={WRITE_PATTERN: LINE_PATTERN},
        extra_json_schema={"pattern": LINE_PATTERN},
    ),
]

#: A timezone-aware instant (msgspec rejects naive datetimes with ``tz=True``).
UtcDatetime = Annotated[
    datetime, msgspec.Meta(tz=True, description="RFC 3339 instant with a UTC offset")
]

#: When something already happened (``occurred_at``, ``published_at`` ...): a
#: :data:`UtcDatetime` that a command may not set in the future (beyond clock skew).
HappenedAt = Annotated[
    datetime,
    msgspec.Meta(
        tz=True,
        description="RFC 3339 instant with a UTC offset, when something happened "
        "(not in the future when it is recorded)",
        extra={HAPPENED: True},
    ),
]

#: An escalation stage of a partnership's challenge procedure: 1 to 5.
StageNumber = Annotated[
    int,
    msgspec.Meta(
        ge=1, le=5, title="StageNumber", description="escalation stage, 1 (first) to 5 (last)"
    ),
]

#: A JetStream stream sequence: a positive integer, the ledger's global order,
#: bounded by what the stores hold (a signed 64-bit integer).
StreamSequence = Annotated[
    int,
    msgspec.Meta(
        ge=1,
        le=MAX_STREAM_SEQUENCE,
        title="StreamSequence",
        description="stream sequence of an event in the ledger: an integer from 1 to 2^63-1",
    ),
]
