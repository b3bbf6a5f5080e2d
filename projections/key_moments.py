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
* **Seen alone before the serious incident.** A ``SeriousIncidentNotified`` naming
  the case is a key moment too: for each child of the case, whether it had been seen
  alone before the local authority became aware of the incident (the rules and types
  are in :mod:`projections._incidents`).

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

import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import ClassVar, Final, cast

import msgspec

from projections._checks import Day, check_id, check_range
from projections._incidents import ChildSeenAlone, Incident, IncidentCheck
from projections._moments import (
    CASE_CLOSED,
    CONCERN,
    DECISION,
    KEY_DECISIONS,
    PROTECTIVE_ACTIONS,
    PROTECTIVE_OUTCOMES,
    SIGHTINGS,
    STORED_ACTIONS,
    CaseMoments,
    ConcernResponse,
    DecisionCheck,
    Row,
    nearest_rank,
    row_of,
)
from projections._partnerships import PartnershipTable
from projections._store import Tx, ViewStore, to_micros
from projections._view import Envelope, View
from projections.calendar import WorkingCalendar, calendar_for, local_date
from schemas import (
    ActionOutcome,
    ActionRecorded,
    CaseOpened,
    ChildIdentifierLinked,
    ChildIdentifierUnlinked,
    ConcernRaised,
    PartnershipEstablished,
    SeriousIncidentNotified,
)

__all__ = [
    "CASE_CLOSED",
    "KEY_DECISIONS",
    "PROTECTIVE_ACTIONS",
    "PROTECTIVE_OUTCOMES",
    "CaseKeyMoments",
    "ChildSeenAlone",
    "ConcernResponse",
    "DecisionCheck",
    "DecisionCount",
    "IncidentCheck",
    "KeyMomentSummary",
    "KeyMomentView",
]

_PARTNERSHIPS: Final = "km_nation"


class CaseKeyMoments(msgspec.Struct, frozen=True, kw_only=True):
    """A case's concerns with their first protective action, its key decisions, and the
    serious incidents notified about it."""

    partnership: str
    case: str
    concerns: list[ConcernResponse]
    decisions: list[DecisionCheck]
    incidents: list[IncidentCheck] = msgspec.field(default_factory=list)


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
    #: Serious incidents about the partnership's cases the LA became aware of in the range.
    incidents: int = 0
    #: Those before which some child of the case had not been seen alone.
    incidents_without_seen_alone: int = 0


class KeyMomentView(View):
    """The ``key_moments`` view."""

    name: str = "key_moments"
    table_names: ClassVar[tuple[str, ...]] = (
        "km_event",
        "km_child",
        "km_link",
        "km_incident",
        _PARTNERSHIPS,
    )
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
        "CREATE TABLE IF NOT EXISTS km_incident ("
        " partnership TEXT NOT NULL, case_id TEXT NOT NULL, review TEXT NOT NULL,"
        " seq {bigint} NOT NULL, aware {bigint} NOT NULL, incident TEXT NOT NULL,"
        " child TEXT NOT NULL, PRIMARY KEY (partnership, case_id, review))",
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
        self._insert(tx, event, CONCERN, child, None, fact.concern, fact.kind.value, 0, 0)

    def on_ActionRecorded(self, tx: Tx, event: Envelope) -> None:
        fact = cast(ActionRecorded, event.fact)
        action = fact.action.value
        outcome = fact.outcome.value if isinstance(fact.outcome, ActionOutcome) else None
        if action not in STORED_ACTIONS and not (
            action == DECISION and outcome in PROTECTIVE_OUTCOMES
        ):
            return
        child = fact.child if isinstance(fact.child, str) else None
        alone = fact.seen_alone is True
        seen = alone or fact.seen is True
        if action in SIGHTINGS and not seen:
            return  # a visit that did not see the child counts for nothing here
        self._insert(tx, event, action, child, outcome, None, None, int(seen), int(alone))

    def on_SeriousIncidentNotified(self, tx: Tx, event: Envelope) -> None:
        fact = cast(SeriousIncidentNotified, event.fact)
        if not isinstance(fact.case, str):
            return  # an incident about no case is no key moment of one
        tx.insert_later(
            "INSERT INTO km_incident (partnership, case_id, review, seq, aware, incident, child)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                event.partnership,
                fact.case,
                event.ident,
                event.seq,
                to_micros(fact.became_aware_at),
                fact.incident.value,
                fact.child,
            ),
        )

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
            incidents = tx.fetchall(
                "SELECT review, seq, aware, incident, child FROM km_incident"
                " WHERE partnership = ? AND case_id = ? ORDER BY aware, seq",
                (partnership, case),
            )
            calendar = self._calendar(tx, partnership)
        moments = CaseMoments(
            [row_of(r) for r in rows],
            children=[str(c) for (c,) in children],
            links=[(str(a), str(b)) for a, b in links],
        )
        return CaseKeyMoments(
            partnership=partnership,
            case=case,
            concerns=moments.concerns(calendar),
            decisions=moments.decisions(),
            incidents=moments.incidents([_incident(r) for r in incidents]),
        )

    def summary(
        self,
        partnership: str,
        *,
        date_from: Day | None = None,
        date_to: Day | None = None,
    ) -> KeyMomentSummary:
        """Counts and delays over the concerns, decisions and serious incidents (by the day the
        LA became aware) whose London date is in the range.

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
            incidents: dict[str, list[Incident]] = defaultdict(list)
            for case, *incident in tx.fetchall(
                "SELECT case_id, review, seq, aware, incident, child FROM km_incident"
                " WHERE partnership = ? ORDER BY case_id, aware, seq",
                (partnership,),
            ):
                incidents[str(case)].append(_incident(incident))
            calendar = self._calendar(tx, partnership)
        by_case: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            by_case[str(r[0])].append(row_of(r[1:]))

        def in_range(instant: datetime) -> bool:
            day = local_date(instant)
            return (first is None or day >= first) and (last is None or day <= last)

        cases = 0
        concerns: list[ConcernResponse] = []
        decisions: list[DecisionCheck] = []
        notified: list[IncidentCheck] = []
        for case in sorted(by_case.keys() | incidents.keys()):
            moments = CaseMoments(
                by_case.get(case, []), children=children.get(case, ()), links=links.get(case, ())
            )
            chosen = [c for c in moments.concerns(calendar) if in_range(c.raised_at)]
            made = [d for d in moments.decisions() if in_range(d.decided_at)]
            known = [
                i for i in moments.incidents(incidents.get(case, [])) if in_range(i.became_aware_at)
            ]
            if chosen or made or known:
                cases += 1
            concerns += chosen
            decisions += made
            notified += known
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
            p90_hours=nearest_rank(hours, 0.9),
            median_working_days=float(statistics.median(days)) if days else None,
            decisions=counts,
            decisions_without_seen_alone=sum(c.without_seen_alone for c in counts),
            incidents=len(notified),
            incidents_without_seen_alone=sum(1 for i in notified if not i.seen_alone_before),
        )

    def _calendar(self, tx: Tx, partnership: str) -> WorkingCalendar | None:
        """The working calendar of the partnership's nation (``None``: never established)."""
        facts = self._partnerships.get(tx, partnership)
        return None if facts is None else calendar_for(facts.nation)


_COLUMNS: Final = "seq, occurred, kind, child, outcome, concern, concern_kind, seen, seen_alone"


def _incident(r: Sequence[object]) -> Incident:
    """A stored incident from its columns: review, seq, aware, incident, child."""
    review, seq, aware, kind, child = r
    return Incident(str(review), int(cast(int, seq)), int(cast(int, aware)), str(kind), str(child))
