"""``ledger import``: the spreadsheets partnerships keep today, taken in as backdated events.

* :func:`import_escalations`: an escalation log, as challenges
  (:mod:`interfaces.imports.escalations`);
* :func:`import_chronology`: a case's chronology in the review layout, as actions,
  concerns and refusals on the case (:mod:`interfaces.imports.chronology`).

Each reads the file (:mod:`interfaces.imports._sheet`: size, encoding, header), turns
its lines into a plan of commands and runs it (:mod:`interfaces.imports._plan`): every
line is checked first, on a rehearsal of the ledger, and nothing is written if any
line is refused; lines imported before are passed over. Events carry
``occurred_at`` from the file, ``recorded_at`` now and the source ``imported``
naming the file and line. The column layouts and accepted spellings are in
``docs/import.md``.
"""

from __future__ import annotations

from collections.abc import Callable

from interfaces.imports import chronology, escalations
from interfaces.imports._plan import LineReport, Outcome, run
from interfaces.imports._sheet import (
    MAX_BYTES,
    MAX_ROWS,
    ImportInterrupted,
    ImportRefused,
    Problem,
    read_sheet,
)
from ledger import Ledger
from schemas import RecordedBy

__all__ = [
    "MAX_BYTES",
    "MAX_ROWS",
    "ImportInterrupted",
    "ImportRefused",
    "LineReport",
    "Outcome",
    "Problem",
    "import_chronology",
    "import_escalations",
]

Advance = Callable[[int, int], None]


def import_escalations(
    ledger: Ledger,
    data: bytes,
    *,
    file_name: str,
    partnership: str,
    recorded_by: RecordedBy,
    check_only: bool = False,
    advance: Advance | None = None,
) -> Outcome:
    """Take in the escalation log ``data`` (CSV bytes) as challenges, as ``recorded_by``."""
    sheet = read_sheet(
        data,
        file_name,
        required=escalations.REQUIRED,
        optional=escalations.OPTIONAL,
        aliases=escalations.ALIASES,
    )
    plan = escalations.plan_escalations(
        sheet, partnership=partnership, recorded_by=recorded_by, file_name=file_name
    )
    return run(ledger, plan, check_only=check_only, advance=advance)


def import_chronology(
    ledger: Ledger,
    data: bytes,
    *,
    file_name: str,
    partnership: str,
    case: str,
    actor: str,
    check_only: bool = False,
    advance: Advance | None = None,
) -> Outcome:
    """Take in the chronology ``data`` (CSV bytes) on ``case``, each line as its agency.

    Raises :class:`~ledger.errors.AggregateNotFound` when the case does not exist.
    """
    ledger.get_case(partnership, case)
    sheet = read_sheet(
        data,
        file_name,
        required=chronology.REQUIRED,
        optional=chronology.OPTIONAL,
        aliases=chronology.ALIASES,
    )
    plan = chronology.plan_chronology(
        sheet, partnership=partnership, case=case, actor=actor, file_name=file_name
    )
    return run(ledger, plan, check_only=check_only, advance=advance)
