"""What views need to know of a partnership, kept in each view's own table and cached.

A partnership's nation (whose bank holidays count), its escalation stages'
response limits and its timescale settings come from ``PartnershipEstablished``,
the first event of its stream. Views that need them keep them in a table of
their own (so each can be rebuilt alone), all of one layout, through a
:class:`PartnershipTable`.
"""

from __future__ import annotations

from typing import Final

import msgspec

from projections._store import Tx
from schemas.partnership import Nation, PartnershipEstablished

__all__ = ["PartnershipFacts", "PartnershipTable"]


class PartnershipFacts(msgspec.Struct, frozen=True, kw_only=True):
    """A partnership's nation, timescale settings and escalation stage limits."""

    nation: Nation
    #: Settings the timescale rules read: ``strategy_discussion_working_days``.
    settings: dict[str, int] = {}
    #: The response limit in working days of each escalation stage the partnership defined.
    stage_limits: dict[int, int] = {}

    @classmethod
    def of(cls, fact: PartnershipEstablished) -> PartnershipFacts:
        return cls(
            nation=fact.nation,
            settings={"strategy_discussion_working_days": fact.strategy_discussion_working_days},
            stage_limits={s.stage: s.response_working_days for s in fact.escalation_stages},
        )


_encode: Final = msgspec.json.Encoder().encode
_decode: Final = msgspec.json.Decoder(PartnershipFacts).decode


class PartnershipTable:
    """One view's table of partnership facts (named ``table``), and an in-memory cache of it.

    The facts never change once a partnership is established, so a partnership
    found is cached for the life of the view; one not found is not (another
    process may yet establish it). The view calls :meth:`forget` from its own
    ``forget`` (after a rollback or a rebuild).
    """

    def __init__(self, table: str) -> None:
        self.table = table
        self._cache: dict[str, PartnershipFacts] = {}

    @staticmethod
    def ddl(table: str) -> str:
        """The ``CREATE TABLE`` of a table called ``table``, for a view's ``tables``."""
        return (
            f"CREATE TABLE IF NOT EXISTS {table} ("
            " partnership TEXT PRIMARY KEY, facts {blob} NOT NULL)"
        )

    def record(self, tx: Tx, partnership: str, fact: PartnershipEstablished) -> PartnershipFacts:
        """Keep the facts ``fact`` establishes, inside ``tx``."""
        facts = PartnershipFacts.of(fact)
        tx.execute(
            # The table name is the view's constant; the values are parameters.
            f"INSERT INTO {self.table} (partnership, facts) VALUES (?, ?)"  # noqa: S608
            " ON CONFLICT (partnership) DO UPDATE SET facts = excluded.facts",
            (partnership, _encode(facts)),
        )
        self._cache[partnership] = facts
        return facts

    def get(self, tx: Tx, partnership: str) -> PartnershipFacts | None:
        """The partnership's facts; ``None`` when it has not been established."""
        facts = self._cache.get(partnership)
        if facts is None:
            row = tx.fetchone(
                f"SELECT facts FROM {self.table} WHERE partnership = ?",  # noqa: S608 -- constant table
                (partnership,),
            )
            if row is None:
                return None
            facts = self._cache[partnership] = _decode(bytes(row[0]))
        return facts

    def forget(self) -> None:
        """Drop the cache."""
        self._cache = {}
