"""Commands on a challenge: raise it, respond, escalate, resolve or withdraw it."""

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
    or_recorder,
)
from schemas import (
    ChallengeEscalated,
    ChallengeRaised,
    ChallengeResolved,
    ChallengeResponded,
    ChallengeWithdrawn,
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
        return self._submit(
            ChallengeRaised,
            partnership,
            challenge,
            recorded_by,
            source,
            occurred_at,
            by_agency=or_recorder(by_agency, recorded_by),
            against_agency=against_agency,
            matter=matter,
            case=case,
            stage=stage,
            summary=summary,
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
        return self._submit(
            ChallengeResponded,
            partnership,
            challenge,
            recorded_by,
            source,
            occurred_at,
            by_agency=or_recorder(by_agency, recorded_by),
            stage=stage,
            response=response,
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
        return self._submit(
            ChallengeEscalated,
            partnership,
            challenge,
            recorded_by,
            source,
            occurred_at,
            to_stage=to_stage,
            by_agency=or_recorder(by_agency, recorded_by),
            reason=reason,
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
        return self._submit(
            ChallengeResolved,
            partnership,
            challenge,
            recorded_by,
            source,
            occurred_at,
            outcome=outcome,
            note=note,
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
        return self._submit(
            ChallengeWithdrawn,
            partnership,
            challenge,
            recorded_by,
            source,
            occurred_at,
            by_agency=or_recorder(by_agency, recorded_by),
            reason=reason,
        )
