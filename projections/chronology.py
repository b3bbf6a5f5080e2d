"""Case chronology: every event of a case in ``occurred_at`` order, as of any past instant.

A row per event of the case, and of every challenge or review opened about the
case (``ChallengeRaised.case``, ``SeriousIncidentNotified.case``), so a reviewer
reads one multi-agency story. Each row keeps what the query needs to filter and
order on (``occurred``, ``recorded``, ``seq``) in columns, and the entry itself as
msgspec JSON, so a 10,000-event chronology is one indexed scan and one decode.

**As of.** ``recorded`` is when the ledger accepted the event; a chronology as of
``T`` holds only the rows recorded by ``T``, so an event recorded late is absent
from a view of the time before it was recorded, and in its ``occurred_at`` place
after. A late recording is flagged when it reached the ledger more than
:data:`LATE_RECORDING_AFTER` after it happened; a ``LateRecordingExplained`` marks
the entry it explains, in any chronology as of a time after the explanation.

No free text is stored here: :func:`~projections._describe.describe` says what
happened from the event's enumerations and identifiers.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import ClassVar

import msgspec

from projections._checks import Instant, check_id, check_optional_instant
from projections._describe import describe
from projections._store import Tx, ViewStore, to_micros
from projections._view import Envelope, View

__all__ = [
    "LATE_RECORDING_AFTER",
    "Chronology",
    "ChronologyEntry",
    "ChronologyStanding",
    "ChronologyView",
]

#: An event reaching the ledger later than this after it happened is flagged as recorded late.
LATE_RECORDING_AFTER = timedelta(hours=24)
_LATE_US = int(LATE_RECORDING_AFTER.total_seconds() * 1_000_000)


class ChronologyEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One line of a multi-agency chronology.

    (``gc=False``: an entry holds only strings, numbers and datetimes, never a
    container, so the garbage collector need not track the 10,000 of a long case.)
    """

    sequence: int
    occurred_at: datetime
    recorded_at: datetime
    agency: str
    actor: str
    source: str
    #: Whether the source names a record; the reference itself is personal data and
    #: stays in the stream.
    source_referenced: bool = False
    event_type: str
    aggregate: str
    what: str
    action: str | None = None
    outcome: str | None = None
    child: str | None = None
    child_seen: bool | None = None
    seen_alone: bool | None = None
    recorded_late: bool = False
    recording_delay_s: int = 0
    late_explained: bool = False
    explains_sequence: int | None = None


class Chronology(msgspec.Struct, frozen=True, kw_only=True):
    """A case's chronology as the ledger knew it at ``as_of`` (``None``: now)."""

    partnership: str
    case: str
    as_of: datetime | None
    entries: list[ChronologyEntry]


class ChronologyStanding(msgspec.Struct, frozen=True, kw_only=True):
    """What a read of a case's chronology checks first, from one statement
    (:meth:`ChronologyView.standing`): whether the partnership and the case exist,
    whether an agency is party to the case now, and the chronology's version."""

    partnership_known: bool
    case_known: bool
    #: Whether the agency asked about is party to the case now (``None``: none asked).
    party: bool | None
    #: The highest stream sequence among the chronology's rows recorded by the bound (0:
    #: none). Rows are only ever added, in stream order, so every row added later has a
    #: higher sequence than every row there: the chronology as of a bound changes exactly
    #: when this does, and two reads that see the same version see the same entries.
    version: int


# Entries are stored as msgpack maps: a case's rows concatenated behind a msgpack
# array header decode in one call, and msgpack is smaller and faster than JSON.
_encode = msgspec.msgpack.Encoder().encode
_decode_entries = msgspec.msgpack.Decoder(list[ChronologyEntry]).decode
_MSGPACK_ARRAY32 = b"\xdd"


def _order(entry: ChronologyEntry) -> tuple[datetime, int]:
    return entry.occurred_at, entry.sequence


def _in_order(entries: list[ChronologyEntry]) -> bool:
    for before, after in itertools.pairwise(entries):
        if before.occurred_at > after.occurred_at or (
            before.occurred_at == after.occurred_at and before.sequence > after.sequence
        ):
            return False
    return True


def _value(value: object) -> str | None:
    if value is msgspec.UNSET or value is None:
        return None
    return str(getattr(value, "value", value))


class ChronologyView(View):
    """The ``chronology`` view."""

    name: str = "chronology"
    table_names: ClassVar[tuple[str, ...]] = ("chronology", "chronology_link")
    tables: ClassVar[tuple[str, ...]] = (
        "CREATE TABLE IF NOT EXISTS chronology ("
        " partnership TEXT NOT NULL, case_id TEXT NOT NULL, occurred {bigint} NOT NULL,"
        " seq {bigint} NOT NULL, recorded {bigint} NOT NULL, explains {bigint},"
        " entry {blob} NOT NULL, PRIMARY KEY (partnership, case_id, occurred, seq)){clustered}",
        "CREATE TABLE IF NOT EXISTS chronology_link ("
        " aggregate_id TEXT PRIMARY KEY, partnership TEXT NOT NULL, case_id TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS chronology_explains ON chronology (partnership, case_id)"
        " WHERE explains IS NOT NULL",
        # A case's version (:meth:`standing`): its highest sequence recorded by a bound,
        # read backwards from the newest row without touching the entries.
        "CREATE INDEX IF NOT EXISTS chronology_version"
        " ON chronology (partnership, case_id, seq, recorded)",
    )

    def __init__(self, view: ViewStore) -> None:
        super().__init__(view)
        self._links: dict[str, str | None] = {}
        self._pending: list[tuple[object, ...]] = []

    def forget(self) -> None:
        self._links = {}
        self._pending = []

    def flush(self, tx: Tx) -> None:
        if self._pending:
            tx.executemany(
                "INSERT INTO chronology"
                " (partnership, case_id, occurred, seq, recorded, explains, entry)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                self._pending,
            )
            self._pending = []

    # -- applying ------------------------------------------------------------------

    def apply(self, tx: Tx, event: Envelope) -> None:
        kind = event.kind
        if kind == "case":
            self._add(tx, event, event.ident)
        elif kind in ("challenge", "review"):
            case = self._case_of(tx, event)
            if case is not None:
                self._add(tx, event, case)

    def _case_of(self, tx: Tx, event: Envelope) -> str | None:
        key = event.aggregate_id
        if key in self._links:
            return self._links[key]
        case = getattr(event.fact, "case", msgspec.UNSET)
        if event.fact.opens and case is not msgspec.UNSET:
            tx.execute(
                "INSERT INTO chronology_link (aggregate_id, partnership, case_id) VALUES (?, ?, ?)",
                (key, event.partnership, case),
            )
            found: str | None = str(case)
        else:
            row = tx.fetchone("SELECT case_id FROM chronology_link WHERE aggregate_id = ?", (key,))
            found = None if row is None else str(row[0])
        self._links[key] = found
        return found

    def _add(self, tx: Tx, event: Envelope, case: str) -> None:
        fact = event.fact
        occurred, recorded = event.occurred_us, event.recorded_us
        delay = recorded - occurred
        explains = getattr(fact, "event_sequence", None)
        child = getattr(fact, "child", None)
        entry = ChronologyEntry(
            sequence=event.seq,
            occurred_at=fact.occurred_at,
            recorded_at=fact.recorded_at,
            agency=fact.recorded_by.agency,
            actor=fact.recorded_by.actor,
            source=fact.source.kind.value,
            source_referenced=fact.source.reference is not msgspec.UNSET,
            event_type=event.tag,
            aggregate=f"{event.kind}.{event.ident}",
            what=describe(event.tag, fact),
            action=_value(getattr(fact, "action", None)),
            outcome=_value(getattr(fact, "outcome", None)),
            child=_value(child),
            child_seen=_flag(getattr(fact, "seen", None)),
            seen_alone=_flag(getattr(fact, "seen_alone", None)),
            recorded_late=delay > _LATE_US,
            recording_delay_s=max(delay // 1_000_000, 0),
            explains_sequence=explains,
        )
        self._pending.append(
            (event.partnership, case, occurred, event.seq, recorded, explains, _encode(entry))
        )

    # -- querying ------------------------------------------------------------------

    def standing(
        self, partnership: str, case: str, *, agency: str | None, as_of: Instant | None = None
    ) -> ChronologyStanding:
        """What a read of the case's chronology (as of ``as_of``) by ``agency`` (``None``:
        no party check) checks first, in one statement: it reads the directory's
        partnership, case and party tables beside this view's own, so that a read that a
        cached answer serves costs one database round trip."""
        check_id("partnership", partnership)
        check_id("case", case)
        if agency is not None:
            check_id("agency", agency)
        as_of = check_optional_instant("as_of", as_of)
        bound = to_micros(as_of) if as_of is not None else 2**62
        who = agency or ""  # matches no party row: ids are never empty
        params = (partnership, partnership, case, partnership, case, who, partnership, case, bound)
        with self.view.reading() as tx:
            known, case_known, party, version = tx.fetchone(
                "SELECT"
                " (SELECT 1 FROM directory_partnership WHERE partnership = ?),"
                " (SELECT 1 FROM directory_case WHERE partnership = ? AND case_id = ?),"
                " (SELECT 1 FROM directory_party WHERE partnership = ? AND case_id = ?"
                "  AND agency = ? AND left_at IS NULL),"
                " (SELECT seq FROM chronology WHERE partnership = ? AND case_id = ?"
                "  AND recorded <= ? ORDER BY seq DESC LIMIT 1)",
                params,
            )
        return ChronologyStanding(
            partnership_known=known is not None,
            case_known=case_known is not None,
            party=None if agency is None else party is not None,
            version=int(version or 0),
        )

    def chronology(
        self, partnership: str, case: str, *, as_of: Instant | None = None
    ) -> Chronology:
        """The case's chronology; with ``as_of``, only what the ledger had recorded by then."""
        check_id("partnership", partnership)
        check_id("case", case)
        as_of = check_optional_instant("as_of", as_of)
        bound = to_micros(as_of) if as_of is not None else 2**62
        # One row back: the database concatenates the entries in order, so a long case
        # costs one fetch and one decode rather than a Python object per row.
        # The same scan lists the sequences that explanations (recorded by then) explain.
        dialect = self.view.dialect
        concat = dialect.ordered_concat("entry", "occurred, seq")
        explains = dialect.text_list("explains")
        with self.view.reading() as tx:
            count, blob, explained_list = tx.fetchone(
                f"SELECT count(*), {concat}, {explains} FROM"  # noqa: S608 - fixed SQL
                " (SELECT entry, occurred, seq, explains FROM chronology"
                " WHERE partnership = ? AND case_id = ? AND recorded <= ?"
                " ORDER BY occurred, seq) AS t",
                (partnership, case, bound),
            )
        explained = str(explained_list).split(",") if explained_list else []
        entries = (
            _decode_entries(_MSGPACK_ARRAY32 + int(count).to_bytes(4, "big") + bytes(blob))
            if count
            else []
        )
        # SQLite before 3.44 promises no order inside an aggregate, though it keeps the
        # subquery's: check it in one pass that allocates nothing (a sort key per entry
        # would wake the garbage collector on a long case), and sort only if it is wrong.
        if not _in_order(entries):
            entries.sort(key=_order)
        if explained:
            seqs = {int(seq) for seq in explained}
            entries = [
                msgspec.structs.replace(e, late_explained=True) if e.sequence in seqs else e
                for e in entries
            ]
        return Chronology(partnership=partnership, case=case, as_of=as_of, entries=entries)


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None
