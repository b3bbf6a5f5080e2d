"""A short, structured description of what an event says happened, for chronologies.

Built only from enumerations and identifiers: free text (notes, reasons) is
personal data and stays in the stream, so a view, an export or a screen shows
"Cooperation refused: information withheld (basis: consent not given)" and never
what somebody wrote.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from schemas import LedgerEvent

__all__ = ["describe", "humanise"]

# The fields that say what happened, per event tag, in the order they are shown.
_DETAIL_FIELDS: dict[str, tuple[str, ...]] = {
    "PartnershipEstablished": ("nation",),
    "AgencyRegistered": ("agency", "kind", "role"),
    "AgencyKeyRegistered": ("agency", "key_id", "custody"),
    "AgencyKeyRevoked": ("agency", "key_id", "reason"),
    "SignaturesRequired": ("required_from",),
    "CaseOpened": ("lead_agency",),
    "ChildIdentifierLinked": ("identifier_kind",),
    "ChildIdentifierUnlinked": ("identifier_kind",),
    "ChildIdentifierUnknown": ("reason",),
    "AgencyJoinedCase": ("agency",),
    "AgencyLeftCase": ("agency",),
    "ActionRecorded": ("action", "outcome"),
    "InformationRequested": ("request", "from_agency", "to_agency"),
    "InformationProvided": ("request", "by_agency"),
    "CooperationRefused": ("agency", "kind", "basis"),
    "ConcernRaised": ("kind",),
    "LateRecordingExplained": ("event_sequence",),
    "CaseClosed": ("reason",),
    "ChallengeRaised": ("by_agency", "against_agency", "matter", "stage"),
    "ChallengeResponded": ("by_agency", "stage"),
    "ChallengeEscalated": ("by_agency", "to_stage"),
    "ChallengeResolved": ("outcome",),
    "ChallengeWithdrawn": ("by_agency",),
    "SeriousIncidentNotified": ("incident",),
    "RapidReviewCompleted": ("decision",),
    "ReviewCommissioned": ("level",),
    "ReviewPublished": (),
    "RecommendationIssued": ("recommendation", "owner", "theme"),
    "RecommendationAccepted": ("recommendation", "by_agency"),
    "RecommendationRejected": ("recommendation", "by_agency"),
    "RecommendationProgressReported": ("recommendation", "by_agency", "status"),
    "RecommendationImplemented": ("recommendation", "by_agency"),
}


_KEY_FIELDS: dict[str, tuple[str, ...]] = {
    **_DETAIL_FIELDS,
    "ActionRecorded": ("action", "outcome"),
}


def humanise(value: str) -> str:
    """Words for a value: ``information_withheld``, ``ActionRecorded`` -> ``Action recorded``.

    A snake_case or lower-case value loses its underscores; a CamelCase tag becomes words.
    """
    if "_" in value or value.islower():
        return value.replace("_", " ")
    words: list[str] = []
    for char in value:
        if char.isupper() and words:
            words.append(" ")
        words.append(char.lower())
    text = "".join(words)
    return text[:1].upper() + text[1:]


def _text(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return humanise(str(value.value))
    return str(value)


#: Descriptions already made, by tag and the values they are made of (a rebuild
#: describes a million events with a few thousand distinct descriptions).
_MADE: dict[tuple[object, ...], str] = {}
_MADE_LIMIT = 50_000


def describe(tag: str, fact: LedgerEvent) -> str:
    """``Action recorded: strategy discussion (outcome: section47)`` and the like."""
    key = (tag, *(getattr(fact, name, None) for name in _KEY_FIELDS.get(tag, ())))
    made = _MADE.get(key)
    if made is None:
        if len(_MADE) >= _MADE_LIMIT:
            _MADE.clear()
        made = _MADE[key] = _describe(tag, fact)
    return made


def _describe(tag: str, fact: LedgerEvent) -> str:
    if tag == "ActionRecorded":
        head = _text(fact.action).capitalize()  # type: ignore[union-attr]
        outcome = fact.outcome  # type: ignore[union-attr]
        return head if outcome is msgspec.UNSET else f"{head} (outcome: {_text(outcome)})"
    parts = []
    for name in _DETAIL_FIELDS.get(tag, ()):
        value = getattr(fact, name, msgspec.UNSET)
        if value is not msgspec.UNSET:
            parts.append(f"{humanise(name)}: {_text(value)}")
    head = humanise(tag)
    return f"{head} ({'; '.join(parts)})" if parts else head
