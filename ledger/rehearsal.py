"""A rehearsal: commands checked by every rule of the ledger, and nothing written to it.

An import must know that every line of a file would be accepted before it writes the
first one. :func:`rehearsal` returns a scratch, in-memory :class:`Rehearsal` ledger
seeded with copies of the aggregates the commands touch (the partnership, the cases
and challenges that already exist), so the same pipeline (schema, dates, domain rules)
runs on each command in turn, later commands seeing what earlier ones recorded. The
real ledger is only read, never changed.

What a rehearsal cannot see is a write another process makes between the rehearsal
and the real run: the real run checks every command again and stops at the first
refusal (see ``docs/import.md``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from datetime import datetime

from ledger._aggregate import LedgerAggregate, Opened, Recorded, aggregate_id
from ledger._commands import check_identifier
from ledger.application import Ledger
from ledger.errors import AggregateNotFound
from schemas import AggregateKind
from schemas import Event as Fact

__all__ = ["Rehearsal", "rehearsal", "stored_facts"]


class Rehearsal(Ledger):
    """An in-memory ledger whose aggregates start as copies of another ledger's.

    Its aggregates live in its cache only (the seeded copies are not in its store), so
    it never evicts them: nobody else writes to a rehearsal, so cached state is never
    stale, and a refused command changes nothing it keeps (rules are checked before a
    fact is recorded on an aggregate).
    """

    def seed(self, aggregate: LedgerAggregate) -> None:
        """Hold a copy of ``aggregate`` (taken from the real ledger) as the current state."""
        cache = self.repository.cache
        if cache is None:  # pragma: no cover - the class env always caches
            msg = "a rehearsal needs the aggregate cache"
            raise RuntimeError(msg)
        cache.put(aggregate.id, copy.deepcopy(aggregate))

    def _evict(self, *targets: str) -> None:
        """Keep every aggregate: the seeded copies are nowhere else to reload from."""


def rehearsal(
    ledger: Ledger,
    partnership: str,
    *,
    cases: Iterable[str] = (),
    challenges: Iterable[str] = (),
    clock: Callable[[], datetime] | None = None,
) -> Rehearsal:
    """A :class:`Rehearsal` of ``ledger`` holding ``partnership`` and the named aggregates.

    A case or challenge that does not exist is left out (a command that opens it may
    do so in the rehearsal); a partnership that does not exist raises
    :class:`~ledger.errors.AggregateNotFound`, as any command in it would.
    """
    scratch = Rehearsal(clock=clock)
    scratch.seed(ledger.get_partnership(partnership))
    getters: list[tuple[Callable[[str, str], LedgerAggregate], Iterable[str]]] = [
        (ledger.get_case, cases),
        (ledger.get_challenge, challenges),
    ]
    for get, idents in getters:
        for ident in dict.fromkeys(idents):
            try:
                scratch.seed(get(partnership, ident))
            except AggregateNotFound:
                continue
    return scratch


def stored_facts(ledger: Ledger, partnership: str, kind: AggregateKind, ident: str) -> list[Fact]:
    """Every stored fact of the aggregate ``ident`` of ``kind``, oldest first ([] if none).

    What an import reads to find the lines it took in before (their sources).
    """
    check_identifier("partnership", partnership)
    check_identifier(kind, ident)
    events = ledger.events.get(aggregate_id(partnership, kind, ident))
    return [event.fact for event in events if isinstance(event, Opened | Recorded)]
