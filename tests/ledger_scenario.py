"""The demo scenario the unit tests share: ids, agencies, a fixed clock, helpers and fakes.

A plain module (not a conftest) so that test modules can import its names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from ledger.application import Ledger, Receipt
from ledger.signing import sign_command
from schemas.commands import RevokeAgencyKey

PARTNERSHIP = "northshire"
CASE = "c-1"
#: Pseudonymous child tokens: what a keyed hash of an NHS number looks like.
CHILD = "ch_0123456789abcdef"
SIBLING = "ch_fedcba9876543210"
LINKED = "ch_00112233445566778899aabbccddeeff"

LA = {"agency": "la", "actor": "act_sw00042"}
POLICE = {"agency": "police", "actor": "act_pc01234"}
HEALTH = {"agency": "health", "actor": "act_hv00777"}
SCHOOL = {"agency": "school", "actor": "act_dsl0001"}

STAGES = [
    {"stage": 1, "title": "Practitioner to practitioner", "response_working_days": 5},
    {"stage": 2, "title": "Team managers", "response_working_days": 5},
    {"stage": 3, "title": "Heads of service", "response_working_days": 10},
]

#: Monday 2 March 2026, 09:00 UTC.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FixedClock:
    """A clock that says what it is told; ``advance`` moves it on."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


#: The ``rejected`` fixture: ``with rejected(RuleViolation, field="agency"): ...``
Rejected = Callable[..., AbstractContextManager[pytest.ExceptionInfo[Exception]]]


def written(ledger: Ledger) -> int:
    """How many events the ledger's recorder holds."""
    return ledger.recorder.max_notification_id() or 0


def establish(ledger: Ledger, *agencies: dict[str, str]) -> None:
    """Establish the demo partnership and register ``agencies`` (la, police, health by default)."""
    ledger.establish_partnership(
        partnership=PARTNERSHIP,
        recorded_by=LA,
        name="Northshire Safeguarding Children Partnership",
        nation="england",
        escalation_stages=STAGES,
    )
    kinds = {"la": "local_authority", "police": "police", "health": "health", "school": "school"}
    for agency in agencies or (LA, POLICE, HEALTH):
        ledger.register_agency(
            partnership=PARTNERSHIP,
            recorded_by=LA,
            agency=agency["agency"],
            name=agency["agency"].title(),
            kind=kinds[agency["agency"]],
            role="statutory_partner",
        )


def command(ledger: Ledger, name: str, /, **kwargs: Any) -> Any:
    """Call the command ``name`` on ``ledger`` in the demo partnership."""
    return getattr(ledger, name)(partnership=PARTNERSHIP, **kwargs)


class FakeRecorder(POPOApplicationRecorder):
    """An in-memory recorder that counts reads and can run a hook or fail before a write."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.before_next_write: list[Callable[[], None]] = []
        self.failure: Exception | None = None

    def select_events(self, *args: Any, **kwargs: Any) -> list[StoredEvent]:
        self.reads += 1
        return super().select_events(*args, **kwargs)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        if self.before_next_write:
            self.before_next_write.pop(0)()
        if self.failure is not None:
            raise self.failure
        return super().insert_events(stored_events, **kwargs)


class LedgerOn(Ledger):
    """A ledger on a given recorder: another process sharing the same stream."""

    def __init__(self, recorder: ApplicationRecorder, clock: FixedClock) -> None:
        self._given_recorder = recorder
        super().__init__(clock=clock)

    def construct_recorder(self) -> ApplicationRecorder:
        return self._given_recorder


def revoke_signed(
    ledger: Ledger,
    who: dict[str, str],
    key_id: str,
    key: Ed25519PrivateKey,
    *,
    by_id: str | None = None,
    reason: str = "compromised",
    partnership: str = PARTNERSHIP,
    prefix: str = "ledger",
) -> Receipt:
    """Revoke ``who``'s key ``key_id``, signed by its live key ``by_id`` (``key_id`` itself by
    default) held in ``key``: an agency's key events need one of its live keys' signature
    (docs/proofs.md, "Who may register and revoke an agency's keys")."""
    command = RevokeAgencyKey(
        partnership=partnership,
        agency=who["agency"],
        key_id=key_id,
        reason=reason,  # type: ignore[arg-type]
        occurred_at=T0 - timedelta(hours=1),
    )
    signature = sign_command(command, who, key, by_id or key_id, prefix=prefix)
    return ledger.execute(command, recorded_by=who, signature=signature)
