"""Key moments: from a concern to the first protective action, and who was seen before decisions.

Two questions reviews ask of every case:

* **Concern to protective action.** For each concern (every ``ConcernRaised``, of
  any kind, and the case's first ``referral_received`` action) the first
  protective action at or after it, and the delay in hours and in working days
  (the ``Europe/London`` dates of both, counted with the working calendar of the
  partnership's nation: working days in ``(concern day, action day]``).
* **Seen alone before key decisions.** For each key decision
  (:data:`KEY_DECISIONS`: a strategy discussion, an initial or review conference,
  the case's closure) whether the child had been seen alone before it, when last,
  how many days before, and whether the child had been seen at all. A decision
  about the whole case asks it of every child of the case.

**Protective actions** (:data:`PROTECTIVE_ACTIONS`, :data:`PROTECTIVE_OUTCOMES`): a
strategy discussion, the start of a section 47 enquiry, an initial child
protection conference, the start of a protection plan, and a referral decision
whose outcome is a section 47 enquiry, a protection plan, or section 17 support (a
decision to provide services is the first protective step a referral may get). A
decision of no further action or early help is not protective.

**Which child.** A concern and a protective action match when either names no
child (a case-level action protects every child of the case) or both name the
same child. A sighting sees the child it names, or, naming none, the child of a
case of one child (on a case of several it sees no child in particular). A
decision that names a child counts the sightings of that child. A decision that
names no child is about every child of the case: the children ``CaseOpened``
listed and any other token a stored row (a concern, a protective action, a
decision, a sighting) names, such as one linked to a child and later unlinked.
The child was seen alone before it only if every one of them was
(``children_not_seen_alone`` lists the others, a younger sibling never seen alone
among them), and the last time seen alone is the least recent of their last
times, so ``days_since_seen_alone`` is the longest any of them had gone; "seen at
all" is still any child of the case. Tokens linked by ``ChildIdentifierLinked``
(and not unlinked since) are the same child, reported by the token ``CaseOpened``
gave it (else the first named).

**Order.** Events can be recorded long after they happened, so nothing is
matched when events are applied: the view stores one row per concern,
protective action, decision and sighting (with its ``occurred_at``) and does the
matching at query time in ``occurred_at`` order. A sighting recorded late that
happened before a decision therefore counts for it. "Before" is strictly before
the decision's ``occurred_at``; a protective action "after" a concern may be at
the same instant.

Rows hold identifiers, enumerations, pseudonymous child tokens and instants: no
note or other free text. A visit that did not see the child is not stored (it
counts for nothing here), nor is any other action outside the sets above. The
partnership's nation is kept in a small table and cached in memory.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar, Final, Literal, TypeAlias, cast

import msgspec

from projections._checks import Day, check_id, check_range
from projections._partnerships import PartnershipTable
from projections._store import Tx, ViewStore, from_micros
from projections._view import Envelope, View
from projections.calendar import WorkingCalendar, calendar_for, local_date
from schemas import (
    ActionKind,
    ActionOutcome,
    ActionRecorded,
    CaseOpened,
    ChildIdentifierLinked,
    ChildIdentifierUnlinked,
    ConcernRaised,
    PartnershipEstablished,
)

__all__ = [
    "CASE_CLOSED",
    "KEY_DECISIONS",
    "PROTECTIVE_ACTIONS",
    "PROTECTIVE_OUTCOMES",
    "CaseKeyMoments",
    "ConcernResponse",
    "DecisionCheck",
    "DecisionCount",
    "KeyMomentSummary",
    "KeyMomentView",
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
_SIGHTINGS: Final[frozenset[str]] = frozenset(
    {ActionKind.CHILD_SEEN.value, ActionKind.HOME_VISIT.value}
)
_CONCERN: Final = "concern"
_REFERRAL: Final = ActionKind.REFERRAL_RECEIVED.value
_DECISION: Final = ActionKind.REFERRAL_DECISION.value
#: Actions worth a row: concerns come from ``ConcernRaised``, closures from ``CaseClosed``.
_STORED_ACTIONS: Final[frozenset[str]] = frozenset(
    {*PROTECTIVE_ACTIONS, *KEY_DECISIONS, *_SIGHTINGS, _REFERRAL}
)
_US_PER_HOUR: Final = 3_600_000_000
_PARTNERSHIPS: Final = "km_nation"

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


class CaseKeyMoments(msgspec.Struct, frozen=True, kw_only=True):
    """A case's concerns with their first protective action, and its key decisions."""

    partnership: str
    case: str
    concerns: list[ConcernResponse]
    decisions: list[DecisionCheck]


class DecisionCount(msgspec.Struct, frozen=True, kw_only=True):
    """How many decisions of one kind were made, and how many without the child seen (alone)."""

    decision: str
    decisions: int
    without_seen_alone: int
    without_seen: int


class KeyMomentSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Key moments across a partnership's cases, for concerns and decisions dated in a range.

    Percentiles are over the concerns that had a protective action; ``p90_hours`` is
    the nearest-rank 90th percentile (a delay that one concern in ten exceeded).
    """

    partnership: str
    date_from: date | None
    date_to: date | None
    cases: int
    concerns: int
    concerns_with_action: int
    concerns_without_action: int
    median_hours: float | None
    p90_hours: float | None
    median_working_days: float | None
    decisions: list[DecisionCount]
    decisions_without_seen_alone: int


@dataclass(frozen=True, slots=True)
class _Row:
    seq: int
    occurred: int
    kind: str
    child: str | None
    outcome: str | None
    concern: str | None
    concern_kind: str | None
    seen: bool
    seen_alone: bool


class KeyMomentView(View):
    """The ``key_moments`` view."""

    name: str = "key_moments"
    table_names: ClassVar[tuple[str, ...]] = ("km_event", "km_child", "km_link", _PARTNERSHIPS)
    tables: ClassVar[tuple[str, ...]] = (
        "CREATE TABLE IF NOT EXISTS km_event ("
        " partnership TEXT NOT NULL, case_id TEXT NOT NULL, seq {bigint} NOT NULL,"
        " occurred {bigint} NOT NULL, kind TEXT NOT NULL, child TEXT, outcome TEXT,"
        " concern TEXT, concern_kind TEXT, seen INTEGER NOT NULL, seen_alone INTEGER NOT NULL,"
        " PRIMARY KEY (partnership, case_id, seq)){clustered}",
        "CREATE TABLE IF NOT EXISTS km_child ("
        " partnership TEXT NOT NULL, case_id TEXT NOT NULL, child TEXT NOT NULL,"
        " ordinal INTEGER NOT NULL, PRIMARY KEY (partnership, case_id, child))",
        "CREATE TABLE IF NOT EXISTS km_link ("
        " partnership TEXT NOT NULL, case_id TEXT NOT NULL, child TEXT NOT NULL,"
        " linked TEXT NOT NULL, PRIMARY KEY (partnership, case_id, child, linked))",
        PartnershipTable.ddl(_PARTNERSHIPS),
    )

    def __init__(self, view: ViewStore) -> None:
        super().__init__(view)
        self._partnerships = PartnershipTable(_PARTNERSHIPS)

    def forget(self) -> None:
        self._partnerships.forget()

    # -- applying: at most one statement per event, none for events the view ignores -------

    def on_PartnershipEstablished(self, tx: Tx, event: Envelope) -> None:
        fact = cast(PartnershipEstablished, event.fact)
        self._partnerships.record(tx, event.partnership, fact)

    def on_CaseOpened(self, tx: Tx, event: Envelope) -> None:
        fact = cast(CaseOpened, event.fact)
        tx.executemany(
            "INSERT INTO km_child (partnership, case_id, child, ordinal) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            [(event.partnership, event.ident, c.child, i) for i, c in enumerate(fact.children)],
        )

    def on_ChildIdentifierLinked(self, tx: Tx, event: Envelope) -> None:
        fact = cast(ChildIdentifierLinked, event.fact)
        tx.execute(
            "INSERT INTO km_link (partnership, case_id, child, linked) VALUES (?, ?, ?, ?)",
            (event.partnership, event.ident, fact.child, fact.linked),
        )

    def on_ChildIdentifierUnlinked(self, tx: Tx, event: Envelope) -> None:
        fact = cast(ChildIdentifierUnlinked, event.fact)
        tx.execute(
            "DELETE FROM km_link WHERE partnership = ? AND case_id = ?"
            " AND ((child = ? AND linked = ?) OR (child = ? AND linked = ?))",
            (event.partnership, event.ident, fact.child, fact.linked, fact.linked, fact.child),
        )

    def on_ConcernRaised(self, tx: Tx, event: Envelope) -> None:
        fact = cast(ConcernRaised, event.fact)
        child = fact.child if isinstance(fact.child, str) else None
        self._insert(tx, event, _CONCERN, child, None, fact.concern, fact.kind.value, 0, 0)

    def on_ActionRecorded(self, tx: Tx, event: Envelope) -> None:
        fact = cast(ActionRecorded, event.fact)
        action = fact.action.value
        outcome = fact.outcome.value if isinstance(fact.outcome, ActionOutcome) else None
        if action not in _STORED_ACTIONS and not (
            action == _DECISION and outcome in PROTECTIVE_OUTCOMES
        ):
            return
        child = fact.child if isinstance(fact.child, str) else None
        alone = fact.seen_alone is True
        seen = alone or fact.seen is True
        if action in _SIGHTINGS and not seen:
            return  # a visit that did not see the child counts for nothing here
        self._insert(tx, event, action, child, outcome, None, None, int(seen), int(alone))

    def on_CaseClosed(self, tx: Tx, event: Envelope) -> None:
        self._insert(tx, event, CASE_CLOSED, None, None, None, None, 0, 0)

    @staticmethod
    def _insert(tx: Tx, event: Envelope, *values: object) -> None:
        """A row of: kind, child, outcome, concern, concern_kind, seen (0/1), seen_alone (0/1)."""
        tx.insert_later(
            "INSERT INTO km_event (partnership, case_id, seq, occurred, kind, child, outcome,"
            " concern, concern_kind, seen, seen_alone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (event.partnership, event.ident, event.seq, event.occurred_us, *values),
        )

    # -- querying --------------------------------------------------------------------

    def case(self, partnership: str, case: str) -> CaseKeyMoments:
        """The case's concerns and key decisions, in ``occurred_at`` order (empty if unknown)."""
        check_id("partnership", partnership)
        check_id("case", case)
        with self.view.reading() as tx:
            rows = tx.fetchall(
                f"SELECT {_COLUMNS} FROM km_event WHERE partnership = ? AND case_id = ?"  # noqa: S608 -- constant column list
                " ORDER BY occurred, seq",
                (partnership, case),
            )
            children = tx.fetchall(
                "SELECT child FROM km_child WHERE partnership = ? AND case_id = ? ORDER BY ordinal",
                (partnership, case),
            )
            links = tx.fetchall(
                "SELECT child, linked FROM km_link WHERE partnership = ? AND case_id = ?",
                (partnership, case),
            )
            calendar = self._calendar(tx, partnership)
        moments = _CaseMoments(
            [_row(r) for r in rows],
            children=[str(c) for (c,) in children],
            links=[(str(a), str(b)) for a, b in links],
        )
        return CaseKeyMoments(
            partnership=partnership,
            case=case,
            concerns=moments.concerns(calendar),
            decisions=moments.decisions(),
        )

    def summary(
        self,
        partnership: str,
        *,
        date_from: Day | None = None,
        date_to: Day | None = None,
    ) -> KeyMomentSummary:
        """Counts and delays over the concerns and decisions whose London date is in the range.

        Matching uses every row of a case, so a sighting before ``date_from`` still
        counts for a decision inside the range, and a protective action after
        ``date_to`` still answers a concern inside it.
        """
        check_id("partnership", partnership)
        first, last = check_range(date_from, date_to)
        with self.view.reading() as tx:
            rows = tx.fetchall(
                f"SELECT case_id, {_COLUMNS} FROM km_event WHERE partnership = ?"  # noqa: S608 -- constant column list
                " ORDER BY case_id, occurred, seq",
                (partnership,),
            )
            children: dict[str, list[str]] = defaultdict(list)
            for case, child in tx.fetchall(
                "SELECT case_id, child FROM km_child WHERE partnership = ?"
                " ORDER BY case_id, ordinal",
                (partnership,),
            ):
                children[str(case)].append(str(child))
            links: dict[str, list[tuple[str, str]]] = defaultdict(list)
            for case, child, linked in tx.fetchall(
                "SELECT case_id, child, linked FROM km_link WHERE partnership = ?", (partnership,)
            ):
                links[str(case)].append((str(child), str(linked)))
            calendar = self._calendar(tx, partnership)
        by_case: dict[str, list[_Row]] = defaultdict(list)
        for r in rows:
            by_case[str(r[0])].append(_row(r[1:]))

        def in_range(instant: datetime) -> bool:
            day = local_date(instant)
            return (first is None or day >= first) and (last is None or day <= last)

        cases = 0
        concerns: list[ConcernResponse] = []
        decisions: list[DecisionCheck] = []
        for case, case_rows in by_case.items():
            moments = _CaseMoments(
                case_rows, children=children.get(case, ()), links=links.get(case, ())
            )
            chosen = [c for c in moments.concerns(calendar) if in_range(c.raised_at)]
            made = [d for d in moments.decisions() if in_range(d.decided_at)]
            if chosen or made:
                cases += 1
            concerns += chosen
            decisions += made
        answered = [c for c in concerns if c.hours is not None]
        hours = sorted(cast(float, c.hours) for c in answered)
        days = [c.working_days for c in answered if c.working_days is not None]
        counts = [
            DecisionCount(
                decision=kind,
                decisions=sum(1 for d in decisions if d.decision == kind),
                without_seen_alone=sum(
                    1 for d in decisions if d.decision == kind and not d.seen_alone_before
                ),
                without_seen=sum(1 for d in decisions if d.decision == kind and not d.seen_before),
            )
            for kind in KEY_DECISIONS
        ]
        return KeyMomentSummary(
            partnership=partnership,
            date_from=first,
            date_to=last,
            cases=cases,
            concerns=len(concerns),
            concerns_with_action=len(answered),
            concerns_without_action=len(concerns) - len(answered),
            median_hours=statistics.median(hours) if hours else None,
            p90_hours=_nearest_rank(hours, 0.9),
            median_working_days=float(statistics.median(days)) if days else None,
            decisions=counts,
            decisions_without_seen_alone=sum(c.without_seen_alone for c in counts),
        )

    def _calendar(self, tx: Tx, partnership: str) -> WorkingCalendar | None:
        """The working calendar of the partnership's nation (``None``: never established)."""
        facts = self._partnerships.get(tx, partnership)
        return None if facts is None else calendar_for(facts.nation)


_COLUMNS: Final = "seq, occurred, kind, child, outcome, concern, concern_kind, seen, seen_alone"


def _row(r: Sequence[object]) -> _Row:
    return _Row(
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


class _CaseMoments:
    """One case's rows in ``occurred_at`` order, and the matching rules of the module."""

    def __init__(
        self, rows: list[_Row], *, children: Sequence[str], links: Iterable[tuple[str, str]]
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
        protective = [r for r in self.rows if _is_protective(r)]
        referral = next((r for r in self.rows if r.kind == _REFERRAL), None)
        out: list[ConcernResponse] = []
        for r in self.rows:
            if r.kind == _CONCERN:
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
                    hours=None if found is None else (found.occurred - r.occurred) / _US_PER_HOUR,
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

    def _every_child(self) -> dict[str, str]:
        """The case's children, one per group of linked tokens: the group's root token to
        the reference shown for it (``CaseOpened``'s token, else the first named)."""
        found: dict[str, str] = {}
        named = (r.child for r in self.rows if r.child is not None)
        for token in (*self.children, *named):
            found.setdefault(self._root(token), token)
        return found

    def _child_seen(self, sighting: _Row) -> str | None:
        """The root token of the child ``sighting`` saw (``None``: no child in particular)."""
        if sighting.child is not None:
            return self._root(sighting.child)
        return self._root(self.children[0]) if self.one_child else None

    def _sees(self, sighting: _Row, decision: _Row) -> bool:
        """Whether ``sighting`` saw the child ``decision`` is about (see the module's rules)."""
        if decision.child is None:
            return True
        if sighting.child is None:
            return self.one_child
        return self._same(sighting.child, decision.child)


def _is_protective(r: _Row) -> bool:
    if r.kind in PROTECTIVE_ACTIONS:
        return True
    return r.kind == _DECISION and r.outcome in PROTECTIVE_OUTCOMES


def _nearest_rank(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]
