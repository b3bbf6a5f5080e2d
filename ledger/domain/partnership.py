"""The partnership aggregate: a safeguarding partnership, its agencies and their keys.

The key state (each agency's keys, who holds them, which are revoked) and the date from
which signatures are required are what the write path checks a command's signature
against (``ledger/_signing.py``).

Every other aggregate asks the partnership whether an agency is registered and
which escalation stages exist, so this aggregate answers those questions cheaply
(dict and set look-ups) and keeps nothing else.
"""

from __future__ import annotations

import base64
from datetime import date
from typing import Any, Final, Literal, NamedTuple, cast

from ledger._aggregate import LedgerAggregate, register_aggregate
from ledger.domain._rules import Rule, check_occurred_at, violation
from ledger.errors import InvalidCommand
from ledger.proofs.ed25519 import public_key_problem
from schemas import (
    AgencyKeyRegistered,
    AgencyKeyRevoked,
    AgencyKind,
    AgencyRegistered,
    AgencyRole,
    Nation,
    PartnershipEstablished,
    SignaturesRequired,
    tag_of,
)
from schemas import Event as Fact

__all__ = ["AgencyEntry", "AgencyKey", "Partnership", "check_public_key"]

STAGES_IN_ORDER: Final = Rule(
    "stages_in_order", "escalation stages are numbered 1, 2, 3 ... in order, each once"
)
UNIQUE_AGENCY: Final = Rule("unique_agency", "agency ids are unique within a partnership")
ESTABLISHED_ONCE: Final = Rule("established_once", "a partnership is established once")
AGENCY_REGISTERED: Final = Rule(
    "agency_registered", "an agency must be registered in the partnership before it takes part"
)
OWN_KEYS: Final = Rule("own_keys", "an agency registers its own keys")
UNIQUE_KEY: Final = Rule("unique_key", "an agency's key ids are unique")
UNIQUE_PUBLIC_KEY: Final = Rule(
    "unique_public_key", "a public key is registered once in a partnership, for one agency"
)
VALID_PUBLIC_KEY: Final = Rule(
    "valid_public_key",
    "a public key is the canonical encoding of an Ed25519 point of prime order, as every "
    "verifier demands (docs/proofs.md, 'Ed25519')",
)
KNOWN_KEY: Final = Rule("known_key", "a key is registered before it is revoked")
REVOKED_ONCE: Final = Rule("revoked_once", "a revoked key stays revoked and is revoked once")
NEVER_RELAXED: Final = Rule(
    "signatures_never_relaxed",
    "once signatures are required from a date, a later requirement may only bring it forward",
)


class AgencyEntry(NamedTuple):
    """What the partnership knows about a registered agency."""

    kind: AgencyKind
    role: AgencyRole


class AgencyKey(NamedTuple):
    """A registered key of an agency: its public key, who holds the private key, revoked?"""

    public_key: str
    custody: Literal["agency", "service"]
    revoked: bool = False


@register_aggregate
class Partnership(LedgerAggregate):
    """A safeguarding partnership: nation, escalation stages, registered agencies."""

    KIND = "partnership"

    def __init__(self) -> None:
        self.nation: Nation | None = None
        #: stage number -> response time in working days
        self.stages: dict[int, int] = {}
        self.strategy_discussion_working_days: int = 0
        self.agencies: dict[str, AgencyEntry] = {}
        #: agency id -> key id -> the key (revoked keys stay, marked)
        self.keys: dict[str, dict[str, AgencyKey]] = {}
        #: signatures are required on events recorded on or after this date
        self.signatures_from: date | None = None

    # -- queries other aggregates use ------------------------------------------------

    @property
    def max_stage(self) -> int:
        """The last escalation stage."""
        return max(self.stages, default=0)

    def is_registered(self, agency: str) -> bool:
        """Whether ``agency`` is registered with this partnership."""
        return agency in self.agencies

    def require_registered(self, field: str, agency: str, rule: Rule = AGENCY_REGISTERED) -> None:
        """Raise a ``RuleViolation`` on ``field`` unless ``agency`` is registered."""
        if agency not in self.agencies:
            raise violation(
                field, f"'{agency}' is not registered in partnership '{self.ident}'", rule
            )

    def key(self, agency: str, key_id: str) -> AgencyKey | None:
        """Key ``key_id`` of ``agency`` (revoked or not), or ``None`` if it was never registered."""
        return self.keys.get(agency, {}).get(key_id)

    def live_keys(self, agency: str) -> list[str]:
        """The ids of ``agency``'s keys that are not revoked, in registration order."""
        return [k for k, v in self.keys.get(agency, {}).items() if not v.revoked]

    def service_key(self, agency: str) -> str | None:
        """The id of a non-revoked key the service holds for ``agency`` (the latest registered)."""
        held = [k for k, v in self.keys.get(agency, {}).items() if v.custody == "service"]
        live = [k for k in held if not self.keys[agency][k].revoked]
        return live[-1] if live else None

    def signatures_required(self, on: date) -> bool:
        """Whether an event recorded on ``on`` must be signed by its agency."""
        return self.signatures_from is not None and on >= self.signatures_from

    # -- commands --------------------------------------------------------------------

    @classmethod
    def establish(cls, ident: str, fact: PartnershipEstablished) -> Partnership:
        """Check the opening fact and create the partnership ``ident`` (an aggregate id)."""
        cls.check_opening(fact)
        return cast(Partnership, cls.open(ident, fact))

    @staticmethod
    def check_opening(fact: PartnershipEstablished) -> None:
        """The rules a new partnership obeys."""
        check_occurred_at(fact)
        numbers = [stage.stage for stage in fact.escalation_stages]
        if numbers != list(range(1, len(numbers) + 1)):
            listed = ", ".join(str(n) for n in numbers)
            raise violation("escalation_stages", f"are numbered {listed}", STAGES_IN_ORDER)

    def handle(self, fact: Fact) -> None:
        """Check ``fact`` against the partnership's rules, then record it."""
        self.check(fact)
        self.record(fact)

    def check(self, fact: Fact) -> None:
        """Raise a :class:`~ledger.errors.RuleViolation` if ``fact`` may not be recorded now."""
        check_occurred_at(fact)
        match fact:
            case PartnershipEstablished():
                raise violation(
                    "partnership", f"'{self.ident}' is already established", ESTABLISHED_ONCE
                )
            case AgencyRegistered():
                if fact.agency in self.agencies:
                    raise violation(
                        "agency",
                        f"'{fact.agency}' is already registered in partnership '{self.ident}'",
                        UNIQUE_AGENCY,
                    )
            case AgencyKeyRegistered():
                self.require_registered("agency", fact.agency)
                if fact.recorded_by.agency != fact.agency:
                    raise violation(
                        "recorded_by.agency",
                        f"'{fact.recorded_by.agency}' is not the key's agency '{fact.agency}'",
                        OWN_KEYS,
                    )
                if fact.key_id in self.keys.get(fact.agency, ()):
                    raise violation(
                        "key_id",
                        f"'{fact.key_id}' is already registered for agency '{fact.agency}'",
                        UNIQUE_KEY,
                    )
                if any(
                    k.public_key == fact.public_key
                    for ks in self.keys.values()
                    for k in ks.values()
                ):
                    raise violation(
                        "public_key",
                        f"is already registered in partnership '{self.ident}'",
                        UNIQUE_PUBLIC_KEY,
                    )
                check_public_key(fact)
            case AgencyKeyRevoked():
                self.require_registered("agency", fact.agency)
                if fact.recorded_by.agency != fact.agency:
                    raise violation(
                        "recorded_by.agency",
                        f"'{fact.recorded_by.agency}' is not the key's agency '{fact.agency}'",
                        OWN_KEYS,
                    )
                key = self.key(fact.agency, fact.key_id)
                if key is None:
                    raise violation(
                        "key_id",
                        f"'{fact.key_id}' is not a registered key of agency '{fact.agency}'",
                        KNOWN_KEY,
                    )
                if key.revoked:
                    raise violation(
                        "key_id",
                        f"'{fact.key_id}' of agency '{fact.agency}' is already revoked",
                        REVOKED_ONCE,
                    )
            case SignaturesRequired():
                if self.signatures_from is not None and fact.required_from > self.signatures_from:
                    raise violation(
                        "required_from",
                        f"{fact.required_from} is later than {self.signatures_from}, from "
                        "which signatures are already required",
                        NEVER_RELAXED,
                    )
            case _:
                raise InvalidCommand(
                    f"type '{tag_of(type(fact))}' is not an event of a partnership", field="type"
                )

    # -- state -----------------------------------------------------------------------

    def when(self, fact: Fact) -> None:
        match fact:
            case PartnershipEstablished():
                self.nation = fact.nation
                self.stages = {s.stage: s.response_working_days for s in fact.escalation_stages}
                self.strategy_discussion_working_days = fact.strategy_discussion_working_days
            case AgencyRegistered():
                self.agencies[fact.agency] = AgencyEntry(fact.kind, fact.role)
            case AgencyKeyRegistered():
                self.keys.setdefault(fact.agency, {})[fact.key_id] = AgencyKey(
                    fact.public_key, fact.custody
                )
            case AgencyKeyRevoked():
                found = self.keys[fact.agency][fact.key_id]
                self.keys[fact.agency][fact.key_id] = found._replace(revoked=True)
            case SignaturesRequired():
                self.signatures_from = fact.required_from
            case _:
                pass

    def state(self) -> dict[str, Any]:
        """The aggregate's state as plain data, to compare a live aggregate with a replayed one."""
        return {
            "version": self.version,
            "nation": self.nation,
            "stages": dict(self.stages),
            "strategy_discussion_working_days": self.strategy_discussion_working_days,
            "agencies": {a: (e.kind, e.role) for a, e in self.agencies.items()},
            "keys": {a: dict(sorted(k.items())) for a, k in self.keys.items()},
            "signatures_from": self.signatures_from,
        }


def check_public_key(fact: AgencyKeyRegistered) -> None:
    """Refuse a public key that no signature could verify with, or that a verifier would
    refuse to register (:func:`ledger.proofs.ed25519.public_key_problem`): the write path
    asks before it verifies anything with the key, and :meth:`Partnership.check` again."""
    try:
        raw = base64.b64decode(fact.public_key, validate=True)
    except ValueError:  # binascii.Error; the schema's pattern admits only base64 of 32 bytes
        raw = b""
    problem = public_key_problem(raw)
    if problem is not None:
        raise violation("public_key", problem, VALID_PUBLIC_KEY)
