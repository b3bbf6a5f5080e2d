"""The matching behind :mod:`projections.key_moments`: which protective action answered a
concern, and which sightings came before a decision or a serious incident.

The rules are documented on :mod:`projections.key_moments` (concerns, decisions, which
child) and :mod:`projections._incidents` (the serious incident). This module holds the
kinds of action that matter, the answer's types for concerns and decisions, a stored
row, and :class:`CaseMoments`, which matches one case's rows at query time;
:mod:`projections.key_moments` stores the rows and re-exports the public names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, TypeAlias, cast

import msgspec

from projections._incidents import Incident, IncidentCheck, Sighting, check_incidents
from projections._store import from_micros
from projections.calendar import WorkingCalendar, local_date
from schemas import ActionKind, ActionOutcome

__all__ = [
    "CASE_CLOSED",
    "CONCERN",
    "DECISION",
    "KEY_DECISIONS",
    "PROTECTIVE_ACTIONS",
    "PROTECTIVE_OUTCOMES",
    "SIGHTINGS",
    "STORED_ACTIONS",
    "CaseMoments",
    "ConcernResponse",
    "ConcernSource",
    "DecisionCheck",
    "Row",
    "nearest_rank",
    "row_of",
]

#: Actions that protect a child whatever their outcome.
PROTECTIVE_ACTIONS: Final[frozenset[str]] = frozenset(
    {
        ActionKind.STRATEGY_DISCUSSION.value,
        ActionKind.SECTION47_STARTED.value,
        ActionKind.INITIAL_CONFERENCE.value,
        ActionKind.PROTECTION_PLAN_STARTED.value,
    }
)
#: Outcomes that make a ``referral_decision`` a protective action.
PROTECTIVE_OUTCOMES: Final[frozenset[str]] = frozenset(
    {
        ActionOutcome.SECTION47.value,
        ActionOutcome.PROTECTION_PLAN.value,
        ActionOutcome.SECTION17.value,
    }
)
#: The decision kind a ``CaseClosed`` is reported as.
CASE_CLOSED: Final = "case_closed"
#: The key decisions, in the order the summary lists them.
KEY_DECISIONS: Final[tuple[str, ...]] = (
    ActionKind.STRATEGY_DISCUSSION.value,
    ActionKind.INITIAL_CONFERENCE.value,
    ActionKind.REVIEW_CONFERENCE.value,
    CASE_CLOSED,
)
SIGHTINGS: Final[frozenset[str]] = frozenset(
    {ActionKind.CHILD_SEEN.value, ActionKind.HOME_VISIT.value}
)
CONCERN: Final = "concern"
REFERRAL: Final = ActionKind.REFERRAL_RECEIVED.value
DECISION: Final = ActionKind.REFERRAL_DECISION.value
#: Actions worth a row: concerns come from ``ConcernRaised``, closures from ``CaseClosed``.
STORED_ACTIONS: Final[frozenset[str]] = frozenset(
    {*PROTECTIVE_ACTIONS, *KEY_DECISIONS, *SIGHTINGS, REFERRAL}
)
US_PER_HOUR: Final = 3_600_000_000

ConcernSource: TypeAlias = Literal["concern", "referral"]


class ConcernResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A concern and the first protective action at or after it (``None`` fields: none yet)."""

    source: ConcernSource
    concern: str | None
    kind: str
    child: str | None
    raised_at: datetime
    sequence: int
    action: str | None = None
    outcome: str | None = None
    action_at: datetime | None = None
    action_sequence: int | None = None
    hours: float | None = None
    working_days: int | None = None


class DecisionCheck(msgspec.Struct, frozen=True, kw_only=True):
    """A key decision and what was known of the child's being seen before it.

    For a decision naming no child (``child`` is ``None``) on a case of several
    children, ``seen_alone_before`` holds only when every child of the case had been
    seen alone, and ``last_seen_alone_at`` is then the least recent of their last
    sightings alone.
    """

    decision: str
    outcome: str | None
    child: str | None
    decided_at: datetime
    sequence: int
    seen_alone_before: bool
    last_seen_alone_at: datetime | None
    days_since_seen_alone: int | None
    seen_before: bool
    #: References of the children the decision is about who had not been seen alone.
    children_not_seen_alone: list[str]


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    occurred: int
    kind: str
    child: str | None
    outcome: str | None
    concern: str | None
    concern_kind: str | None
    seen: bool
    seen_alone: bool


def row_of(r: Sequence[object]) -> Row:
    return Row(
        seq=int(cast(int, r[0])),
        occurred=int(cast(int, r[1])),
        kind=str(r[2]),
        child=None if r[3] is None else str(r[3]),
        outcome=None if r[4] is None else str(r[4]),
        concern=None if r[5] is None else str(r[5]),
        concern_kind=None if r[6] is None else str(r[6]),
        seen=bool(r[7]),
        seen_alone=bool(r[8]),
    )


class CaseMoments:
    """One case's rows in ``occurred_at`` order, and the matching rules of the module."""

    def __init__(
        self, rows: list[Row], *, children: Sequence[str], links: Iterable[tuple[str, str]]
    ) -> None:
        self.rows = rows
        #: The children ``CaseOpened`` listed, in its order.
        self.children = children
        self.one_child = len(children) == 1
        self._parent: dict[str, str] = {}
        for a, b in links:
            self._parent[self._root(a)] = self._root(b)

    def _root(self, token: str) -> str:
        while (parent := self._parent.get(token, token)) != token:
            token = parent
        return token

    def _same(self, a: str, b: str) -> bool:
        return a == b or self._root(a) == self._root(b)

    def concerns(self, calendar: WorkingCalendar | None) -> list[ConcernResponse]:
        protective = [r for r in self.rows if is_protective(r)]
        referral = next((r for r in self.rows if r.kind == REFERRAL), None)
        out: list[ConcernResponse] = []
        for r in self.rows:
            if r.kind == CONCERN:
                source: ConcernSource = "concern"
            elif r is referral:
                source = "referral"
            else:
                continue
            found = next(
                (
                    p
                    for p in protective
                    if p.occurred >= r.occurred
                    and (p.child is None or r.child is None or self._same(p.child, r.child))
                ),
                None,
            )
            raised = from_micros(r.occurred)
            acted = None if found is None else from_micros(found.occurred)
            out.append(
                ConcernResponse(
                    source=source,
                    concern=r.concern,
                    kind=r.concern_kind or r.kind,
                    child=r.child,
                    raised_at=raised,
                    sequence=r.seq,
                    action=None if found is None else found.kind,
                    outcome=None if found is None else found.outcome,
                    action_at=acted,
                    action_sequence=None if found is None else found.seq,
                    hours=None if found is None else (found.occurred - r.occurred) / US_PER_HOUR,
                    working_days=None
                    if calendar is None or acted is None
                    else calendar.working_days_between(local_date(raised), local_date(acted)),
                )
            )
        return out

    def decisions(self) -> list[DecisionCheck]:
        out: list[DecisionCheck] = []
        sightings = [r for r in self.rows if r.seen]
        every_child = self._every_child()
        for d in self.rows:
            if d.kind not in KEY_DECISIONS:
                continue
            before = [s for s in sightings if s.occurred < d.occurred and self._sees(s, d)]
            alone = [s for s in before if s.seen_alone]
            children = every_child if d.child is None else {}
            if children:
                # Sightings are in time order: each child's last sighting alone wins.
                last_alone = {self._child_seen(s): s.occurred for s in alone}
                missing = [ref for root, ref in children.items() if root not in last_alone]
                last_us = None if missing else min(last_alone[root] for root in children)
            else:
                missing = [] if alone or d.child is None else [d.child]
                last_us = alone[-1].occurred if alone else None
            decided = from_micros(d.occurred)
            last = None if last_us is None else from_micros(last_us)
            out.append(
                DecisionCheck(
                    decision=d.kind,
                    outcome=d.outcome,
                    child=d.child,
                    decided_at=decided,
                    sequence=d.seq,
                    seen_alone_before=last is not None,
                    last_seen_alone_at=last,
                    days_since_seen_alone=None
                    if last is None
                    else (local_date(decided) - local_date(last)).days,
                    seen_before=bool(before),
                    children_not_seen_alone=missing,
                )
            )
        return out

    def incidents(self, incidents: Sequence[Incident]) -> list[IncidentCheck]:
        """Each serious incident, with every child's sightings before it."""
        sightings = [
            Sighting(r.occurred, self._child_seen(r), r.seen_alone) for r in self.rows if r.seen
        ]
        return check_incidents(incidents, sightings, self._every_child(), self._root)

    def _every_child(self) -> dict[str, str]:
        """The case's children, one per group of linked tokens: the group's root token to
        the reference shown for it (``CaseOpened``'s token, else the first named)."""
        found: dict[str, str] = {}
        named = (r.child for r in self.rows if r.child is not None)
        for token in (*self.children, *named):
            found.setdefault(self._root(token), token)
        return found

    def _child_seen(self, sighting: Row) -> str | None:
        """The root token of the child ``sighting`` saw (``None``: no child in particular)."""
        if sighting.child is not None:
            return self._root(sighting.child)
        return self._root(self.children[0]) if self.one_child else None

    def _sees(self, sighting: Row, decision: Row) -> bool:
        """Whether ``sighting`` saw the child ``decision`` is about (see the module's rules)."""
        if decision.child is None:
            return True
        if sighting.child is None:
            return self.one_child
        return self._same(sighting.child, decision.child)


def is_protective(r: Row) -> bool:
    if r.kind in PROTECTIVE_ACTIONS:
        return True
    return r.kind == DECISION and r.outcome in PROTECTIVE_OUTCOMES


def nearest_rank(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]
