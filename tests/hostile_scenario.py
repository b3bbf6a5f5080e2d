"""The scenario every command's valid call is made on, and that valid call, per command.

A plain module (not a conftest) shared with ``hostile_support``. Every command and every
one of its parameters has a baseline here (a test in ``test_hostile_input.py`` fails for
one left out), so the sweep always starts from a call that would be accepted.
"""

from __future__ import annotations

import atexit
import base64
import copy
import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_scenario import CHILD, HEALTH, LA, LINKED, POLICE, SCHOOL, SIBLING, STAGES, T0

from ledger._signing import ServiceKeys
from ledger.application import Ledger
from ledger.signing import public_key_text
from runtime.agency_keys import write_key_file

__all__ = ["CASE", "PARTNERSHIP", "baseline", "has_baseline", "scenario"]

PARTNERSHIP: Final = "northshire"
CASE: Final = "c-1"
#: A third child token, linked to CHILD in the scenario so that it can be unlinked.
OTHER_TOKEN: Final = "ch_00000000000000000000000000000001"  # noqa: S105 - a child token


def _public(seed: bytes) -> str:
    """The public key of the Ed25519 key with ``seed``, as registered (a real key: a
    registration refuses any 32 bytes that are not one)."""
    raw = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    return base64.b64encode(raw).decode()


KEY: Final = _public(bytes(range(32)))
#: Police's key, held by the service for police (``custody: service``) and registered in
#: the scenario so that it can be revoked: police's key events need the signature of one of
#: its live keys (docs/proofs.md), which the service makes with this one.
_POLICE_PRIVATE: Final = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
POLICE_KEY: Final = public_key_text(_POLICE_PRIVATE)
#: Where an in-memory ledger (no agency key directory of its own) holds it.
_KEYS_DIR: Final = tempfile.TemporaryDirectory(prefix="ledger-scenario-keys-")
atexit.register(_KEYS_DIR.cleanup)


def _hold_police_key(ledger: Ledger) -> None:
    """Put police's key where ``ledger``'s service keeps agencies' keys."""
    if ledger._service_keys.root is None:  # the in-memory ledger has no key directory
        ledger._service_keys = ServiceKeys(Path(_KEYS_DIR.name))
    path = ledger._service_keys.path("police", "k-0")
    assert path is not None
    if not path.exists():
        write_key_file(path, _POLICE_PRIVATE)


# -- the scenario every baseline call is valid on ------------------------------------


def scenario(ledger: Ledger) -> dict[str, int]:
    """Partnership, case c-1, challenge d-1 and review r-1 where every baseline is valid.

    Returns the sequences a baseline needs (``"case_opened"``).
    """
    p = {"partnership": PARTNERSHIP}
    ledger.establish_partnership(
        **p, recorded_by=LA, name="Northshire", nation="england", escalation_stages=STAGES
    )
    kinds = {"la": "local_authority", "police": "police", "health": "health", "school": "school"}
    for agency in (LA, POLICE, HEALTH, SCHOOL):
        ledger.register_agency(
            **p,
            recorded_by=LA,
            agency=agency["agency"],
            name=agency["agency"].title(),
            kind=kinds[agency["agency"]],
            role="statutory_partner",
        )
    c = {**p, "case": CASE}
    opened = ledger.open_case(
        **c,
        recorded_by=LA,
        children=[{"child": CHILD, "age_band": "5_9"}, {"child": SIBLING, "age_band": "1_4"}],
    )
    for agency in ("police", "health"):
        ledger.join_case(**c, recorded_by=LA, agency=agency)
    ledger.link_child_identifier(
        **c, recorded_by=LA, child=CHILD, linked=OTHER_TOKEN, identifier_kind="upn"
    )
    ledger.request_information(**c, recorded_by=LA, request="rq-1", to_agency="health")
    ledger.raise_challenge(
        **p,
        challenge="d-1",
        recorded_by=LA,
        against_agency="health",
        matter="information_sharing",
        case=CASE,
        summary="Records withheld.",
    )
    r = {**p, "review": "r-1"}
    ledger.notify_serious_incident(
        **r,
        recorded_by=LA,
        child=CHILD,
        incident="serious_harm",
        became_aware_at=T0 - dt.timedelta(days=3),
        notified_panel_at=T0 - dt.timedelta(days=2),
        case=CASE,
    )
    for rec in ("rec-1", "rec-2"):
        ledger.issue_recommendation(
            **r,
            recorded_by=LA,
            recommendation=rec,
            owner="health",
            due=T0.date() + dt.timedelta(days=90),
            theme="information_sharing",
            text="Share records within 5 working days.",
        )
    ledger.accept_recommendation(**r, recorded_by=HEALTH, recommendation="rec-2")
    _hold_police_key(ledger)
    ledger.register_agency_key(
        **p,
        recorded_by=POLICE,
        agency="police",
        key_id="k-0",
        public_key=POLICE_KEY,
        custody="service",
    )
    return {"case_opened": opened.sequence}


_SOURCE: Final = {"kind": "meeting_minutes", "reference": "minute 4"}
_HOUR_AGO: Final = T0 - dt.timedelta(hours=1)

#: A valid call of every command on :func:`scenario`, with every parameter given.
_BASELINES: Final[dict[str, Callable[[dict[str, int]], dict[str, Any]]]] = {
    "establish_partnership": lambda _: {
        "partnership": "southshire",
        "recorded_by": LA,
        "name": "Southshire",
        "nation": "wales",
        "escalation_stages": [{"stage": 1, "title": "Managers", "response_working_days": 5}],
        "strategy_discussion_working_days": 3,
    },
    "register_agency": lambda _: {
        "recorded_by": LA,
        "agency": "housing",
        "name": "Housing",
        "kind": "housing",
        "role": "relevant_agency",
    },
    "register_agency_key": lambda _: {
        "recorded_by": LA,
        "agency": "la",
        "key_id": "k-1",
        "public_key": KEY,
        "algorithm": "ed25519",
        "custody": "agency",
    },
    "revoke_agency_key": lambda _: {
        "recorded_by": POLICE,
        "agency": "police",
        "key_id": "k-0",
        "reason": "rotated",
    },
    "require_signatures": lambda _: {
        "recorded_by": LA,
        "required_from": T0.date() + dt.timedelta(days=30),
    },
    "open_case": lambda _: {
        "case": "c-2",
        "recorded_by": LA,
        "children": [{"child": LINKED, "age_band": "unborn"}],
        "lead_agency": "la",
    },
    "link_child_identifier": lambda _: {
        "case": CASE,
        "recorded_by": LA,
        "child": CHILD,
        "linked": LINKED,
        "identifier_kind": "nhs_number",
        "reason": "Same NHS number.",
    },
    "unlink_child_identifier": lambda _: {
        "case": CASE,
        "recorded_by": LA,
        "child": CHILD,
        "linked": OTHER_TOKEN,
        "identifier_kind": "upn",
        "reason": "Temporary UPN was reissued.",
    },
    "record_unknown_identifier": lambda _: {
        "case": CASE,
        "recorded_by": LA,
        "child": SIBLING,
        "reason": "not_yet_issued",
    },
    "join_case": lambda _: {
        "case": CASE,
        "recorded_by": LA,
        "agency": "school",
        "role": "Designated lead",
    },
    "leave_case": lambda _: {
        "case": CASE,
        "recorded_by": LA,
        "agency": "police",
        "reason": "No further role.",
    },
    "record_action": lambda _: {
        "case": CASE,
        "recorded_by": LA,
        "action": "child_seen",
        "child": CHILD,
        "seen": True,
        "seen_alone": False,
        "outcome": "other",
        "note": "Seen at school.\nWell.",
    },
    "request_information": lambda _: {
        "case": CASE,
        "recorded_by": LA,
        "request": "rq-2",
        "to_agency": "police",
        "from_agency": "la",
        "due_by": T0 + dt.timedelta(days=10),
        "note": "Any call-outs?",
    },
    "provide_information": lambda _: {
        "case": CASE,
        "recorded_by": HEALTH,
        "request": "rq-1",
        "by_agency": "health",
        "note": "Records attached.",
    },
    "refuse_cooperation": lambda _: {
        "case": CASE,
        "recorded_by": HEALTH,
        "agency": "health",
        "kind": "information_withheld",
        "basis": "consent_not_given",
        "reason": "Parent refused consent.",
        "request": "rq-1",
    },
    "raise_concern": lambda _: {
        "case": CASE,
        "recorded_by": POLICE,
        "concern": "k-1",
        "kind": "neglect",
        "child": CHILD,
        "note": "Home conditions.",
    },
    "explain_late_recording": lambda seqs: {
        "case": CASE,
        "recorded_by": LA,
        "event_sequence": seqs["case_opened"],
        "reason": "System outage.",
    },
    "close_case": lambda _: {
        "case": CASE,
        "recorded_by": LA,
        "reason": "other",
        "note": "Moved on.",
    },
    "raise_challenge": lambda _: {
        "challenge": "d-2",
        "recorded_by": LA,
        "against_agency": "police",
        "matter": "attendance",
        "summary": "Did not attend.",
        "by_agency": "la",
        "case": CASE,
        "stage": 1,
    },
    "respond_to_challenge": lambda _: {
        "challenge": "d-1",
        "recorded_by": HEALTH,
        "stage": 1,
        "response": "Will share.",
        "by_agency": "health",
    },
    "escalate_challenge": lambda _: {
        "challenge": "d-1",
        "recorded_by": LA,
        "to_stage": 2,
        "by_agency": "la",
        "reason": "No answer.",
    },
    "resolve_challenge": lambda _: {
        "challenge": "d-1",
        "recorded_by": LA,
        "outcome": "upheld",
        "note": "Agreed.",
    },
    "withdraw_challenge": lambda _: {
        "challenge": "d-1",
        "recorded_by": LA,
        "by_agency": "la",
        "reason": "Resolved informally.",
    },
    "notify_serious_incident": lambda _: {
        "review": "r-2",
        "recorded_by": LA,
        "child": SIBLING,
        "incident": "death",
        "became_aware_at": T0 - dt.timedelta(days=2),
        "notified_panel_at": T0 - dt.timedelta(days=1),
        "case": CASE,
    },
    "complete_rapid_review": lambda _: {
        "review": "r-1",
        "recorded_by": LA,
        "completed_at": _HOUR_AGO,
        "decision": "local_review",
    },
    "commission_review": lambda _: {
        "review": "r-1",
        "recorded_by": LA,
        "level": "local",
        "commissioned_at": _HOUR_AGO,
    },
    "publish_review": lambda _: {
        "review": "r-1",
        "recorded_by": LA,
        "published_at": _HOUR_AGO,
        "title": "Child A",
    },
    "issue_recommendation": lambda _: {
        "review": "r-1",
        "recorded_by": LA,
        "recommendation": "rec-3",
        "owner": "police",
        "due": T0.date() + dt.timedelta(days=30),
        "theme": "escalation",
        "text": "Escalate within a week.",
    },
    "accept_recommendation": lambda _: {
        "review": "r-1",
        "recorded_by": HEALTH,
        "recommendation": "rec-1",
        "by_agency": "health",
    },
    "reject_recommendation": lambda _: {
        "review": "r-1",
        "recorded_by": HEALTH,
        "recommendation": "rec-1",
        "basis": "Already in place.",
        "by_agency": "health",
    },
    "report_recommendation_progress": lambda _: {
        "review": "r-1",
        "recorded_by": HEALTH,
        "recommendation": "rec-1",
        "status": "amber",
        "by_agency": "health",
        "note": "Half done.",
    },
    "implement_recommendation": lambda _: {
        "review": "r-1",
        "recorded_by": HEALTH,
        "recommendation": "rec-2",
        "by_agency": "health",
        "evidence": "Audit of 20 cases.",
    },
}


def has_baseline(command: str) -> bool:
    return command in _BASELINES


def baseline(command: str, sequences: dict[str, int]) -> dict[str, Any]:
    """A valid call of ``command`` on :func:`scenario`, every parameter given."""
    kwargs = {"partnership": PARTNERSHIP, "source": _SOURCE, "occurred_at": _HOUR_AGO}
    kwargs.update(copy.deepcopy(_BASELINES[command](sequences)))
    return kwargs
