"""Commands on a case: open it, manage its parties and child tokens, record its chronology.

Each method builds the command of the same name in :mod:`schemas.commands`
(``record_action`` builds ``RecordAction``) and executes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from ledger._commands._base import (
    DEFAULT_SOURCE,
    CommandBase,
    Opt,
    Receipt,
    RecordedByInput,
    SourceInput,
)
from schemas import ChildSubject
from schemas.commands import (
    CloseCase,
    ExplainLateRecording,
    JoinCase,
    LeaveCase,
    LinkChildIdentifier,
    OpenCase,
    ProvideInformation,
    RaiseConcern,
    RecordAction,
    RecordUnknownIdentifier,
    RefuseCooperation,
    RequestInformation,
    UnlinkChildIdentifier,
)

__all__ = ["CaseCommands"]

UNSET = msgspec.UNSET


class CaseCommands(CommandBase):
    """The case's commands, mixed into :class:`~ledger.application.Ledger`.

    Every command but :meth:`open_case` must be recorded by an agency party to the case.
    """

    def open_case(
        self,
        *,
        partnership: str,
        case: str,
        recorded_by: RecordedByInput,
        children: Sequence[ChildSubject | Mapping[str, Any]],
        lead_agency: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Open ``case`` about ``children``; the recording agency leads it (``lead_agency``)."""
        return self._run(
            OpenCase,
            recorded_by,
            partnership=partnership,
            case=case,
            children=children,
            lead_agency=lead_agency,
            source=source,
            occurred_at=occurred_at,
        )

    def link_child_identifier(
        self,
        *,
        partnership: str,
        case: str,
        recorded_by: RecordedByInput,
        child: str,
        linked: str,
        identifier_kind: str,
        reason: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Link the token ``linked`` to ``child`` of the case: both refer to the same child."""
        return self._run(
            LinkChildIdentifier,
            recorded_by,
            partnership=partnership,
            case=case,
            child=child,
            linked=linked,
            identifier_kind=identifier_kind,
            reason=reason,
            source=source,
            occurred_at=occurred_at,
        )

    def unlink_child_identifier(
        self,
        *,
        partnership: str,
        case: str,
        recorded_by: RecordedByInput,
        child: str,
        linked: str,
        identifier_kind: str,
        reason: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Remove a link between two child tokens that was found wrong."""
        return self._run(
            UnlinkChildIdentifier,
            recorded_by,
            partnership=partnership,
            case=case,
            child=child,
            linked=linked,
            identifier_kind=identifier_kind,
            reason=reason,
            source=source,
            occurred_at=occurred_at,
        )

    def record_unknown_identifier(
        self,
        *,
        partnership: str,
        case: str,
        recorded_by: RecordedByInput,
        child: str,
        reason: str,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Record that ``child`` has no consistent identifier yet, and why."""
        return self._run(
            RecordUnknownIdentifier,
            recorded_by,
            partnership=partnership,
            case=case,
            child=child,
            reason=reason,
            source=source,
            occurred_at=occurred_at,
        )

    def join_case(
        self,
        *,
        partnership: str,
        case: str,
        recorded_by: RecordedByInput,
        agency: str,
        role: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Make the registered ``agency`` a party to the case."""
        return self._run(
            JoinCase,
            recorded_by,
            partnership=partnership,
            case=case,
            agency=agency,
            role=role,
            source=source,
            occurred_at=occurred_at,
        )

    def leave_case(
        self,
        *,
        partnership: str,
        case: str,
        recorded_by: RecordedByInput,
        agency: str,
        reason: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Record that ``agency`` is no longer a party to the case (never its lead)."""
        return self._run(
            LeaveCase,
            recorded_by,
            partnership=partnership,
            case=case,
            agency=agency,
            reason=reason,
            source=source,
            occurred_at=occurred_at,
        )

    def record_action(
        self,
        *,
        partnership: str,
        case: str,
        recorded_by: RecordedByInput,
        action: str,
        child: Opt[str] = UNSET,
        seen: Opt[bool] = UNSET,
        seen_alone: Opt[bool] = UNSET,
        outcome: Opt[str] = UNSET,
        note: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Record an ``action`` the recording agency took on the case."""
        return self._run(
            RecordAction,
            recorded_by,
            partnership=partnership,
            case=case,
            action=action,
            child=child,
            seen=seen,
            seen_alone=seen_alone,
            outcome=outcome,
            note=note,
            source=source,
            occurred_at=occurred_at,
        )

    def request_information(
        self,
        *,
        partnership: str,
        case: str,
        recorded_by: RecordedByInput,
        request: str,
        to_agency: str,
        from_agency: Opt[str] = UNSET,
        due_by: Opt[datetime] = UNSET,
        note: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Ask ``to_agency`` for information (``from_agency`` defaults to the recording agency)."""
        return self._run(
            RequestInformation,
            recorded_by,
            partnership=partnership,
            case=case,
            request=request,
            to_agency=to_agency,
            from_agency=from_agency,
            due_by=due_by,
            note=note,
            source=source,
            occurred_at=occurred_at,
        )

    def provide_information(
        self,
        *,
        partnership: str,
        case: str,
        recorded_by: RecordedByInput,
        request: str,
        by_agency: Opt[str] = UNSET,
        note: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Answer the open ``request`` (``by_agency``, its addressee, defaults to the recorder)."""
        return self._run(
            ProvideInformation,
            recorded_by,
            partnership=partnership,
            case=case,
            request=request,
            by_agency=by_agency,
            note=note,
            source=source,
            occurred_at=occurred_at,
        )

    def refuse_cooperation(
        self,
        *,
        partnership: str,
        case: str,
        recorded_by: RecordedByInput,
        agency: str,
        kind: str,
        basis: str,
        reason: Opt[str] = UNSET,
        request: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Record that the party ``agency`` did not cooperate, how, and on what stated basis."""
        return self._run(
            RefuseCooperation,
            recorded_by,
            partnership=partnership,
            case=case,
            agency=agency,
            kind=kind,
            basis=basis,
            reason=reason,
            request=request,
            source=source,
            occurred_at=occurred_at,
        )

    def raise_concern(
        self,
        *,
        partnership: str,
        case: str,
        recorded_by: RecordedByInput,
        concern: str,
        kind: str,
        child: Opt[str] = UNSET,
        note: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Raise a concern of harm (``kind``) about the case or one of its children."""
        return self._run(
            RaiseConcern,
            recorded_by,
            partnership=partnership,
            case=case,
            concern=concern,
            kind=kind,
            child=child,
            note=note,
            source=source,
            occurred_at=occurred_at,
        )

    def explain_late_recording(
        self,
        *,
        partnership: str,
        case: str,
        recorded_by: RecordedByInput,
        event_sequence: int,
        reason: str,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Give the reason the event at stream sequence ``event_sequence`` was recorded late."""
        return self._run(
            ExplainLateRecording,
            recorded_by,
            partnership=partnership,
            case=case,
            event_sequence=event_sequence,
            reason=reason,
            source=source,
            occurred_at=occurred_at,
        )

    def close_case(
        self,
        *,
        partnership: str,
        case: str,
        recorded_by: RecordedByInput,
        reason: str,
        note: Opt[str] = UNSET,
        source: SourceInput = DEFAULT_SOURCE,
        occurred_at: datetime | None = None,
    ) -> Receipt:
        """Close the case; nothing more is recorded on it."""
        return self._run(
            CloseCase,
            recorded_by,
            partnership=partnership,
            case=case,
            reason=reason,
            note=note,
            source=source,
            occurred_at=occurred_at,
        )
