"""The three partnerships and their agencies, and the steps that set them up."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.synthetic._step import _SOURCES, _actor, _Step

#: The key id the generator registers for the statutory partners' keys.
SYNTHETIC_KEY_ID: Final = "k1"


def synthetic_agency_key(agency: str) -> Ed25519PrivateKey:
    """The key the generator registers as ``agency``'s :data:`SYNTHETIC_KEY_ID`: derived from
    the agency's id (SHA-256), so anyone can make it. Synthetic data only: it lets the demo
    sign that agency's later key events (``runtime.demo_partnership``)."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(agency.encode()).digest())


_SETUP_AT: Final = datetime(2023, 11, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class _Partnership:
    ident: str
    name: str
    nation: str
    stage_days: tuple[int, ...]
    strategy_days: int
    weight: float
    agencies: tuple[tuple[str, str, str, str], ...]  # (id, kind, role, name)
    by_kind: Mapping[str, tuple[str, ...]]

    @property
    def csc(self) -> str:
        return self.by_kind["csc"][0]


_PARTNERSHIPS: Final = (
    ("northvale", "Northvale Safeguarding Children Partnership", "england", (5, 5, 10), 0.45),
    ("southmere", "Southmere Safeguarding Children Partnership", "england", (5, 5, 10), 0.35),
    ("glanrhyd", "Glanrhyd Regional Safeguarding Children Board", "wales", (5, 5, 10, 10), 0.2),
)
#: group, kind, role, name, (fewest, most)
_AGENCY_MIX: Final = (
    ("csc", "local_authority", "statutory_partner", "Children's Social Care", (1, 1)),
    ("police", "police", "statutory_partner", "Police", (1, 1)),
    ("icb", "health", "statutory_partner", "Health Board", (1, 1)),
    ("trust", "health", "relevant_agency", "NHS Trust", (2, 4)),
    ("gp", "health", "relevant_agency", "GP Practice", (2, 6)),
    ("school", "school", "relevant_agency", "School", (14, 30)),
    ("probation", "probation", "relevant_agency", "Probation Service", (1, 1)),
    ("housing", "housing", "relevant_agency", "Housing Provider", (2, 4)),
    ("vcs", "voluntary", "relevant_agency", "Voluntary Organisation", (3, 8)),
    ("edu", "local_authority", "relevant_agency", "Education Services", (1, 1)),
    ("yjs", "other", "relevant_agency", "Youth Justice Service", (1, 1)),
)
_STAGE_TITLES: Final = ("Practitioners", "Team managers", "Heads of service", "Directors")


def _partnerships(seed: int) -> tuple[_Partnership, ...]:
    rng = random.Random(f"{seed}/partnerships")
    out = []
    for ident, name, nation, stage_days, weight in _PARTNERSHIPS:
        place = name.split()[0]
        agencies: list[tuple[str, str, str, str]] = []
        by_kind: dict[str, tuple[str, ...]] = {}
        for group, kind, role, label, (low, high) in _AGENCY_MIX:
            count = rng.randint(low, high)
            ids = tuple(
                f"{ident}-{group}" if high == 1 else f"{ident}-{group}-{n:02d}"
                for n in range(1, count + 1)
            )
            by_kind[group] = ids
            for n, agency in enumerate(ids, 1):
                title = f"{place} {label}" if high == 1 else f"{place} {label} {n:02d}"
                agencies.append((agency, kind, role, title))
        out.append(
            _Partnership(ident, name, nation, stage_days, 3, weight, tuple(agencies), by_kind)
        )
    return tuple(out)


def _setup_steps(partnerships: Sequence[_Partnership]) -> list[_Step]:
    steps: list[_Step] = []
    at = _SETUP_AT

    def add(command: str, by: str, **kwargs: Any) -> None:
        nonlocal at
        at += timedelta(minutes=7)
        kwargs.update(recorded_by=_actor(by, 0), source=_SOURCES["system"])
        steps.append(_Step(len(steps), "setup", command, at, kwargs, (), False, False, at))

    for p in partnerships:
        stages = [
            {"stage": n, "title": _STAGE_TITLES[n - 1], "response_working_days": days}
            for n, days in enumerate(p.stage_days, 1)
        ]
        add(
            "establish_partnership",
            p.csc,
            partnership=p.ident,
            name=p.name,
            nation=p.nation,
            escalation_stages=stages,
            strategy_discussion_working_days=p.strategy_days,
        )
        for agency, kind, role, name in p.agencies:
            add(
                "register_agency",
                p.csc,
                partnership=p.ident,
                agency=agency,
                name=name,
                kind=kind,
                role=role,
            )
        for agency in (p.csc, p.by_kind["police"][0], p.by_kind["icb"][0]):
            # A real public key, as registration demands; the generator signs nothing with it.
            raw = synthetic_agency_key(agency).public_key().public_bytes_raw()
            key = base64.b64encode(raw).decode()
            add(
                "register_agency_key",
                agency,
                partnership=p.ident,
                agency=agency,
                key_id=SYNTHETIC_KEY_ID,
                public_key=key,
            )
    return steps
