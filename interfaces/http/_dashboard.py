"""The partnership dashboard's sections, shaped from the answers the API gives.

Each section is built from the answers of questions of :data:`interfaces.queries.QUERIES`
(the same the API serves, asked by :mod:`interfaces.http._pages` with the same permission
checks), so a figure on the page is one the API gives for the same ``as_of``:

- opt-outs by agency and quarter (``opt-outs-by-quarter``, summed over kinds), with the
  repeat refusers of ``repeat-refusers`` marked;
- late and overdue statutory clocks by agency and rule (``timeliness-by-rule``: the
  agency-rule pairs with a late or an overdue clock);
- open challenges by stage and age (``open-challenges``: age in calendar days since raised);
- recommendations by red/amber/green, overdue ones first (``recommendations``);
- recurring themes (``recurring-themes``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from interfaces.http._charts import Bar, Chart, bar_chart
from interfaces.http._page_kit import RAG_ORDER, overdue_first
from projections.challenges import ChallengeSummary
from projections.optouts import QuarterCount, RepeatPattern
from projections.recommendations import RecommendationStatus, RecurringTheme
from projections.timeliness import RulePerformance

__all__ = [
    "ChallengeRow",
    "OptOutRow",
    "Sections",
    "sections",
]

#: Red first: the order a board reads recommendations in.


@dataclass(frozen=True, kw_only=True)
class OptOutRow:
    agency: str
    by_quarter: dict[str, int]
    total: int
    repeat: RepeatPattern | None


@dataclass(frozen=True, kw_only=True)
class ChallengeRow:
    challenge: ChallengeSummary
    age_days: int
    overdue: bool


@dataclass(frozen=True, kw_only=True)
class Sections:
    """Everything the dashboard shows, with a chart per section."""

    day: date
    quarters: list[str]
    optouts: list[OptOutRow]
    optouts_chart: Chart
    clocks: list[RulePerformance]
    clocks_chart: Chart
    challenges: list[ChallengeRow]
    challenges_by_stage: list[tuple[int, int]]
    challenges_chart: Chart
    recommendations: list[RecommendationStatus]
    rag_counts: list[tuple[str, int]]
    recommendations_chart: Chart
    themes: list[RecurringTheme]
    themes_chart: Chart


def sections(
    *,
    day: date,
    by_quarter: Sequence[QuarterCount],
    repeat: Sequence[RepeatPattern],
    performance: Sequence[RulePerformance],
    open_challenges: Sequence[ChallengeSummary],
    recommendations: Sequence[RecommendationStatus],
    themes: Sequence[RecurringTheme],
) -> Sections:
    """The dashboard's sections from the answers, evaluated on ``day``."""
    quarters = sorted({c.quarter for c in by_quarter})
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for c in by_quarter:
        counts[c.agency][c.quarter] += c.count
    repeaters = {r.agency: r for r in repeat}
    optouts = [
        OptOutRow(
            agency=agency,
            by_quarter=dict(per),
            total=sum(per.values()),
            repeat=repeaters.get(agency),
        )
        for agency, per in sorted(counts.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    ]
    optouts_chart = bar_chart(
        "optouts-chart",
        "Opt-outs by agency",
        "Every opt-out recorded against each agency, all quarters together;"
        " repeat refusers are marked in their label.",
        [
            Bar(
                label=f"{r.agency}{' (repeat refuser)' if r.repeat else ''}",
                value=r.total,
                kind="repeat" if r.repeat else "plain",
            )
            for r in optouts
        ],
    )

    clocks = sorted(
        (p for p in performance if p.late or p.overdue),
        key=lambda p: (-p.overdue, -p.late, p.rule, p.agency),
    )
    per_rule: dict[str, list[int]] = {}
    for p in clocks:
        figures = per_rule.setdefault(p.title, [0, 0])
        figures[0] += p.overdue
        figures[1] += p.late
    clocks_chart = bar_chart(
        "clocks-chart",
        "Overdue and late statutory clocks by rule",
        "For each rule, the clocks still running past their limit (overdue) and the"
        " clocks that stopped after it (late), all agencies together.",
        [
            bar
            for title, (overdue, late) in sorted(per_rule.items())
            for bar in (
                Bar(label=f"{title}: overdue", value=overdue, kind="overdue"),
                Bar(label=f"{title}: late", value=late, kind="late"),
            )
        ],
    )

    challenges = sorted(
        (
            ChallengeRow(
                challenge=c,
                age_days=(day - c.raised_on).days,
                overdue=any(s.status == "open" and day > s.due_on for s in c.stages),
            )
            for c in open_challenges
        ),
        key=lambda r: (-r.age_days, r.challenge.challenge),
    )
    stages = Counter(c.current_stage for c in open_challenges)
    by_stage = sorted(stages.items())
    challenges_chart = bar_chart(
        "challenges-chart",
        "Open challenges by stage",
        "How many challenges between partners are open at each escalation stage.",
        [Bar(label=f"Stage {stage}", value=n) for stage, n in by_stage],
    )

    ordered = overdue_first(recommendations)
    rag = Counter(str(r.rag) for r in recommendations)
    rag_counts = [(word, rag.get(word, 0)) for word in RAG_ORDER]
    recommendations_chart = bar_chart(
        "recommendations-chart",
        "Recommendations by red, amber and green status",
        "How many review recommendations are red, amber and green.",
        [Bar(label=word.capitalize(), value=n, kind=word) for word, n in rag_counts],
    )

    themes_sorted = sorted(themes, key=lambda t: (-t.reviews, -t.recommendations, str(t.theme)))
    themes_chart = bar_chart(
        "themes-chart",
        "Recurring themes across reviews",
        "For each theme raised by several reviews, how many reviews raised it.",
        [Bar(label=str(t.theme), value=t.reviews) for t in themes_sorted],
    )
    return Sections(
        day=day,
        quarters=quarters,
        optouts=optouts,
        optouts_chart=optouts_chart,
        clocks=clocks,
        clocks_chart=clocks_chart,
        challenges=challenges,
        challenges_by_stage=by_stage,
        challenges_chart=challenges_chart,
        recommendations=ordered,
        rag_counts=rag_counts,
        recommendations_chart=recommendations_chart,
        themes=themes_sorted,
        themes_chart=themes_chart,
    )
