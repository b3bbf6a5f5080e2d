"""The directory: what the ledger holds to be found, partnerships, their agencies and cases.

The lists people and agencies' systems need before they can ask anything else:
which partnerships exist, which agencies each registered, which cases each holds,
their lead agency, whether they are open, and which agencies are party to them,
now and in the past.

* A partnership keeps what ``PartnershipEstablished`` carries: its name (an
  organisation's name, not personal data), nation, escalation stages and
  strategy-discussion setting, when it was established and at what sequence.
* An agency keeps what ``AgencyRegistered`` carries: name, kind and role.
* A case keeps its lead agency, when it was opened and closed (and why), and its
  party history: one row per spell, from an agency joining (the lead from the
  case's opening) to its leaving, so an agency that left and joined again has two.
  ``AgencyJoinedCase.role`` and every ``reason``/``note`` are free text and are not kept.

**Times are the ledger's.** Every ``*_at`` here is the event's ``recorded_at``, when
the ledger knew it, not when the agency says it happened: the directory answers
"who was party to this case when this was read", which is about what the ledger
held. A case's chronology has the ``occurred_at`` times.

**Unknown is an error, never an empty list.** A partnership, agency or case the
ledger does not hold is refused with :class:`~projections.errors.UnknownEntity`,
also when it is the parent of a listing (the cases of an unknown partnership).

**Pages.** :meth:`DirectoryView.cases` is ordered by case id and paged by keyset:
``after`` is the last case id of the previous page. Ids compare bytewise on both
databases (``COLLATE "C"`` on PostgreSQL), so a page is the same on either.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar, Final, Literal, TypeAlias, cast

import msgspec

from projections._checks import check_choice, check_id, check_instant, check_int
from projections._store import Tx, from_micros
from projections._view import Envelope, View, Where
from projections.errors import UnknownEntity
from schemas.case import AgencyJoinedCase, AgencyLeftCase, CaseClosed, CaseOpened
from schemas.partnership import AgencyRegistered, PartnershipEstablished

__all__ = [
    "MAX_PAGE",
    "AgencySummary",
    "CaseState",
    "CaseSummary",
    "DirectoryView",
    "EscalationStageSummary",
    "PartnershipSummary",
    "PartySpell",
]

#: Whether a case is open or closed.
CaseState: TypeAlias = Literal["open", "closed"]
_STATES: Final = ("open", "closed")
#: The most cases one page may hold.
MAX_PAGE: Final = 1000


class EscalationStageSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One stage of a partnership's escalation procedure."""

    stage: int
    title: str
    response_working_days: int


class PartnershipSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A partnership as ``PartnershipEstablished`` set it up."""

    partnership: str
    name: str
    nation: str
    escalation_stages: list[EscalationStageSummary]
    strategy_discussion_working_days: int
    established_at: datetime
    #: Stream sequence of ``PartnershipEstablished``.
    sequence: int


class AgencySummary(msgspec.Struct, frozen=True, kw_only=True):
    """An agency registered with a partnership."""

    partnership: str
    agency: str
    name: str
    #: An :class:`~schemas.partnership.AgencyKind` value.
    kind: str
    #: An :class:`~schemas.partnership.AgencyRole` value.
    role: str
    registered_at: datetime
    sequence: int


class PartySpell(msgspec.Struct, frozen=True, kw_only=True):
    """One spell of an agency as a party to a case: from joining to leaving (``None``: still)."""

    agency: str
    joined_at: datetime
    left_at: datetime | None = None


class CaseSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A case: its lead, state, parties now and every spell of every party."""

    partnership: str
    case: str
    lead_agency: str
    opened_at: datetime
    #: Stream sequence of ``CaseOpened``.
    sequence: int
    state: CaseState
    closed_at: datetime | None = None
    #: A :class:`~schemas.case.CaseClosureReason` value, when closed.
    closure_reason: str | None = None
    #: The agencies party to the case now, sorted.
    parties: list[str]
    #: Agencies that were parties and are not now, sorted.
    former_parties: list[str]
    #: Every spell of every party, in the order they joined.
    history: list[PartySpell]

    def was_party(self, agency: str, at: datetime) -> bool:
        """Whether ``agency`` was party to the case at the instant ``at`` (as the ledger knew)."""
        check_instant("at", at)
        return any(
            s.agency == agency and s.joined_at <= at and (s.left_at is None or at < s.left_at)
            for s in self.history
        )


_encode_stages = msgspec.msgpack.Encoder().encode
_decode_stages = msgspec.msgpack.Decoder(list[EscalationStageSummary]).decode

_CASE_COLUMNS: Final = (
    "case_id, lead_agency, opened, seq, closed, closure_reason FROM directory_case"
)


class DirectoryView(View):
    """The ``directory`` view: partnerships, agencies, cases and their parties."""

    name = "directory"
    table_names: ClassVar[tuple[str, ...]] = (
        "directory_partnership",
        "directory_agency",
        "directory_case",
        "directory_party",
    )
    tables: ClassVar[tuple[str, ...]] = (
        "CREATE TABLE IF NOT EXISTS directory_partnership ("
        " partnership TEXT{bytewise} PRIMARY KEY, name TEXT NOT NULL, nation TEXT NOT NULL,"
        " stages {blob} NOT NULL, strategy_days INTEGER NOT NULL,"
        " established {bigint} NOT NULL, seq {bigint} NOT NULL)",
        "CREATE TABLE IF NOT EXISTS directory_agency ("
        " partnership TEXT{bytewise} NOT NULL, agency TEXT{bytewise} NOT NULL,"
        " name TEXT NOT NULL, kind TEXT NOT NULL, role TEXT NOT NULL,"
        " registered {bigint} NOT NULL, seq {bigint} NOT NULL,"
        " PRIMARY KEY (partnership, agency))",
        "CREATE TABLE IF NOT EXISTS directory_case ("
        " partnership TEXT{bytewise} NOT NULL, case_id TEXT{bytewise} NOT NULL,"
        " lead_agency TEXT NOT NULL, opened {bigint} NOT NULL, seq {bigint} NOT NULL,"
        " closed {bigint}, closure_reason TEXT, PRIMARY KEY (partnership, case_id))",
        "CREATE TABLE IF NOT EXISTS directory_party ("
        " partnership TEXT{bytewise} NOT NULL, case_id TEXT{bytewise} NOT NULL,"
        " agency TEXT{bytewise} NOT NULL, joined_seq {bigint} NOT NULL,"
        " joined {bigint} NOT NULL, left_at {bigint},"
        " PRIMARY KEY (partnership, case_id, agency, joined_seq))",
        "CREATE INDEX IF NOT EXISTS directory_party_now ON directory_party"
        " (partnership, agency, case_id) WHERE left_at IS NULL",
    )

    # -- applying ------------------------------------------------------------------
    # One statement per event: the directory is read by every request, kept cheaply.

    def on_PartnershipEstablished(self, tx: Tx, event: Envelope) -> None:
        fact = cast(PartnershipEstablished, event.fact)
        stages = [
            EscalationStageSummary(
                stage=s.stage, title=s.title, response_working_days=s.response_working_days
            )
            for s in fact.escalation_stages
        ]
        tx.execute(
            "INSERT INTO directory_partnership (partnership, name, nation, stages,"
            " strategy_days, established, seq) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (partnership) DO NOTHING",
            (
                event.partnership,
                fact.name,
                fact.nation.value,
                _encode_stages(stages),
                fact.strategy_discussion_working_days,
                event.recorded_us,
                event.seq,
            ),
        )

    def on_AgencyRegistered(self, tx: Tx, event: Envelope) -> None:
        fact = cast(AgencyRegistered, event.fact)
        tx.execute(
            "INSERT INTO directory_agency (partnership, agency, name, kind, role, registered,"
            " seq) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (partnership, agency) DO NOTHING",
            (
                event.partnership,
                fact.agency,
                fact.name,
                fact.kind.value,
                fact.role.value,
                event.recorded_us,
                event.seq,
            ),
        )

    def on_CaseOpened(self, tx: Tx, event: Envelope) -> None:
        fact = cast(CaseOpened, event.fact)
        tx.execute(
            "INSERT INTO directory_case (partnership, case_id, lead_agency, opened, seq)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (partnership, case_id) DO NOTHING",
            (event.partnership, event.ident, fact.lead_agency, event.recorded_us, event.seq),
        )
        self._join(tx, event, fact.lead_agency)

    def on_AgencyJoinedCase(self, tx: Tx, event: Envelope) -> None:
        self._join(tx, event, cast(AgencyJoinedCase, event.fact).agency)

    def on_AgencyLeftCase(self, tx: Tx, event: Envelope) -> None:
        fact = cast(AgencyLeftCase, event.fact)
        tx.execute(
            "UPDATE directory_party SET left_at = ? WHERE partnership = ? AND case_id = ?"
            " AND agency = ? AND left_at IS NULL",
            (event.recorded_us, event.partnership, event.ident, fact.agency),
        )

    def on_CaseClosed(self, tx: Tx, event: Envelope) -> None:
        fact = cast(CaseClosed, event.fact)
        tx.execute(
            "UPDATE directory_case SET closed = ?, closure_reason = ?"
            " WHERE partnership = ? AND case_id = ? AND closed IS NULL",
            (event.recorded_us, fact.reason.value, event.partnership, event.ident),
        )

    @staticmethod
    def _join(tx: Tx, event: Envelope, agency: str) -> None:
        # The ledger refuses a join by a party, so a spell opens only for a non-party.
        tx.execute(
            "INSERT INTO directory_party (partnership, case_id, agency, joined_seq, joined)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (partnership, case_id, agency, joined_seq)"
            " DO NOTHING",
            (event.partnership, event.ident, agency, event.seq, event.recorded_us),
        )

    # -- querying: partnerships and agencies ---------------------------------------

    def partnerships(self) -> list[PartnershipSummary]:
        """Every partnership the ledger holds, by id."""
        with self.view.reading() as tx:
            rows = tx.fetchall(
                "SELECT partnership, name, nation, stages, strategy_days, established, seq"
                " FROM directory_partnership ORDER BY partnership"
            )
        return [_partnership(row) for row in rows]

    def partnership(self, partnership: str) -> PartnershipSummary:
        """The partnership ``partnership``; :class:`UnknownEntity` if the ledger has none."""
        check_id("partnership", partnership)
        with self.view.reading() as tx:
            row = _partnership_row(tx, partnership)
        if row is None:
            raise UnknownEntity("partnership", partnership)
        return _partnership(row)

    def agencies(self, partnership: str) -> list[AgencySummary]:
        """The agencies registered with ``partnership``, by id."""
        check_id("partnership", partnership)
        with self.view.reading() as tx:
            _require_partnership(tx, partnership)
            rows = tx.fetchall(
                "SELECT agency, name, kind, role, registered, seq FROM directory_agency"
                " WHERE partnership = ? ORDER BY agency",
                (partnership,),
            )
        return [_agency(partnership, row) for row in rows]

    def agency(self, partnership: str, agency: str) -> AgencySummary:
        """The agency ``agency`` of ``partnership``; :class:`UnknownEntity` if not registered."""
        check_id("partnership", partnership)
        check_id("agency", agency)
        with self.view.reading() as tx:
            _require_partnership(tx, partnership)
            row = tx.fetchone(
                "SELECT agency, name, kind, role, registered, seq FROM directory_agency"
                " WHERE partnership = ? AND agency = ?",
                (partnership, agency),
            )
        if row is None:
            raise UnknownEntity("agency", agency)
        return _agency(partnership, row)

    # -- querying: cases -----------------------------------------------------------

    def cases(
        self,
        partnership: str,
        *,
        agency: str | None = None,
        state: CaseState | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[CaseSummary]:
        """A page of ``partnership``'s cases, ordered by case id.

        ``agency``: only the cases it is party to now (an agency the partnership has not
        registered is :class:`UnknownEntity`). ``state``: ``open`` or ``closed``.
        ``after``: the last case id of the previous page. ``limit``: 1 to 1000.
        """
        check_id("partnership", partnership)
        if agency is not None:
            check_id("agency", agency)
        if state is not None:
            check_choice("state", state, _STATES, "a case state")
        if after is not None:
            check_id("after", after)
        check_int("limit", limit, 1, MAX_PAGE, f"a page holds 1 to {MAX_PAGE} cases")
        where = Where("c.partnership = ?", partnership)
        if agency is not None:
            where.add(
                "EXISTS (SELECT 1 FROM directory_party p WHERE p.partnership = c.partnership"
                " AND p.case_id = c.case_id AND p.agency = ? AND p.left_at IS NULL)",
                agency,
            )
        if state is not None:
            where.add("c.closed IS NULL" if state == "open" else "c.closed IS NOT NULL")
        if after is not None:
            where.add("c.case_id > ?", after)
        with self.view.reading() as tx:
            _require_partnership(tx, partnership)
            if agency is not None:
                _require_agency(tx, partnership, agency)
            rows = tx.fetchall(
                f"SELECT {_CASE_COLUMNS} c WHERE {where.sql} ORDER BY c.case_id LIMIT ?",
                (*where.params, limit),
            )
            if not rows:
                return []
            spells = _spells(
                tx.fetchall(
                    "SELECT case_id, agency, joined, left_at FROM directory_party"
                    " WHERE partnership = ? AND case_id >= ? AND case_id <= ?"
                    " ORDER BY case_id, joined_seq",
                    (partnership, rows[0][0], rows[-1][0]),
                )
            )
        return [_case(partnership, row, spells.get(str(row[0]), [])) for row in rows]

    def case(self, partnership: str, case: str) -> CaseSummary:
        """The case ``case`` with its parties now and before; :class:`UnknownEntity` if none."""
        check_id("partnership", partnership)
        check_id("case", case)
        with self.view.reading() as tx:
            _require_partnership(tx, partnership)
            row = tx.fetchone(
                f"SELECT {_CASE_COLUMNS} WHERE partnership = ? AND case_id = ?",
                (partnership, case),
            )
            if row is None:
                raise UnknownEntity("case", case)
            spells = _spells(
                tx.fetchall(
                    "SELECT case_id, agency, joined, left_at FROM directory_party"
                    " WHERE partnership = ? AND case_id = ? ORDER BY joined_seq",
                    (partnership, case),
                )
            )
        return _case(partnership, row, spells.get(case, []))

    def is_party(self, partnership: str, case: str, agency: str) -> bool:
        """Whether ``agency`` is party to ``case`` now (the case must exist; the agency need not
        be registered: an unregistered agency is party to nothing)."""
        check_id("partnership", partnership)
        check_id("case", case)
        check_id("agency", agency)
        with self.view.reading() as tx:
            _require_partnership(tx, partnership)
            _require_case(tx, partnership, case)
            row = tx.fetchone(
                "SELECT 1 FROM directory_party WHERE partnership = ? AND case_id = ?"
                " AND agency = ? AND left_at IS NULL",
                (partnership, case, agency),
            )
        return row is not None


# -- rows to answers -----------------------------------------------------------------


def _partnership_row(tx: Tx, partnership: str) -> Any:
    return tx.fetchone(
        "SELECT partnership, name, nation, stages, strategy_days, established, seq"
        " FROM directory_partnership WHERE partnership = ?",
        (partnership,),
    )


def _require_partnership(tx: Tx, partnership: str) -> None:
    if (
        tx.fetchone("SELECT 1 FROM directory_partnership WHERE partnership = ?", (partnership,))
        is None
    ):
        raise UnknownEntity("partnership", partnership)


def _require_agency(tx: Tx, partnership: str, agency: str) -> None:
    if (
        tx.fetchone(
            "SELECT 1 FROM directory_agency WHERE partnership = ? AND agency = ?",
            (partnership, agency),
        )
        is None
    ):
        raise UnknownEntity("agency", agency)


def _require_case(tx: Tx, partnership: str, case: str) -> None:
    if (
        tx.fetchone(
            "SELECT 1 FROM directory_case WHERE partnership = ? AND case_id = ?",
            (partnership, case),
        )
        is None
    ):
        raise UnknownEntity("case", case)


def _partnership(row: Any) -> PartnershipSummary:
    partnership, name, nation, stages, strategy_days, established, seq = row
    return PartnershipSummary(
        partnership=str(partnership),
        name=str(name),
        nation=str(nation),
        escalation_stages=_decode_stages(bytes(stages)),
        strategy_discussion_working_days=int(strategy_days),
        established_at=from_micros(int(established)),
        sequence=int(seq),
    )


def _agency(partnership: str, row: Any) -> AgencySummary:
    agency, name, kind, role, registered, seq = row
    return AgencySummary(
        partnership=partnership,
        agency=str(agency),
        name=str(name),
        kind=str(kind),
        role=str(role),
        registered_at=from_micros(int(registered)),
        sequence=int(seq),
    )


def _spells(rows: Iterable[Any]) -> dict[str, list[PartySpell]]:
    by_case: dict[str, list[PartySpell]] = defaultdict(list)
    for case, agency, joined, left in rows:
        by_case[str(case)].append(
            PartySpell(
                agency=str(agency),
                joined_at=from_micros(int(joined)),
                left_at=None if left is None else from_micros(int(left)),
            )
        )
    return by_case


def _case(partnership: str, row: Any, history: list[PartySpell]) -> CaseSummary:
    case, lead, opened, seq, closed, reason = row
    now = sorted({s.agency for s in history if s.left_at is None})
    before = sorted({s.agency for s in history} - set(now))
    return CaseSummary(
        partnership=partnership,
        case=str(case),
        lead_agency=str(lead),
        opened_at=from_micros(int(opened)),
        sequence=int(seq),
        state="open" if closed is None else "closed",
        closed_at=None if closed is None else from_micros(int(closed)),
        closure_reason=None if reason is None else str(reason),
        parties=now,
        former_parties=before,
        history=history,
    )
