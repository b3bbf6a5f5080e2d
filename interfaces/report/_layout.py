"""The report's sections, once: each a heading, a few sentences, charts and tables.

The HTML (:mod:`interfaces.report._html`) and the PDF (:mod:`interfaces.report._pdf`)
render the same :class:`Section` list, so both show the same figures in the same order.
Every chart comes with a table of its numbers; a chart's bars carry their value as text,
so nothing is told by colour alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from interfaces.report._figures import (
    CLOCK_STATUSES,
    OPT_OUT_KINDS,
    RAGS,
    RECOMMENDATION_STATES,
    STANDINGS,
    YearReport,
)

#: A cell that is a figure: a count, a mean, or "-" for none.
_FIGURE: Final = re.compile(r"-|[0-9]+(\.[0-9]+)?")

__all__ = ["Bar", "Chart", "Section", "Table", "sections", "words"]


@dataclass(frozen=True)
class Bar:
    label: str
    value: float


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart: its title, a description of what it shows, and its bars."""

    key: str
    title: str
    desc: str
    bars: Sequence[Bar]
    unit: str = ""

    @property
    def top(self) -> float:
        return max((b.value for b in self.bars), default=0) or 1


@dataclass(frozen=True)
class Table:
    caption: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]

    @property
    def numeric(self) -> list[bool]:
        """Per column: whether it holds figures (aligned right) rather than words."""
        return [
            bool(self.rows) and all(_FIGURE.fullmatch(row[i]) for row in self.rows)
            for i in range(len(self.header))
        ]


@dataclass(frozen=True)
class Section:
    key: str
    heading: str
    text: Sequence[str]
    #: Each block a chart with the table of its numbers, or a table alone.
    blocks: Sequence[tuple[Chart | None, Table]] = field(default_factory=list)


def words(name: str) -> str:
    """``request_not_answered`` as ``request not answered``."""
    return name.replace("_", " ")


def _n(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def sections(report: YearReport) -> list[Section]:
    """The report's sections, in order."""
    return [
        _summary(report),
        _cooperation(report),
        _timeliness(report),
        _challenges(report),
        _reviews(report),
        _themes(report),
    ]


def _summary(r: YearReport) -> Section:
    year = r.year
    span = f"{year.first_day:%-d %B %Y} to {year.last_day:%-d %B %Y}"
    kind = "reporting year" if year.kind == "reporting" else "calendar year"
    state = (
        f"as the ledger stood at the end of the year ({r.as_of:%Y-%m-%d %H:%M} UTC):"
        " what was recorded after then, even about the year's days, is not counted"
        if r.complete
        else f"as the ledger stood at {r.as_of:%Y-%m-%d %H:%M} UTC: the year is not over"
    )
    c, ch, rec = r.cooperation, r.challenges, r.recommendations
    table = Table(
        caption="The year in figures",
        header=["Figure", "Count"],
        rows=[
            ["Opt-outs", _n(c.opt_outs)],
            ["Decisions not to share (s16LA)", _n(c.by_standing["decision_not_to_share"])],
            ["Opt-outs with no stated basis", _n(c.by_standing["no_stated_basis"])],
            ["Statutory clocks started", _n(sum(t.started for t in r.timeliness))],
            ["Clocks late or overdue", _n(sum(t.late + t.overdue for t in r.timeliness))],
            ["Challenges raised", _n(ch.raised)],
            ["Challenges escalated", _n(ch.escalated)],
            ["Challenges resolved", _n(ch.resolved)],
            ["Serious incidents notified", _n(r.reviews.notified)],
            ["Recommendations tracked", _n(rec.total)],
            ["Recommendations overdue", _n(rec.overdue)],
        ],
    )
    blocks: list[tuple[Chart | None, Table]] = [(None, table)]
    late = r.recorded_after
    if late is not None:
        blocks.append(
            (
                None,
                Table(
                    caption="Recorded after the year ended about its days, so not counted above",
                    header=["Recorded late", "Count"],
                    rows=[
                        ["opt-outs of the year's days", _n(late.opt_outs)],
                        ["challenges raised on the year's days", _n(late.challenges)],
                        ["statutory clocks started on the year's days", _n(late.clocks)],
                    ],
                ),
            )
        )
    return Section(
        key="summary",
        heading="Summary",
        text=[
            f"{r.name} ({r.partnership}, {r.nation.title()}): the {kind} {year.label},"
            f" {span}, {state}.",
            "Every figure is an answer of the ledger's API for the year's days, asked as of"
            " that instant. Days are London's.",
        ],
        blocks=blocks,
    )


def _cooperation(r: YearReport) -> Section:
    c = r.cooperation
    agencies = c.agencies
    by_agency = Chart(
        key="opt-outs-by-agency",
        title="Opt-outs by agency",
        desc=f"Opt-outs recorded against each agency in {r.year.label}: {c.opt_outs} in all."
        " Agencies with none are in the table only.",
        bars=[Bar(a.agency, a.opt_outs) for a in agencies if a.opt_outs],
    )
    kinds = Chart(
        key="opt-outs-by-kind",
        title="Opt-outs by kind",
        desc="Opt-outs of each kind across the partnership: refusals, meetings not attended,"
        " requests not answered and recommendations rejected.",
        bars=[Bar(words(k), v) for k, v in c.by_kind.items()],
    )
    kind_table = Table(
        caption="Opt-outs by agency and kind",
        header=["Agency", *[words(k) for k in OPT_OUT_KINDS], "total"],
        rows=[
            [a.agency, *[_n(a.by_kind[k]) for k in OPT_OUT_KINDS], _n(a.opt_outs)] for a in agencies
        ]
        + [["all agencies", *[_n(c.by_kind[k]) for k in OPT_OUT_KINDS], _n(c.opt_outs)]],
    )
    # The agencies with an opt-out (every agency is in the table by kind, zeros too).
    some = [a for a in agencies if a.opt_outs]
    standing_table = Table(
        caption="Opt-outs by agency and standing: decisions not to share, with a stated basis,"
        " with none (agencies with an opt-out)",
        header=["Agency", *[words(s) for s in STANDINGS]],
        rows=[[a.agency, *[_n(a.by_standing[s]) for s in STANDINGS]] for a in some],
    )
    bases = sorted({b for a in some for b in a.by_basis})
    basis_table = Table(
        caption="Refusals by the basis the agency stated (agencies with a refusal)",
        header=["Agency", *[words(b) for b in bases]] if bases else ["Agency", "refusals"],
        rows=[[a.agency, *[_n(a.by_basis.get(b, 0)) for b in bases]] for a in some if a.by_basis],
    )
    by_agency_table = Table(
        caption="Opt-outs by agency",
        header=["Agency", "Name", "Opt-outs"],
        rows=[[a.agency, a.name, _n(a.opt_outs)] for a in agencies],
    )
    kind_totals = Table(
        caption="Opt-outs by kind",
        header=["Kind", "Opt-outs"],
        rows=[[words(k), _n(v)] for k, v in c.by_kind.items()],
    )
    return Section(
        key="cooperation",
        heading="How each agency cooperated",
        text=[
            "Opt-outs are refusals to share or to attend, requests left unanswered past their"
            " due day, and review recommendations rejected. A decision not to share because"
            " sharing would be more detrimental to the child (Children Act 2004 s16LA) is"
            " lawful and is shown apart from refusals with no stated basis.",
        ],
        blocks=[
            (by_agency, by_agency_table),
            (kinds, kind_totals),
            (None, kind_table),
            (None, standing_table),
            (None, basis_table),
        ],
    )


def _timeliness(r: YearReport) -> Section:
    lines = r.timeliness
    chart = Chart(
        key="clocks-late-by-rule",
        title="Clocks late or overdue, by rule",
        desc="For each statutory rule, the clocks started in the year that ended late or were"
        " overdue at year end.",
        bars=[Bar(t.rule, t.late + t.overdue) for t in lines],
    )
    table = Table(
        caption="Statutory clocks started in the year, by status at year end",
        header=["Rule", "started", *[words(s) for s in CLOCK_STATUSES], "most days late"],
        rows=[
            [
                t.rule,
                _n(t.started),
                *[_n(getattr(t, s)) for s in CLOCK_STATUSES],
                _n(t.max_days_late),
            ]
            for t in lines
        ],
    )
    titles = Table(
        caption="The rules",
        header=["Rule", "Timescale"],
        rows=[[t.rule, t.title] for t in lines],
    )
    return Section(
        key="timeliness",
        heading="Timeliness against every rule",
        text=[
            "Each statutory clock started on one of the year's days, measured against its"
            " rule in working or calendar days (the nation's bank holidays excluded), with"
            " its status at year end: on time, late, still open within its limit, overdue,"
            " or no longer applicable.",
        ],
        blocks=[(chart, table), (None, titles)],
    )


def _challenges(r: YearReport) -> Section:
    ch = r.challenges
    flow = Chart(
        key="challenges-flow",
        title="Challenges raised, escalated and resolved",
        desc="Challenges raised between partners in the year, how many were escalated beyond"
        " the first stage, resolved, withdrawn and still open at year end.",
        bars=[
            Bar("raised", ch.raised),
            Bar("escalated", ch.escalated),
            Bar("resolved", ch.resolved),
            Bar("withdrawn", ch.withdrawn),
            Bar("open", ch.open),
        ],
    )
    flow_table = Table(
        caption="Challenges raised in the year",
        header=["Figure", "Challenges"],
        rows=[[b.label, _n(b.value)] for b in flow.bars],
    )
    stage_chart = Chart(
        key="challenge-stage-time",
        title="Mean working days per escalation stage",
        desc="For each escalation stage, the mean working days from its start to its close,"
        " over the stages that closed.",
        bars=[Bar(f"stage {s.stage}", s.mean_working_days or 0) for s in ch.stages],
        unit=" days",
    )
    stage_table = Table(
        caption="Time at each stage against the partnership's limits",
        header=[
            "Stage",
            "limit (working days)",
            "reached",
            "in time",
            "late",
            "open",
            "mean days",
            "most days",
        ],
        rows=[
            [
                f"{s.stage} {s.title}",
                _n(s.limit_working_days),
                _n(s.reached),
                _n(s.in_time),
                _n(s.late),
                _n(s.open),
                _n(s.mean_working_days),
                _n(s.max_working_days),
            ]
            for s in ch.stages
        ],
    )
    agencies = Table(
        caption="Challenges by agency",
        header=["Agency", "raised", "received", "escalated", "resolved"],
        rows=[
            [a.agency, _n(a.raised), _n(a.received), _n(a.escalated), _n(a.resolved)]
            for a in ch.agencies
        ],
    )
    matters = Table(
        caption="Challenges by matter and outcome",
        header=["Matter or outcome", "Challenges"],
        rows=[[f"matter: {words(k)}", _n(v)] for k, v in ch.by_matter.items()]
        + [[f"outcome: {words(k)}", _n(v)] for k, v in ch.outcomes.items()],
    )
    return Section(
        key="challenges",
        heading="Challenges between partners",
        text=[
            "Professional disagreements raised in the year and escalated in the partnership's"
            " stages, as they stood at year end, with the time each stage took.",
        ],
        blocks=[(flow, flow_table), (stage_chart, stage_table), (None, agencies), (None, matters)],
    )


def _reviews(r: YearReport) -> Section:
    rv, rec = r.reviews, r.recommendations
    steps = Table(
        caption="Reviews: steps taken in the year",
        header=["Step", "Reviews"],
        rows=[
            ["serious incidents notified", _n(rv.notified)],
            ["rapid reviews completed", _n(rv.rapid_reviews)],
            ["reviews commissioned", _n(rv.commissioned)],
            ["reviews published", _n(rv.published)],
        ],
    )
    each = Table(
        caption="Each review",
        header=["Review", "level", "notified", "rapid review", "commissioned", "published"],
        rows=[
            [
                line.review,
                line.level or "-",
                line.notified_on,
                line.rapid_review_on or "-",
                line.commissioned_on or "-",
                line.published_on or "-",
            ]
            for line in rv.reviews
        ],
    )
    states = Chart(
        key="recommendations-by-status",
        title="Recommendations by status",
        desc="The recommendations tracked in the year by their status at year end.",
        bars=[Bar(s, rec.by_state[s]) for s in RECOMMENDATION_STATES],
    )
    state_table = Table(
        caption="Recommendations by status at year end",
        header=["Status", "Recommendations"],
        rows=[[s, _n(rec.by_state[s])] for s in RECOMMENDATION_STATES]
        + [["overdue", _n(rec.overdue)]],
    )
    rags = Chart(
        key="recommendations-by-rag",
        title="Recommendations by red, amber, green",
        desc="The recommendations tracked in the year by their red, amber or green rating"
        " at year end.",
        bars=[Bar(s, rec.by_rag[s]) for s in RAGS],
    )
    rag_table = Table(
        caption="Recommendations by rating",
        header=["Rating", "Recommendations"],
        rows=[[s, _n(rec.by_rag[s])] for s in RAGS],
    )
    items = Table(
        caption="Each recommendation, overdue first",
        header=["Review", "recommendation", "owner", "theme", "due", "status", "rating", "overdue"],
        rows=[
            [
                i.review,
                i.recommendation,
                i.owner,
                words(i.theme),
                i.due,
                i.state,
                i.rag,
                "overdue" if i.overdue else "no",
            ]
            for i in rec.items
        ],
    )
    return Section(
        key="reviews",
        heading="Reviews and their recommendations",
        text=[
            "Reviews with a step in the year, and the recommendations tracked in it: those"
            " issued by year end and not implemented or rejected before the year began.",
        ],
        blocks=[
            (None, steps),
            (None, each),
            (states, state_table),
            (rags, rag_table),
            (None, items),
        ],
    )


def _themes(r: YearReport) -> Section:
    chart = Chart(
        key="themes",
        title="Recommendations by theme",
        desc="The themes of the recommendations tracked in the year; recurring themes are"
        " named as such in the table.",
        bars=[Bar(words(t.theme), t.recommendations) for t in r.themes],
    )
    table = Table(
        caption="Themes, recurring first",
        header=["Theme", "recommendations", "reviews", "recurs", "reviews to date"],
        rows=[
            [
                words(t.theme),
                _n(t.recommendations),
                _n(t.reviews),
                "recurring" if t.recurring else "no",
                _n(t.reviews_to_date),
            ]
            for t in r.themes
        ],
    )
    return Section(
        key="themes",
        heading="Themes that recur",
        text=[
            "A theme recurs when recommendations of at least two reviews carry it, by year end.",
        ],
        blocks=[(chart, table)],
    )
