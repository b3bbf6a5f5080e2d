"""Commands on a partnership: establish it, register its agencies and their keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ledger._commands._base import (
    DEFAULT_SOURCE,
    CommandBase,
    Receipt,
    RecordedByInput,
    SourceInput,
    listed,
)
from schemas import (
    AgencyKeyRegistered,
    AgencyRegistered,
    EscalationStage,
    PartnershipEstablished,
)

__all__ = ["PartnershipCommands"]


class PartnershipCommands(CommandBase):
    """The partnership's commands, mixed into :class:`~ledger.application.Ledger`."""

    def establish_partnership(
        self,
        *,
        partnership: str,
        recorded_by: RecordedByInput,
        name: str,
        nation: str,
        escalation_stages: Sequence[EscalationStage | Mapping[str, Any]],
        strategy_discussion_working_days: int = 3,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Establish ``partnership`` in ``nation`` with its escalation stages, numbered 1, 2 ..."""
        return self._submit(
            PartnershipEstablished,
            partnership,
            partnership,
            recorded_by,
            source,
            occurred_at,
            name=name,
            nation=nation,
            escalation_stages=listed("escalation_stages", escalation_stages),
            strategy_discussion_working_days=strategy_discussion_working_days,
        )

    def register_agency(
        self,
        *,
        partnership: str,
        recorded_by: RecordedByInput,
        agency: str,
        name: str,
        kind: str,
        role: str,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Register ``agency`` with the partnership, with its kind and role."""
        return self._submit(
            AgencyRegistered,
            partnership,
            partnership,
            recorded_by,
            source,
            occurred_at,
            agency=agency,
            name=name,
            kind=kind,
            role=role,
        )

    def register_agency_key(
        self,
        *,
        partnership: str,
        recorded_by: RecordedByInput,
        agency: str,
        key_id: str,
        public_key: str,
        algorithm: str = "ed25519",
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Register a public key of ``agency`` (recorded by that agency itself)."""
        return self._submit(
            AgencyKeyRegistered,
            partnership,
            partnership,
            recorded_by,
            source,
            occurred_at,
            agency=agency,
            key_id=key_id,
            algorithm=algorithm,
            public_key=public_key,
        )
