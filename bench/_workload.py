"""The workload every write-path measurement shares: one partnership, many cases, one action each.

The same command (an ``ActionRecorded`` home visit with a 200-character note,
about 330 bytes of JSON) is recorded by the ledger on NATS, by the same ledger
on eventsourcing's SQLite persistence, and published raw, so the figures compare
like with like.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any, TextIO

import schemas
from ledger.application import Ledger
from runtime.logging import configure_logging
from runtime.settings import Settings

PARTNERSHIP = "benchshire"
AGENCIES = ("la-bench", "police-bench", "health-bench")
ACTOR = {"agency": "la-bench", "actor": "act_benchmark01"}
NOTE = "Home visit completed; observations recorded in the agency's case file. " * 3
NOTE = NOTE[:200]
CHILD = "ch_0000000000000000"


def setup_partnership(ledger: Ledger) -> None:
    """Establish the partnership and register its agencies."""
    ledger.establish_partnership(
        partnership=PARTNERSHIP,
        recorded_by=ACTOR,
        name="Bench Safeguarding Partnership",
        nation="england",
        escalation_stages=[
            {"stage": 1, "title": "Practitioners", "response_working_days": 5},
            {"stage": 2, "title": "Managers", "response_working_days": 5},
            {"stage": 3, "title": "Senior leaders", "response_working_days": 10},
        ],
    )
    kinds = {"la-bench": "local_authority", "police-bench": "police", "health-bench": "health"}
    for agency, kind in kinds.items():
        ledger.register_agency(
            partnership=PARTNERSHIP,
            recorded_by=ACTOR,
            agency=agency,
            name=f"{kind} agency",
            kind=kind,
            role="statutory_partner",
        )


def open_cases(ledger: Ledger, prefix: str, count: int) -> list[str]:
    """Open ``count`` cases and return their ids (not timed)."""
    cases = []
    for i in range(count):
        case = f"{prefix}-{i}"
        ledger.open_case(
            partnership=PARTNERSHIP,
            case=case,
            recorded_by=ACTOR,
            children=[{"child": CHILD, "age_band": "5_9"}],
            lead_agency="la-bench",
        )
        cases.append(case)
    return cases


def record_visit(ledger: Ledger, case: str) -> Any:
    """The measured command."""
    return ledger.record_action(
        partnership=PARTNERSHIP,
        case=case,
        recorded_by=ACTOR,
        action="home_visit",
        child=CHILD,
        seen=True,
        seen_alone=True,
        note=NOTE,
    )


def raw_payload() -> bytes:
    """The JSON of the same fact, for the raw publish baseline."""
    now = datetime.now(UTC)
    fact = schemas.ActionRecorded(
        occurred_at=now,
        recorded_at=now,
        recorded_by=schemas.RecordedBy(agency="la-bench", actor="act_benchmark01"),
        source=schemas.Source(kind=schemas.SourceKind.CASE_RECORD),
        action=schemas.ActionKind.HOME_VISIT,
        child=CHILD,
        seen=True,
        seen_alone=True,
        note=NOTE,
    )
    return schemas.encode_event(fact)


def ledger_on_nats(url: str, stream: str) -> Ledger:
    """A ledger on its own stream of the benchmark's server."""
    settings = Settings(stream=stream, subject_prefix=stream.lower())
    return Ledger(env=settings.persistence_env(url))


_sinks: list[TextIO] = []


def quiet_logs() -> None:
    """Production logging (JSON lines, INFO, one line a command) rendered into /dev/null:
    the rendering is paid for, the terminal is not."""
    sink = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process logs
    _sinks.append(sink)
    configure_logging(json=True, level=os.environ.get("BENCH_LOG_LEVEL", "INFO"), file=sink)
