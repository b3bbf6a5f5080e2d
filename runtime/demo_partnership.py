"""``ledger serve --demo``: a synthetic partnership on the ledger, and one token per role.

:func:`load_demo` writes :data:`DEMO_EVENTS` events of the seeded synthetic partnership
(:mod:`runtime.synthetic`: three partnerships, their agencies, cases, challenges and
reviews, recorded on a simulated 2024-2025 timeline) through the real commands, unless the
ledger holds the demo partnership already: a second ``--demo`` on the same data dir loads
nothing. (A load that was interrupted is not resumed: the ledger keeps what was recorded.)

The demo asks for a serious incident every :data:`DEMO_REVIEWS_EVERY` units instead of the
generator's one in 120, so that :data:`DEMO_PARTNERSHIP` has reviews of its own: with
seed :data:`DEMO_SEED` and :data:`DEMO_EVENTS` events it holds four serious incidents,
three reviews published (October 2024, April and July 2025, so themes recur across
years) and their recommendations, besides its cases, challenges and opt-outs. The seed
was chosen for that: every dashboard question has rows for it, as of the timeline's
last day (``tests/system/test_demo_partnership.py`` holds it to that).

:func:`delegate_demo_keys` gives every agency of :data:`DEMO_PARTNERSHIP` a key the
service holds on its behalf (``custody: service``, docs/proofs.md), registered once (an
agency holding the generator's key authorises it with that key): from then on what the demo
tokens record is signed, as a partnership that delegated signing would have it. (The
synthetic history itself, recorded before, is unsigned.)

:func:`demo_tokens` issues one API token per role for the partnership
:data:`DEMO_PARTNERSHIP`, each agency, board and admin token bound to an agency the
partnership registered and a demo actor, and keeps them in ``<data dir>/demo-tokens.json``
(mode 0600) so that a second run prints the same tokens; a token revoked since is
replaced. These are demonstration credentials: revoke them (``ledger token revoke``) on a
ledger that holds real records.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import msgspec

from ledger.application import Ledger
from ledger.errors import AggregateNotFound
from ledger.private_files import write_private
from ledger.signing import load_private_key, public_key_text, sign_command
from runtime.agency_keys import service_key_path, write_service_key
from runtime.bootstrap import Running
from runtime.settings import Settings
from runtime.synthetic import (
    SYNTHETIC_KEY_ID,
    GeneratedSummary,
    SimulatedClock,
    generate,
    synthetic_agency_key,
)
from runtime.tokens import InvalidToken, Role, TokenStore
from schemas import RecordedBy
from schemas.commands import RegisterAgencyKey

__all__ = [
    "DEMO_EVENTS",
    "DEMO_KEY_ID",
    "DEMO_PARTNERSHIP",
    "DEMO_TOKENS_FILE",
    "delegate_demo_keys",
    "demo_loaded",
    "demo_tokens",
    "load_demo",
]

#: Events the demo writes: a few thousand (some 80 cases, challenges, published reviews).
DEMO_EVENTS: Final = 3_000
DEMO_SEED: Final = 15
#: A serious incident on every 20th unit of work: with this seed, four fall in northvale.
DEMO_REVIEWS_EVERY: Final = 20
#: The synthetic partnership the demo tokens are for (the largest of the three).
DEMO_PARTNERSHIP: Final = "northvale"
DEMO_TOKENS_FILE: Final = "demo-tokens.json"
#: The id of the key the service holds for each demo agency, and who registers it.
DEMO_KEY_ID: Final = "demo-service-1"
DEMO_KEYS_ACTOR: Final = "act_demo-keys"
#: Role -> (agency, actor) it records as: children's social care leads every case.
_BOUND: Final[dict[Role, tuple[str | None, str | None]]] = {
    Role.ADMIN: (f"{DEMO_PARTNERSHIP}-csc", "act_demo-admin"),
    Role.BOARD: (f"{DEMO_PARTNERSHIP}-csc", "act_demo-board"),
    Role.AGENCY: (f"{DEMO_PARTNERSHIP}-csc", "act_demo-agency"),
    Role.INSPECTOR: (None, None),
}


class _DemoTokens(msgspec.Struct, kw_only=True):
    partnership: str
    tokens: dict[Role, str]


def demo_loaded(ledger: Ledger) -> bool:
    """True when the ledger holds the demo partnership already."""
    with contextlib.suppress(AggregateNotFound):
        ledger.get_partnership(DEMO_PARTNERSHIP)
        return True
    return False


def load_demo(
    running: Running,
    settings: Settings,
    *,
    events: int = DEMO_EVENTS,
    workers: int = 4,
    progress: Callable[[int], None] | None = None,
) -> GeneratedSummary | None:
    """Write the synthetic partnership (``events`` events) on ``running``'s stream, unless
    it is there already (then None). ``progress(n)`` is called as each ``n`` more are written.

    The events go through a second :class:`Ledger` on the same server and login, whose
    clock is the generator's simulated one (their ``recorded_at`` lie in 2024-2025).
    """
    if demo_loaded(running.ledger):
        return None
    url = (
        running.nats_url
        if running.credentials is None
        else running.credentials.url(running.nats_url)
    )
    clock = SimulatedClock()
    ledger = Ledger(
        env=settings.persistence_env(url, create_stream=running.credentials is None),
        clock=clock,
    )
    try:
        return generate(
            ledger,
            clock=clock,
            events=events,
            seed=DEMO_SEED,
            reviews_every=DEMO_REVIEWS_EVERY,
            workers=workers,
            progress=progress,
        )
    finally:
        ledger.close()


def delegate_demo_keys(ledger: Ledger, keys_dir: Path) -> list[str]:
    """Register a service-held key (:data:`DEMO_KEY_ID`) for every agency of
    :data:`DEMO_PARTNERSHIP` that has none; the agencies it registered one for.

    An agency with a key of its own already (the generator's :data:`SYNTHETIC_KEY_ID`,
    whose private half the generator derives from the agency's id) authorises the
    registration with it, as any later key event must be (docs/proofs.md, "Who may
    register and revoke an agency's keys"); an agency with any other live key is left as
    it is: the demo cannot sign for it.
    """
    partnership = ledger.get_partnership(DEMO_PARTNERSHIP)
    delegated: list[str] = []
    for agency in sorted(partnership.agencies):
        keys = partnership.keys.get(agency, {})
        if DEMO_KEY_ID in keys:
            continue
        own = synthetic_agency_key(agency)
        live = {key_id for key_id, key in keys.items() if not key.revoked}
        if live and (
            live != {SYNTHETIC_KEY_ID} or keys[SYNTHETIC_KEY_ID].public_key != public_key_text(own)
        ):
            continue
        path = service_key_path(keys_dir, agency, DEMO_KEY_ID)
        # a load stopped between writing the key and registering it left the file
        held = (
            load_private_key(path)
            if path.exists()
            else write_service_key(keys_dir, agency, DEMO_KEY_ID)
        )
        recorded_by = RecordedBy(agency=agency, actor=DEMO_KEYS_ACTOR)
        command = RegisterAgencyKey(
            partnership=DEMO_PARTNERSHIP,
            agency=agency,
            key_id=DEMO_KEY_ID,
            public_key=public_key_text(held),
            custody="service",
            occurred_at=datetime.now(UTC),  # a signed command states it
        )
        signature = (
            sign_command(command, recorded_by, own, SYNTHETIC_KEY_ID, prefix=ledger.subject_prefix)
            if live
            else None
        )
        ledger.execute(command, recorded_by=recorded_by, signature=signature)
        delegated.append(agency)
    return delegated


def demo_tokens(data_dir: Path, store: TokenStore) -> dict[Role, str]:
    """One valid token per role for :data:`DEMO_PARTNERSHIP`: those kept in
    ``demo-tokens.json`` that still authenticate, and new ones for the rest."""
    path = Path(data_dir) / DEMO_TOKENS_FILE
    kept: dict[Role, str] = {}
    with contextlib.suppress(OSError, msgspec.DecodeError):
        kept = msgspec.json.decode(path.read_bytes(), type=_DemoTokens).tokens
    tokens: dict[Role, str] = {}
    for role, (agency, actor) in _BOUND.items():
        token = kept.get(role)
        if token is not None:
            try:
                store.authenticate(token)
            except InvalidToken:
                token = None
        if token is None:
            token, _ = store.issue(role, DEMO_PARTNERSHIP, agency=agency, actor=actor)
        tokens[role] = token
    if tokens != kept:
        document = _DemoTokens(partnership=DEMO_PARTNERSHIP, tokens=tokens)
        write_private(path, msgspec.json.encode(document))
    return tokens
