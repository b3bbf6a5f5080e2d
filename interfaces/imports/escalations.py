"""An escalation log (one line per challenge and stage) as challenge commands.

Columns (docs/import.md): ``date``, ``from agency``, ``to agency``, ``matter``,
``stage`` (required); ``reference``, ``response date``, ``outcome``, ``case``,
``summary`` (optional). Lines with the same ``reference`` are the stages of one
challenge, in the order of the file; a line without one is a challenge of its own.

* The first line of a challenge raises it (``RaiseChallenge``) on ``date`` by
  ``from agency`` against ``to agency`` at ``stage``; each later line escalates it
  (``EscalateChallenge``) to its ``stage`` on its ``date``, by its ``from agency``.
* A ``response date`` records the challenged agency's response at that line's stage.
* An ``outcome`` (on the last line of a challenge only) resolves it on the response
  date, or the line's date when there is none; ``withdrawn`` withdraws it instead.

The challenge's id is ``imp-`` and a digest of the partnership and the reference (or,
without one, of what the first line says), so a second import finds it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Final

from interfaces.imports._plan import Plan, Step, digest, source
from interfaces.imports._sheet import Problem, Sheet, parse_date, token
from projections.calendar import LONDON
from schemas import ChallengeMatter, ChallengeOutcome, RecordedBy
from schemas.commands import (
    EscalateChallenge,
    RaiseChallenge,
    ResolveChallenge,
    RespondToChallenge,
    WithdrawChallenge,
)

__all__ = ["ALIASES", "MATTERS", "OPTIONAL", "OUTCOMES", "REQUIRED", "plan_escalations"]

REQUIRED: Final = ("date", "from agency", "to agency", "matter", "stage")
OPTIONAL: Final = ("reference", "response date", "outcome", "case", "summary")
ALIASES: Final = {
    "date raised": "date",
    "from": "from agency",
    "to": "to agency",
    "ref": "reference",
    "responded": "response date",
    "case id": "case",
}
#: Accepted spellings of each matter (also its value with spaces for underscores).
MATTERS: Final[dict[str, ChallengeMatter]] = {
    **{m.value: m for m in ChallengeMatter},
    "threshold": ChallengeMatter.THRESHOLD_DECISION,
    "information": ChallengeMatter.INFORMATION_SHARING,
    "plan": ChallengeMatter.PLAN_OR_DECISION,
    "decision": ChallengeMatter.PLAN_OR_DECISION,
    "non_attendance": ChallengeMatter.ATTENDANCE,
    "closure": ChallengeMatter.CASE_CLOSURE,
}
WITHDRAWN: Final = "withdrawn"
#: Accepted spellings of each outcome; ``withdrawn`` withdraws the challenge instead.
OUTCOMES: Final[dict[str, ChallengeOutcome | str]] = {
    **{o.value: o for o in ChallengeOutcome},
    "partly_upheld": ChallengeOutcome.PARTIALLY_UPHELD,
    "agreed": ChallengeOutcome.AGREED_WAY_FORWARD,
    WITHDRAWN: WITHDRAWN,
}
_RESPONSE: Final = "Response recorded in the partnership's escalation log (imported)."
_SUMMARY: Final = "Challenge recorded in the partnership's escalation log (imported)."


@dataclass
class _Line:
    number: int
    day: date
    by: str
    against: str
    matter: ChallengeMatter
    stage: int
    reference: str
    response: date | None
    outcome: ChallengeOutcome | str | None
    case: str
    summary: str


def _at(day: date) -> datetime:
    """A day of the log as an instant: its start in Europe/London (the time is not known)."""
    return datetime.combine(day, time(), LONDON)


def _spelling(value: str, choices: dict[str, object], column: str) -> tuple[object, str | None]:
    found = choices.get(token(value))
    if found is not None:
        return found, None
    accepted = ", ".join(k.replace("_", " ") for k in choices)
    return None, f"is not a {column} the import knows (rule: one of {accepted})"


def _parse(number: int, row: dict[str, str], problems: list[Problem]) -> _Line | None:
    """The line's values, or None with a problem per bad cell."""
    found: list[Problem] = []

    def need(column: str) -> str:
        value = row.get(column, "")
        if not value:
            found.append(Problem(number, column, "is empty (rule: the column is required)"))
        return value

    def day(column: str, text: str) -> date | None:
        if not text:
            return None
        try:
            return parse_date(text)
        except ValueError as error:
            found.append(Problem(number, column, str(error)))
            return None

    raised = day("date", need("date"))
    by, against = need("from agency"), need("to agency")
    matter: object = None
    if text := need("matter"):
        matter, problem = _spelling(text, dict(MATTERS), "matter")
        if problem:
            found.append(Problem(number, "matter", problem))
    stage = 0
    if text := need("stage"):
        digits = token(text).removeprefix("stage").strip("_")
        if digits.isdigit() and 0 < int(digits) <= 99:
            stage = int(digits)
        else:
            found.append(
                Problem(number, "stage", "is not a stage number (rule: a stage is 1, 2, 3 ...)")
            )
    response = day("response date", row.get("response date", ""))
    outcome: object = None
    if text := row.get("outcome", ""):
        outcome, problem = _spelling(text, dict(OUTCOMES), "outcome")
        if problem:
            found.append(Problem(number, "outcome", problem))
    problems += found
    if found or raised is None or not isinstance(matter, ChallengeMatter):
        return None
    return _Line(
        number,
        raised,
        by,
        against,
        matter,
        stage,
        token(row.get("reference", "")),
        response,
        outcome if isinstance(outcome, ChallengeOutcome | str) else None,
        row.get("case", ""),
        row.get("summary", ""),
    )


def _groups(lines: list[_Line], partnership: str) -> dict[str, list[_Line]]:
    """The lines of each challenge (keyed by its id), in file order."""
    groups: dict[str, list[_Line]] = {}
    seen: dict[str, int] = {}
    for line in lines:
        if line.reference:
            identity = f"ref:{line.reference}"
        else:
            said = (line.day, line.by, line.against, line.matter, line.stage, line.case)
            base = f"row:{digest(*said)}"
            seen[base] = seen.get(base, 0) + 1
            identity = f"{base}:{seen[base]}"
        groups.setdefault(f"imp-{digest(partnership, 'escalations', identity)}", []).append(line)
    return groups


def _check_group(lines: list[_Line], problems: list[Problem]) -> None:
    first = lines[0]
    for earlier, line in itertools.pairwise(lines):
        if {line.by, line.against} != {first.by, first.against}:
            problems.append(
                Problem(
                    line.number,
                    "to agency",
                    f"names other agencies than line {first.number} of the same reference"
                    " (rule: the lines of one challenge name its two agencies)",
                )
            )
        if line.matter is not first.matter:
            problems.append(
                Problem(
                    line.number,
                    "matter",
                    f"differs from line {first.number} of the same reference"
                    " (rule: a challenge has one matter)",
                )
            )
        if line.day < earlier.day:
            problems.append(
                Problem(
                    line.number,
                    "date",
                    f"is before line {earlier.number} of the same reference"
                    " (rule: the lines of one challenge are in date order)",
                )
            )
        if earlier.outcome is not None:
            problems.append(
                Problem(
                    earlier.number,
                    "outcome",
                    f"is given, yet line {line.number} of the same reference follows"
                    " (rule: only the last line of a challenge has an outcome)",
                )
            )


def plan_escalations(
    sheet: Sheet, *, partnership: str, recorded_by: RecordedBy, file_name: str
) -> Plan:
    """The commands an escalation log's lines ask for, as a :class:`Plan`."""
    plan = Plan(partnership, problems=list(sheet.problems))
    plan.lines = [number for number, _ in sheet.rows]
    lines = [
        found
        for number, row in sheet.rows
        if (found := _parse(number, row, plan.problems)) is not None
    ]
    for challenge, group in _groups(lines, partnership).items():
        _check_group(group, plan.problems)
        first = group[0]
        plan.whole[challenge] = (first.number, "reference" if first.reference else "date")
        for n, line in enumerate(group):
            plan.steps += _steps(plan, challenge, first, line, n == 0, recorded_by, file_name)
    plan.steps.sort(key=lambda step: step.line)  # stable: a line's steps keep their order
    return plan


def _steps(
    plan: Plan,
    challenge: str,
    first: _Line,
    line: _Line,
    opens: bool,
    recorded_by: RecordedBy,
    file_name: str,
) -> list[Step]:
    p = plan.partnership
    common = {"recorded_by.agency": "", "stage": "stage", "to_stage": "stage", "case": "case"}
    steps: list[Step] = []

    def add(key: str, command: object, columns: dict[str, str], column: str) -> None:
        steps.append(
            Step(
                line=line.number,
                key=key,
                command=command,  # type: ignore[arg-type]
                recorded_by=recorded_by,
                kind="challenge",
                ident=challenge,
                columns=common | columns,
                column=column,
            )
        )

    if opens:
        said = (line.day, line.by, line.against, line.matter, line.stage, line.case, line.summary)
        key = digest(challenge, "raised", *said)
        raise_it = RaiseChallenge(
            partnership=p,
            challenge=challenge,
            by_agency=line.by,
            against_agency=line.against,
            matter=line.matter,
            stage=line.stage,
            summary=line.summary or _SUMMARY,
            source=source(file_name, line.number, key),
            occurred_at=_at(line.day),
            **({"case": line.case} if line.case else {}),
        )
        columns = {
            "by_agency": "from agency",
            "against_agency": "to agency",
            "summary": "summary",
            "occurred_at": "date",
        }
        add(key, raise_it, columns, "date")
    else:
        key = digest(challenge, "escalated", line.day, line.by, line.stage)
        escalate = EscalateChallenge(
            partnership=p,
            challenge=challenge,
            to_stage=line.stage,
            by_agency=line.by,
            source=source(file_name, line.number, key),
            occurred_at=_at(line.day),
        )
        add(key, escalate, {"by_agency": "from agency", "occurred_at": "date"}, "stage")
    if line.response is not None:
        key = digest(challenge, "responded", line.stage, line.response)
        respond = RespondToChallenge(
            partnership=p,
            challenge=challenge,
            stage=line.stage,
            by_agency=first.against,
            response=_RESPONSE,
            source=source(file_name, line.number, key),
            occurred_at=_at(line.response),
        )
        columns = {"by_agency": "to agency", "occurred_at": "response date"}
        add(key, respond, columns, "response date")
    if line.outcome is not None:
        ended = line.response or line.day
        column = "response date" if line.response else "date"
        key = digest(challenge, "ended", line.outcome, ended)
        end: object
        if line.outcome == WITHDRAWN:
            end = WithdrawChallenge(
                partnership=p,
                challenge=challenge,
                by_agency=first.by,
                source=source(file_name, line.number, key),
                occurred_at=_at(ended),
            )
        else:
            end = ResolveChallenge(
                partnership=p,
                challenge=challenge,
                outcome=ChallengeOutcome(line.outcome),
                source=source(file_name, line.number, key),
                occurred_at=_at(ended),
            )
        add(key, end, {"by_agency": "from agency", "occurred_at": column}, "outcome")
    return steps
