"""A case's chronology in the review layout (``ledger chronology --review``) as commands.

Columns (docs/import.md): ``date``, ``source``, ``agency``, ``event``,
``action taken`` (required); ``time``, ``sequence`` (optional, as the export has
them). Each line is recorded on the case given to the import, as the agency the
line names (it must be a party to the case) with the importing person as actor:

* ``Action recorded``: ``action taken`` is an action (``Strategy discussion``),
  with its outcome in brackets if any (``Strategy discussion (outcome: section47)``);
* ``Concern raised``: ``action taken`` is ``Concern raised (kind: neglect)`` or the kind;
* ``Cooperation refused``: ``action taken`` is
  ``Cooperation refused (agency: police; kind: information withheld; basis: no stated basis)``.

Every other event (a case opened, an agency joining, a challenge, a review ...) is
refused: each has its own command, and challenges their own import. ``sequence`` is
the file's own numbering, not a stream sequence: it is kept in nothing. The line's
``source`` goes into the imported event's source reference (its kind is ``imported``).
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, date, datetime, time
from typing import Final

from interfaces.imports._plan import Plan, Step, digest, source
from interfaces.imports._sheet import Problem, Sheet, parse_date, parse_time, token
from projections.calendar import LONDON
from schemas import (
    ActionKind,
    ActionOutcome,
    ConcernKind,
    RecordedBy,
    RefusalBasis,
    RefusalKind,
    SourceKind,
)
from schemas.commands import RaiseConcern, RecordAction, RefuseCooperation

__all__ = ["ALIASES", "EVENTS", "OPTIONAL", "REQUIRED", "plan_chronology"]

REQUIRED: Final = ("date", "source", "agency", "event", "action taken")
OPTIONAL: Final = ("time", "sequence")
ALIASES: Final = {"action": "action taken", "seq": "sequence"}
#: The events a chronology line may be, by their spelling without spaces or underscores.
EVENTS: Final = ("ActionRecorded", "ConcernRaised", "CooperationRefused")
_EVENTS: Final = {e.casefold(): e for e in EVENTS}
_SHAPE: Final = re.compile(r"(?P<head>[^()]*?)\s*(?:\((?P<details>[^()]*)\))?")


def _choice(enum_type: type, text: str) -> object:
    try:
        return enum_type(token(text))
    except ValueError:
        return None


def _words(enum_type: type[enum.Enum]) -> str:
    return ", ".join(str(v.value).replace("_", " ") for v in enum_type)


def _details(text: str) -> tuple[str, dict[str, str]] | None:
    found = _SHAPE.fullmatch(text.strip())
    if found is None:
        return None
    details: dict[str, str] = {}
    for part in (found["details"] or "").split(";"):
        name, colon, value = part.partition(":")
        if colon:
            details[token(name)] = value.strip()
        elif part.strip():
            return None
    return found["head"], details


def _what(event: str, text: str) -> tuple[dict[str, object], str | None]:
    """The command fields ``action taken`` says, or the problem with it."""
    shape = _details(text)
    if shape is None:
        return {}, "cannot be read (rule: it is written 'what happened (field: value; ...)')"
    head, details = shape
    if event == "ActionRecorded":
        action = _choice(ActionKind, head)
        if action is None:
            return {}, f"is not an action (rule: one of {_words(ActionKind)})"
        fields: dict[str, object] = {"action": action}
        if "outcome" in details:
            outcome = _choice(ActionOutcome, details["outcome"])
            if outcome is None:
                return {}, f"has an unknown outcome (rule: one of {_words(ActionOutcome)})"
            fields["outcome"] = outcome
        return fields, None
    if event == "ConcernRaised":
        kind = _choice(ConcernKind, details.get("kind", head))
        if kind is None:
            return {}, f"has an unknown kind of concern (rule: one of {_words(ConcernKind)})"
        return {"kind": kind}, None
    refusal = {
        "agency": details.get("agency", ""),
        "kind": _choice(RefusalKind, details.get("kind", "")),
        "basis": _choice(RefusalBasis, details.get("basis", "")),
    }
    if not all(refusal.values()):
        return {}, (
            "does not say the agency, kind and basis of the refusal (rule: 'Cooperation refused"
            f" (agency: ...; kind: ...; basis: ...)', kinds {_words(RefusalKind)};"
            f" bases {_words(RefusalBasis)})"
        )
    return refusal, None


def _occurred(number: int, row: dict[str, str], found: list[Problem]) -> datetime | None:
    try:
        day: date | None = parse_date(row.get("date", ""))
    except ValueError as error:
        found.append(Problem(number, "date", str(error)))
        day = None
    at = time()
    if row.get("time"):
        try:
            at = parse_time(row["time"])
        except ValueError as error:
            found.append(Problem(number, "time", str(error)))
    return None if day is None else datetime.combine(day, at, LONDON)


def plan_chronology(
    sheet: Sheet, *, partnership: str, case: str, actor: str, file_name: str
) -> Plan:
    """The commands a review chronology's lines ask for on ``case``, as a :class:`Plan`."""
    plan = Plan(partnership, problems=list(sheet.problems))
    plan.lines = [number for number, _ in sheet.rows]
    today = datetime.now(UTC).astimezone(LONDON).date().isoformat()
    seen: dict[str, int] = {}
    for number, row in sheet.rows:
        found: list[Problem] = []
        for column in REQUIRED:
            if not row.get(column):
                found.append(Problem(number, column, "is empty (rule: the column is required)"))
        occurred = _occurred(number, row, found) if row.get("date") else None
        kind = _choice(SourceKind, row.get("source", "")) if row.get("source") else None
        if row.get("source") and kind is None:
            found.append(
                Problem(number, "source", f"is not a source (rule: one of {_words(SourceKind)})")
            )
        event = _EVENTS.get(token(row.get("event", "")).replace("_", ""))
        if row.get("event") and event is None:
            found.append(
                Problem(
                    number,
                    "event",
                    "is not imported (rule: a chronology import records action recorded,"
                    " concern raised and cooperation refused lines; anything else has its own"
                    " command, and challenges their own import)",
                )
            )
        fields: dict[str, object] = {}
        if event and row.get("action taken"):
            fields, problem = _what(event, row["action taken"])
            if problem:
                found.append(Problem(number, "action taken", problem))
        plan.problems += found
        if found or occurred is None or event is None or not isinstance(kind, SourceKind):
            continue
        agency = row["agency"]
        said = (partnership, case, occurred.isoformat(), kind.value, agency, event)
        base = digest("chronology", *said, *(f"{k}={fields[k]}" for k in sorted(fields)))
        seen[base] = seen.get(base, 0) + 1
        key = digest(base, seen[base])
        where = source(file_name, number, key, kind.value)
        common = {
            "partnership": partnership,
            "case": case,
            "source": where,
            "occurred_at": occurred,
        }
        command: object
        if event == "ActionRecorded":
            command = RecordAction(**common, **fields)  # type: ignore[arg-type]
        elif event == "ConcernRaised":
            command = RaiseConcern(**common, concern=f"imp-{key}", **fields)  # type: ignore[arg-type]
        else:
            command = RefuseCooperation(**common, **fields)  # type: ignore[arg-type]
        plan.steps.append(
            Step(
                line=number,
                key=key,
                command=command,
                recorded_by=RecordedBy(agency=agency, actor=actor),
                kind="case",
                ident=case,
                columns={
                    "recorded_by.agency": "agency",
                    "recorded_by": "agency",
                    "occurred_at": "date",
                    "agency": "action taken",
                    "action": "action taken",
                    "outcome": "action taken",
                    "kind": "action taken",
                    "basis": "action taken",
                    "case": "",
                },
                column="event",
                explain=(
                    f"Imported on {today} from the partnership's chronology ({file_name[:120]}"
                    f" line {number}): recorded in the ledger after the event, from the"
                    " partnership's own record."
                ),
            )
        )
    return plan
