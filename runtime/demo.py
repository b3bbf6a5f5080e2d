"""The demonstration scenario that ``make run`` records.

A referral to children's social care, a request to the police for information
that the police refuse, a challenge from the local authority against that
refusal, escalated to stage 2, answered and resolved. Every id is pseudonymous;
the case id carries the time so that each run records a new case on the same
data dir, next to the earlier ones.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.table import Table

from ledger.application import Ledger, Receipt
from ledger.errors import AggregateNotFound
from runtime.bootstrap import Running

__all__ = ["print_summary", "run_scenario"]

PARTNERSHIP = "northshire"
LA = "northshire-csc"
POLICE = "northshire-police"
HEALTH = "northshire-icb"
SW = {"agency": LA, "actor": "act_sw-4821"}
OFFICER = {"agency": POLICE, "actor": "act_pc-0193"}
CHILD = "ch_5f2c9a7e1b3d4f60a8c2e9b7d1f3a5c7"


def _ensure_partnership(ledger: Ledger) -> list[Receipt]:
    try:
        ledger.get_partnership(PARTNERSHIP)
    except AggregateNotFound:
        pass
    else:
        return []
    receipts = [
        ledger.establish_partnership(
            partnership=PARTNERSHIP,
            recorded_by=SW,
            name="Northshire Safeguarding Children Partnership",
            nation="england",
            escalation_stages=[
                {"stage": 1, "title": "Practitioner to practitioner", "response_working_days": 5},
                {"stage": 2, "title": "Team managers", "response_working_days": 5},
                {"stage": 3, "title": "Heads of service", "response_working_days": 10},
            ],
        )
    ]
    for agency, kind, name in (
        (LA, "local_authority", "Northshire Children's Social Care"),
        (POLICE, "police", "Northshire Police"),
        (HEALTH, "health", "Northshire Integrated Care Board"),
    ):
        receipts.append(
            ledger.register_agency(
                partnership=PARTNERSHIP,
                recorded_by=SW,
                agency=agency,
                name=name,
                kind=kind,
                role="statutory_partner",
            )
        )
    return receipts


def run_scenario(ledger: Ledger) -> list[Receipt]:
    """Record the scenario and return the receipts, in order."""
    stamp = datetime.now(UTC)
    case = f"c-{stamp:%y%m%d-%H%M%S-%f}"
    challenge = f"ch-{stamp:%y%m%d-%H%M%S-%f}"
    at = stamp - timedelta(days=3)
    receipts = _ensure_partnership(ledger)
    receipts += [
        ledger.open_case(
            partnership=PARTNERSHIP,
            case=case,
            recorded_by=SW,
            occurred_at=at,
            children=[{"child": CHILD, "age_band": "5_9"}],
            lead_agency=LA,
        ),
        ledger.record_action(
            partnership=PARTNERSHIP,
            case=case,
            recorded_by=SW,
            occurred_at=at,
            source={"kind": "referral_form"},
            action="referral_received",
            child=CHILD,
        ),
        ledger.join_case(partnership=PARTNERSHIP, case=case, recorded_by=SW, agency=POLICE),
        ledger.request_information(
            partnership=PARTNERSHIP,
            case=case,
            recorded_by=SW,
            occurred_at=at + timedelta(hours=2),
            request="rq-1",
            from_agency=LA,
            to_agency=POLICE,
        ),
        ledger.refuse_cooperation(
            partnership=PARTNERSHIP,
            case=case,
            recorded_by=OFFICER,
            occurred_at=at + timedelta(days=1),
            agency=POLICE,
            kind="information_withheld",
            basis="no_stated_basis",
            request="rq-1",
        ),
        ledger.raise_challenge(
            partnership=PARTNERSHIP,
            challenge=challenge,
            recorded_by=SW,
            occurred_at=at + timedelta(days=1, hours=3),
            by_agency=LA,
            against_agency=POLICE,
            matter="information_sharing",
            case=case,
            summary="Information requested under the duty to share was withheld "
            "without a stated basis.",
        ),
        ledger.escalate_challenge(
            partnership=PARTNERSHIP,
            challenge=challenge,
            recorded_by=SW,
            occurred_at=at + timedelta(days=2),
            by_agency=LA,
            to_stage=2,
        ),
        ledger.respond_to_challenge(
            partnership=PARTNERSHIP,
            challenge=challenge,
            recorded_by=OFFICER,
            occurred_at=at + timedelta(days=2, hours=4),
            by_agency=POLICE,
            stage=2,
            response="Information will be shared today; the refusal was an error.",
        ),
        ledger.resolve_challenge(
            partnership=PARTNERSHIP,
            challenge=challenge,
            recorded_by=SW,
            occurred_at=at + timedelta(days=2, hours=5),
            outcome="upheld",
        ),
    ]
    return receipts


def print_summary(console: Console, running: Running, receipts: list[Receipt]) -> None:
    """A table of what was recorded, and where."""
    table = Table(title="recorded on the ledger")
    for column in ("seq", "event", "aggregate", "version"):
        table.add_column(column, justify="right" if column in {"seq", "version"} else "left")
    for r in receipts:
        table.add_row(str(r.sequence), r.event_type, r.aggregate_id, str(r.version))
    console.print(table)
    where = running.server.store_dir if running.server is not None else running.nats_url
    total = running.ledger.recorder.max_notification_id() or 0
    console.print(
        f"{len(receipts)} events recorded; the stream now holds {total} events ({where})."
    )
