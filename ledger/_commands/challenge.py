"""Commands on a challenge: raise it, respond, escalate, resolve or withdraw it.

Each method builds the command of the same name in :mod:`schemas.commands`
(``raise_challenge`` builds ``RaiseChallenge``) and executes it.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from ledger._commands._base import (
    DEFAULT_SOURCE,
    CommandBase,
    Opt,
    Receipt,
    RecordedByInput,
    SourceInput,
)
from schemas.commands import (
    EscalateChallenge,
    RaiseChallenge,
    ResolveChallenge,
    RespondToChallenge,
    WithdrawChallenge,
)

__all__ = ["ChallengeCommands"]

UNSET = msgspec.UNSET


class ChallengeCommands(CommandBase):
    """The challenge's commands, mixed into :class:`~ledger.application.Ledger`.

    ``by_agency`` defaults to the recording agency wherever the event has one.
    """

    def raise_challenge(
        self,
        *,
        partnership: str,
        challenge: str,
        recorded_by: RecordedByInput,
        against_agency: str,
        matter: str,
        summary: str,
        by_agency: Opt[str] = UNSET,
        case: Opt[str] = UNSET,
        stage: int = 1,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Raise ``challenge`` by ``by_agency`` against ``against_agency``, at ``stage``."""
        return self._run(
            RaiseChallenge,
            recorded_by,
            partnership=partnership,
            challenge=challenge,
            against_agency=against_agency,
            matter=matter,
            summary=summary,
            by_agency=by_agency,
            case=case,
            stage=stage,
            source=source,
            occurred_at=occurred_at,
        )

    def respond_to_challenge(
        self,
        *,
        partnership: str,
        challenge: str,
        recorded_by: RecordedByInput,
        stage: int,
        response: str,
        by_agency: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Respond, as the agency challenged, at the challenge's current ``stage``."""
        return self._run(
            RespondToChallenge,
            recorded_by,
            partnership=partnership,
            challenge=challenge,
            stage=stage,
            response=response,
            by_agency=by_agency,
            source=source,
            occurred_at=occurred_at,
        )

    def escalate_challenge(
        self,
        *,
        partnership: str,
        challenge: str,
        recorded_by: RecordedByInput,
        to_stage: int,
        by_agency: Opt[str] = UNSET,
        reason: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Escalate the challenge to the later stage ``to_stage``."""
        return self._run(
            EscalateChallenge,
            recorded_by,
            partnership=partnership,
            challenge=challenge,
            to_stage=to_stage,
            by_agency=by_agency,
            reason=reason,
            source=source,
            occurred_at=occurred_at,
        )

    def resolve_challenge(
        self,
        *,
        partnership: str,
        challenge: str,
        recorded_by: RecordedByInput,
        outcome: str,
        note: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Resolve the challenge with ``outcome``."""
        return self._run(
            ResolveChallenge,
            recorded_by,
            partnership=partnership,
            challenge=challenge,
            outcome=outcome,
            note=note,
            source=source,
            occurred_at=occurred_at,
        )

    def withdraw_challenge(
        self,
        *,
        partnership: str,
        challenge: str,
        recorded_by: RecordedByInput,
        by_agency: Opt[str] = UNSET,
        reason: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Withdraw the challenge, as the agency that raised it."""
        return self._run(
            WithdrawChallenge,
            recorded_by,
            partnership=partnership,
            challenge=challenge,
            by_agency=by_agency,
            reason=reason,
            source=source,
            occurred_at=occurred_at,
        )
