"""Commands on a partnership: establish it, register its agencies and their keys, revoke
keys and require signatures.

Each method builds the command of the same name in :mod:`schemas.commands`
(``register_agency`` builds ``RegisterAgency``) and executes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from ledger._commands._base import (
    DEFAULT_SOURCE,
    CommandBase,
    Receipt,
    RecordedByInput,
    SourceInput,
)
from schemas import EscalationStage
from schemas.commands import (
    EstablishPartnership,
    RegisterAgency,
    RegisterAgencyKey,
    RequireSignatures,
    RevokeAgencyKey,
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
        return self._run(
            EstablishPartnership,
            recorded_by,
            partnership=partnership,
            name=name,
            nation=nation,
            escalation_stages=escalation_stages,
            strategy_discussion_working_days=strategy_discussion_working_days,
            source=source,
            occurred_at=occurred_at,
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
        return self._run(
            RegisterAgency,
            recorded_by,
            partnership=partnership,
            agency=agency,
            name=name,
            kind=kind,
            role=role,
            source=source,
            occurred_at=occurred_at,
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
        custody: str = "agency",
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Register a public key of ``agency`` (recorded by that agency itself); ``custody``
        ``service`` when the service holds the private key for the agency."""
        return self._run(
            RegisterAgencyKey,
            recorded_by,
            partnership=partnership,
            agency=agency,
            key_id=key_id,
            public_key=public_key,
            algorithm=algorithm,
            custody=custody,
            source=source,
            occurred_at=occurred_at,
        )

    def revoke_agency_key(
        self,
        *,
        partnership: str,
        recorded_by: RecordedByInput,
        agency: str,
        key_id: str,
        reason: str,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Revoke key ``key_id`` of ``agency`` (recorded by that agency itself)."""
        return self._run(
            RevokeAgencyKey,
            recorded_by,
            partnership=partnership,
            agency=agency,
            key_id=key_id,
            reason=reason,
            source=source,
            occurred_at=occurred_at,
        )

    def require_signatures(
        self,
        *,
        partnership: str,
        recorded_by: RecordedByInput,
        required_from: date,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Require agencies' signatures on every event recorded from ``required_from`` on."""
        return self._run(
            RequireSignatures,
            recorded_by,
            partnership=partnership,
            required_from=required_from,
            source=source,
            occurred_at=occurred_at,
        )
