"""An import as a plan of commands: checked all together first, then written, or not at all.

A file becomes :class:`Step` s, each one command with the line it comes from and a
:attr:`Step.key`: a digest of what the line says that the event's source reference
carries (``escalations.csv line 4 #3f2a...``). :func:`run`

1. drops the steps whose key the aggregate already holds (imported before: a second
   import of the same file records nothing), and refuses a challenge whose stored
   imported events say what the file no longer says (an imported line was edited);
2. rehearses the rest on a scratch copy of the ledger (:func:`ledger.rehearsal.rehearsal`),
   so every schema, date and domain rule runs on every line, later lines seeing
   earlier ones; each refusal is a :class:`Problem` naming its line and column;
3. writes them, in file order, only if no line was refused.

A chronology event recorded more than a day after it happened is late (the
chronology view flags it); each such imported event is followed by a
``LateRecordingExplained`` saying it was imported, so the flag shows explained.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import msgspec
import structlog

import schemas
from interfaces.imports._sheet import ImportInterrupted, Problem
from ledger import Ledger, LedgerError, Receipt
from ledger.rehearsal import rehearsal, stored_facts
from projections.chronology import LATE_RECORDING_AFTER
from schemas import AggregateKind, Command, RecordedBy, Source, SourceKind
from schemas.commands import ExplainLateRecording

__all__ = ["LineReport", "Outcome", "Plan", "Step", "digest", "run", "source"]

log = structlog.get_logger()

_KEY: Final = re.compile(r"#([0-9a-f]{16})$")
#: The longest file name kept in a source reference (a reference is at most 200 characters).
_NAME_CHARS: Final = 120


def digest(*parts: object) -> str:
    """16 hex digits of SHA-256 over ``parts`` (what a line says, in canonical form)."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def source(file_name: str, line: int, key: str, note: str = "") -> Source:
    """The source of an imported event: ``imported``, naming the file, line and key."""
    extra = f" {note}" if note else ""
    return Source(
        kind=SourceKind.IMPORTED,
        reference=f"{file_name[:_NAME_CHARS]} line {line}{extra} #{key}",
    )


def _key_of(fact: schemas.Event) -> str | None:
    reference = fact.source.reference
    if fact.source.kind is not SourceKind.IMPORTED or not isinstance(reference, str):
        return None
    found = _KEY.search(reference)
    return found[1] if found else None


@dataclass(frozen=True)
class Step:
    """One command of the plan, from one line of the file."""

    line: int
    #: What the line says, as a digest; an event holding it in its source was imported.
    key: str
    command: Command
    recorded_by: RecordedBy
    #: The aggregate the command is for: a refused step passes over the rest of it.
    kind: AggregateKind
    ident: str
    #: The column a refusal is reported on, by the command field it names.
    columns: Mapping[str, str]
    column: str
    #: The reason given when the event is recorded late (a case event only).
    explain: str | None = None

    def column_of(self, name: str | None) -> str:
        """The column to report a refusal of field ``name`` on."""
        if name:
            for candidate in (name, name.split(".")[0], name.split("[")[0]):
                if candidate in self.columns:
                    return self.columns[candidate]
        return self.column


@dataclass
class Plan:
    """A file's steps, the problems found reading it, and the lines it has."""

    partnership: str
    steps: list[Step] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    #: Aggregates whose stored imported keys must all be in the file (else: edited lines),
    #: with the line and column to report it on.
    whole: dict[str, tuple[int, str]] = field(default_factory=dict)


@dataclass
class LineReport:
    """What became of one line."""

    line: int
    status: str
    detail: str = ""
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Outcome:
    """What an import did: a report per line, the problems, and what was written."""

    lines: list[LineReport]
    problems: list[Problem]
    written: list[Receipt]
    checked_only: bool

    @property
    def refused(self) -> bool:
        """Whether any line was refused (then nothing was written)."""
        return bool(self.problems)


def _explanation(step: Step, receipt: Receipt) -> ExplainLateRecording | None:
    occurred = getattr(step.command, "occurred_at", msgspec.UNSET)
    if step.explain is None or step.kind != "case" or occurred is msgspec.UNSET:
        return None
    if receipt.recorded_at - occurred <= LATE_RECORDING_AFTER:
        return None
    return ExplainLateRecording(
        partnership=step.command.partnership,
        case=step.ident,
        event_sequence=receipt.sequence,
        reason=step.explain,
        source=step.command.source,
    )


def _execute(ledger: Ledger, step: Step) -> list[Receipt]:
    receipt = ledger.execute(step.command, recorded_by=step.recorded_by)
    explanation = _explanation(step, receipt)
    if explanation is None:
        return [receipt]
    return [receipt, ledger.execute(explanation, recorded_by=step.recorded_by)]


def _stored(ledger: Ledger, plan: Plan) -> dict[tuple[str, str], set[str]]:
    """The keys of the imported events each aggregate of the plan holds."""
    found: dict[tuple[str, str], set[str]] = {}
    for step in plan.steps:
        target = (step.kind, step.ident)
        if target not in found:
            facts = stored_facts(ledger, plan.partnership, step.kind, step.ident)
            found[target] = {k for k in map(_key_of, facts) if k is not None}
    return found


def _edited(plan: Plan, stored: dict[tuple[str, str], set[str]]) -> list[Problem]:
    planned: dict[tuple[str, str], set[str]] = {}
    for step in plan.steps:
        planned.setdefault((step.kind, step.ident), set()).add(step.key)
    problems = []
    for target, keys in stored.items():
        where = plan.whole.get(target[1])
        if where is not None and keys - planned.get(target, set()):
            problems.append(
                Problem(
                    where[0],
                    where[1],
                    f"{target[0]} '{target[1]}' was imported before from lines that said"
                    " something else (rule: an imported line is not edited; a correction is"
                    " a new event, recorded with ledger record)",
                )
            )
    return problems


def run(
    ledger: Ledger,
    plan: Plan,
    *,
    check_only: bool = False,
    advance: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Check every step of ``plan``, then write them all unless any line is refused."""
    problems = list(plan.problems)
    reports = {line: LineReport(line, "nothing to record") for line in plan.lines}
    stored = _stored(ledger, plan)
    problems += _edited(plan, stored)
    to_do = []
    for step in plan.steps:
        if step.key in stored.get((step.kind, step.ident), set()):
            if reports[step.line].status == "nothing to record":
                reports[step.line].status = "already imported"
        else:
            to_do.append(step)
    if not problems:
        problems += _rehearse(ledger, plan, to_do, reports)
    else:
        for step in to_do:
            if reports[step.line].status == "nothing to record":
                reports[step.line].status = "not checked"
                reports[step.line].detail = "other lines of the file are refused"
    log.info(
        "import_checked",
        partnership=plan.partnership,
        lines=len(plan.lines),
        steps=len(plan.steps),
        to_record=len(to_do),
        problems=len(problems),
    )
    if problems or check_only:
        for problem in problems:
            report = reports.setdefault(problem.line, LineReport(problem.line, "refused"))
            if report.status != "refused":
                report.status, report.detail = "refused", ""
            report.problems.append(problem)
            where = f"column {problem.column}: " if problem.column else ""
            report.detail = "; ".join(filter(None, (report.detail, where + problem.text)))
        return Outcome(_sorted(reports), sorted(problems), [], checked_only=check_only)
    written: list[Receipt] = []
    for report in reports.values():
        if report.status == "to record":
            report.detail = ""
    for done, step in enumerate(to_do, 1):
        try:
            receipts = _execute(ledger, step)
        except LedgerError as error:
            msg = (
                f"line {step.line}: {error}; {len(written)} events of this file were written"
                " before it (import the file again once this is fixed: what was written is"
                " recognised and passed over)"
            )
            raise ImportInterrupted(msg) from error
        written += receipts
        report = reports[step.line]
        report.status = "recorded"
        report.detail = ", ".join(filter(None, (report.detail, *(r.event_type for r in receipts))))
        if advance is not None:
            advance(done, len(to_do))
    log.info("import_written", partnership=plan.partnership, events=len(written))
    return Outcome(_sorted(reports), [], written, checked_only=False)


def _rehearse(
    ledger: Ledger, plan: Plan, to_do: list[Step], reports: dict[int, LineReport]
) -> list[Problem]:
    """Run ``to_do`` on a scratch copy of ``ledger``: a problem per refused line.

    A refused command changes nothing, so the lines after it are checked too, but for the
    later lines of a refused challenge: those build on it (an escalation of a challenge
    never raised) and are marked ``not checked`` rather than refused for its reason.
    """
    if not to_do:
        return []
    scratch = rehearsal(
        ledger,
        plan.partnership,
        cases=[s.ident for s in to_do if s.kind == "case"]
        + [c for s in to_do if isinstance(c := getattr(s.command, "case", None), str)],
        challenges=[s.ident for s in to_do if s.kind == "challenge"],
    )
    problems: list[Problem] = []
    refused: dict[tuple[str, str], int] = {}
    for step in to_do:
        report = reports[step.line]
        earlier = refused.get((step.kind, step.ident))
        if earlier is not None:
            if earlier != step.line:
                report.status = "not checked"
                report.detail = f"line {earlier} of the same {step.kind} is refused"
            continue
        try:
            receipts = _execute(scratch, step)
        except LedgerError as error:
            name = getattr(error, "field", None)
            problems.append(Problem(step.line, step.column_of(name), str(error)))
            if step.kind == "challenge":  # its later stages build on this one: not checked
                refused[(step.kind, step.ident)] = step.line
            continue
        report.status = "to record"
        report.detail = ", ".join(filter(None, (report.detail, *(r.event_type for r in receipts))))
    return problems


def _sorted(reports: dict[int, LineReport]) -> list[LineReport]:
    return [reports[line] for line in sorted(reports)]
