"""The serious incident as a key moment: was each child of the case seen alone before it?

A ``SeriousIncidentNotified`` that names a case is a key moment of that case. For each
child of the case (one per group of linked tokens, as for a decision about the whole
case, with the child the notification names among them) it says whether the child had
been seen alone before the incident, when last, how many days before, and whether it
had been seen at all; the incident counts as "seen alone before" only if every child
was. A sighting counts for the child it names, or, naming none, for the child of a case
of one child, the rule :mod:`projections.key_moments` applies before key decisions.

**Before the incident** is strictly before ``became_aware_at``: the notification does
not say when the incident itself happened, and the local authority's becoming aware of
it is the latest it can have happened. Matching is by ``occurred_at`` at query time, so
a sighting recorded late still counts.

This module holds the answer's types and the matching; :mod:`projections.key_moments`
stores the rows and re-exports the types.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec

from projections._store import from_micros
from projections.calendar import local_date

__all__ = ["ChildSeenAlone", "Incident", "IncidentCheck", "Sighting", "check_incidents"]

#: The kind a serious incident's row has among the key moments.
SERIOUS_INCIDENT = "serious_incident"


class ChildSeenAlone(msgspec.Struct, frozen=True, kw_only=True):
    """One child of the case, and whether it had been seen (alone) before the incident."""

    child: str
    seen_alone_before: bool
    last_seen_alone_at: datetime | None
    days_since_seen_alone: int | None
    seen_before: bool


class IncidentCheck(msgspec.Struct, frozen=True, kw_only=True):
    """A serious incident notified about the case, and each child's being seen before it.

    ``seen_alone_before`` holds only when every child of the case had been seen alone
    before ``became_aware_at``; ``children_not_seen_alone`` names the others.
    """

    review: str
    incident: str
    #: The child the notification names.
    child: str
    became_aware_at: datetime
    sequence: int
    seen_alone_before: bool
    children: list[ChildSeenAlone]
    children_not_seen_alone: list[str]


@dataclass(frozen=True, slots=True)
class Incident:
    """A stored serious incident: its review, stream sequence, awareness, kind and child."""

    review: str
    seq: int
    aware_us: int
    kind: str
    child: str


@dataclass(frozen=True, slots=True)
class Sighting:
    """A sighting of a child: when, which child (its root token; ``None``: no child in
    particular) and whether alone."""

    occurred_us: int
    child: str | None
    alone: bool


def check_incidents(
    incidents: Sequence[Incident],
    sightings: Sequence[Sighting],
    children: Mapping[str, str],
    root: Callable[[str], str],
) -> list[IncidentCheck]:
    """Each incident with its children's sightings before it.

    ``sightings`` are in time order; ``children`` maps each child's root token to the
    reference shown for it; ``root`` gives a token's root (linked tokens share one).
    """
    out: list[IncidentCheck] = []
    for incident in incidents:
        every = dict(children)
        every.setdefault(root(incident.child), incident.child)
        before = [s for s in sightings if s.occurred_us < incident.aware_us]
        aware = from_micros(incident.aware_us)
        checks = [
            _child(ref, [s for s in before if s.child == r], aware) for r, ref in every.items()
        ]
        missing = [c.child for c in checks if not c.seen_alone_before]
        out.append(
            IncidentCheck(
                review=incident.review,
                incident=incident.kind,
                child=incident.child,
                became_aware_at=aware,
                sequence=incident.seq,
                seen_alone_before=not missing,
                children=checks,
                children_not_seen_alone=missing,
            )
        )
    return out


def _child(ref: str, seen: Sequence[Sighting], aware: datetime) -> ChildSeenAlone:
    alone = [s for s in seen if s.alone]
    last = None if not alone else from_micros(alone[-1].occurred_us)
    return ChildSeenAlone(
        child=ref,
        seen_alone_before=last is not None,
        last_seen_alone_at=last,
        days_since_seen_alone=None if last is None else (local_date(aware) - local_date(last)).days,
        seen_before=bool(seen),
    )
