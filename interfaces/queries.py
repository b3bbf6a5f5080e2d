"""The questions people ask the ledger, as data: one :class:`Query` per answer a view gives.

Commands are data (:data:`schemas.COMMAND_TYPES`); so are the questions. Each
:class:`Query` names its answer (``chronology``, ``opt-outs`` ...), its path under the
HTTP API, its filters (a msgspec Struct whose fields are the query-string parameters
and the command line's options), who may ask it (:class:`Access`), and how the views
answer it. The HTTP GET routes and the ``ledger`` query commands are generated from
:data:`QUERIES`, so a question has the same name, filters and refusals everywhere.

An answer is asked as of an instant or as of now (:class:`Ask`): the caller chooses
the views (the live ones, or the views as the ledger stood at ``as_of``) and the day
the views evaluate overdue-ness on (London's date of ``as_of``, or today).
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Final, Literal, TypeAlias

import msgspec

from ledger.errors import LedgerError
from projections import Views
from projections.challenges import AgencyChallengeCounts, ChallengeSummary
from projections.challenges import Role as ChallengeRole
from projections.challenges import Status as ChallengeStatus
from projections.chronology import Chronology
from projections.directory import AgencySummary, CaseSummary, PartnershipSummary
from projections.key_moments import CaseKeyMoments, KeyMomentSummary
from projections.optouts import OptOutEntry, QuarterCount, RepeatPattern, Standing
from projections.recommendations import (
    Period,
    RecommendationState,
    RecommendationStatus,
    RecurringTheme,
    ReviewSummary,
    ThemeCount,
)
from projections.timeliness import ClockRow, RulePerformance
from projections.timeliness import Status as ClockStatus
from runtime.tokens import Role
from schemas import AgencyId, CaseId, ChallengeMatter, ReviewId

__all__ = [
    "QUERIES",
    "Access",
    "Answer",
    "Ask",
    "Caller",
    "NoFilters",
    "Query",
    "ReadRefused",
    "permit",
]

Answer: TypeAlias = msgspec.Struct | Sequence[msgspec.Struct]

_RuleName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_]{0,63}$", max_length=64)]
_Limit = Annotated[int, msgspec.Meta(ge=1, le=1000)]
_Year = Annotated[int, msgspec.Meta(ge=1900, le=9999)]


class Access(enum.Enum):
    """Who may ask a question (an admin asks only :attr:`DIRECTORY` questions)."""

    #: Everyone with a token of the partnership: partnerships and agencies.
    DIRECTORY = "directory"
    #: The board and the inspector; an agency sees only what it is party to, the
    #: query's :attr:`Query.own` narrowing its filters to itself.
    OWN = "own"
    #: The board, the inspector, and an agency that is a party to the case now.
    CASE = "case"
    #: The board and the inspector only: partnership-wide figures.
    PARTNERSHIP = "partnership"
    #: The board only (who read which child's record).
    BOARD = "board"


class ReadRefused(LedgerError, PermissionError):
    """The caller may not ask this question: answered 403 with :attr:`reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class Caller:
    """Who asks: a token's role, partnership and agency (``None`` for the local operator)."""

    role: Role
    partnership: str
    agency: str | None = None


class NoFilters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A question with nothing to filter on."""


class CaseFilters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agency: AgencyId | None = None
    state: Literal["open", "closed"] | None = None
    after: CaseId | None = None
    limit: _Limit = 100


class OptOutFilters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agency: AgencyId | None = None
    kind: str | None = None
    case: CaseId | None = None
    date_from: date | None = None
    date_to: date | None = None
    standing: Standing | None = None


class QuarterFilters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    year: _Year | None = None


class RepeatFilters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    threshold: Annotated[int, msgspec.Meta(ge=2, le=10_000)] = 3
    within_days: Annotated[int, msgspec.Meta(ge=1, le=36_600)] = 365
    include_decisions_not_to_share: bool = False


class ClockFilters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    rule: _RuleName | None = None
    agency: AgencyId | None = None
    status: ClockStatus | None = None


class ChallengeFilters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agency: AgencyId | None = None
    role: ChallengeRole | None = None
    case: CaseId | None = None
    matter: ChallengeMatter | None = None
    date_from: date | None = None
    date_to: date | None = None
    status: ChallengeStatus | None = None


class RecommendationFilters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    review: ReviewId | None = None
    owner: AgencyId | None = None
    status: RecommendationState | None = None
    theme: str | None = None


class ThemeFilters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    period: Period = "year"


class RecurringFilters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    min_reviews: Annotated[int, msgspec.Meta(ge=2, le=10_000)] = 2
    period: Period = "year"


class PeriodFilters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True, kw_only=True)
class Ask:
    """One question as asked: its partnership, case, evaluation day and filters.

    ``day`` is the day the views evaluate "overdue" on: London's date of ``as_of``, or
    today when the question is about now (``as_of`` is ``None``).
    """

    partnership: str
    filters: Any
    day: date
    as_of: datetime | None = None
    case: str | None = None


@dataclass(frozen=True, kw_only=True)
class Query:
    """One question: its name, path, filters, who may ask it and how the views answer it."""

    #: The command-line subcommand and the route's name (``opt-outs``).
    name: str
    #: The path under the API, ``{partnership}`` and ``{case}`` filled in by the caller.
    path: str
    #: The first line of the help and of the OpenAPI operation's summary.
    summary: str
    access: Access
    answer: Callable[[Views, Ask], Answer]
    #: The answer's type: a Struct, or ``list[Struct]`` for a list (paged over HTTP).
    returns: Any
    #: The views the answer reads (the directory too: every question checks that its
    #: partnership and case exist there); a read ``after`` a sequence waits for these.
    reads: tuple[str, ...] = ("directory",)
    filters: type[msgspec.Struct] = NoFilters
    #: For a list the view pages itself by keyset: the item field whose value is the
    #: next page's ``after`` filter (the filters then have ``after`` and ``limit``).
    keyset: str | None = None
    #: For :attr:`Access.OWN`: the filters narrowed to the asking agency.
    own: Callable[[Any, str], Any] | None = None
    #: Has a case in its path (``{case}``).
    per_case: bool = False
    #: Offers the review-chronology column layout (``format=review``).
    review_layout: bool = False
    #: Each answer is recorded in the access log (who read which child's record).
    logged: bool = False
    #: The answer honours :attr:`Ask.as_of` on the live views (the chronology keeps
    #: every row's ``recorded_at``), so asking it as of an instant needs no replay.
    answers_as_of: bool = False

    @property
    def is_list(self) -> bool:
        """Whether the answer is a list (``returns`` is ``list[...]``)."""
        return typing.get_origin(self.returns) is list


def _narrow(field: str) -> Callable[[Any, str], Any]:
    """Filters with ``field`` set to the asking agency (refused if it names another)."""

    def narrow(filters: Any, agency: str) -> Any:
        asked = getattr(filters, field)
        if asked is not None and asked != agency:
            raise ReadRefused(
                f"{field} '{asked}' is not the token's agency '{agency}'"
                " (an agency reads only what it is party to)"
            )
        return msgspec.structs.replace(filters, **{field: agency})

    return narrow


def permit(
    query: Query,
    caller: Caller,
    views: Views,
    ask: Ask,
    *,
    is_party: Callable[[str, str, str], bool] | None = None,
) -> Ask:
    """``ask`` as ``caller`` may ask it (an agency's filters narrowed), else :class:`ReadRefused`.

    Checked against the views as they stand now: an agency that has left a case
    no longer reads it, even as of a day it was a party. ``is_party`` answers that
    (partnership, case, agency) question instead of ``views.directory.is_party``, raising
    :class:`~projections.errors.UnknownEntity` as it does (a read that asked the views
    for it already, in the same statement as the rest of its checks).
    """
    if ask.partnership != caller.partnership:
        raise ReadRefused(
            f"the token is for partnership '{caller.partnership}', not '{ask.partnership}'"
        )
    access = query.access
    readers = _READERS[access]
    if caller.role in readers:
        return ask
    if caller.role is Role.AGENCY and caller.agency is not None:
        if access is Access.OWN and query.own is not None:
            return Ask(
                partnership=ask.partnership,
                filters=query.own(ask.filters, caller.agency),
                day=ask.day,
                as_of=ask.as_of,
                case=ask.case,
            )
        if access is Access.CASE and ask.case is not None:
            party = is_party or views.directory.is_party
            if not party(ask.partnership, ask.case, caller.agency):
                raise ReadRefused(
                    f"agency '{caller.agency}' is not a party to case '{ask.case}'"
                    " (an agency reads only the cases it is party to now)"
                )
            return ask
    raise ReadRefused(f"{_article(caller.role.value)} token may not read {query.name}")


#: The roles that read everything a question answers (an agency is handled by
#: :func:`permit`: narrowed to its own, or checked to be a party to the case).
_READERS: Final[dict[Access, frozenset[Role]]] = {
    Access.DIRECTORY: frozenset(Role),
    Access.OWN: frozenset({Role.BOARD, Role.INSPECTOR}),
    Access.CASE: frozenset({Role.BOARD, Role.INSPECTOR}),
    Access.PARTNERSHIP: frozenset({Role.BOARD, Role.INSPECTOR}),
    Access.BOARD: frozenset({Role.BOARD}),
}


def _article(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


_P: Final = "/partnerships/{partnership}"
_C: Final = _P + "/cases/{case}"

#: Every question, by name.
QUERIES: Final[dict[str, Query]] = {
    q.name: q
    for q in (
        Query(
            name="partnership",
            returns=PartnershipSummary,
            path=_P,
            summary="The partnership: its nation and when it was established.",
            access=Access.DIRECTORY,
            answer=lambda v, a: v.directory.partnership(a.partnership),
        ),
        Query(
            name="agencies",
            returns=list[AgencySummary],
            path=_P + "/agencies",
            summary="The agencies registered in the partnership.",
            access=Access.DIRECTORY,
            answer=lambda v, a: v.directory.agencies(a.partnership),
        ),
        Query(
            name="cases",
            returns=list[CaseSummary],
            keyset="case",
            path=_P + "/cases",
            summary="The cases, with their lead agency, parties and state (open or closed).",
            access=Access.OWN,
            filters=CaseFilters,
            own=_narrow("agency"),
            answer=lambda v, a: v.directory.cases(
                a.partnership,
                agency=a.filters.agency,
                state=a.filters.state,
                after=a.filters.after,
                limit=a.filters.limit,
            ),
        ),
        Query(
            name="case",
            returns=CaseSummary,
            path=_C,
            summary="One case: its lead agency, parties now and before, and state.",
            access=Access.CASE,
            per_case=True,
            answer=lambda v, a: v.directory.case(a.partnership, _case(a)),
        ),
        Query(
            name="chronology",
            returns=Chronology,
            reads=("directory", "chronology"),
            path=_C + "/chronology",
            summary="The multi-agency chronology of a case, in the order things happened.",
            access=Access.CASE,
            per_case=True,
            review_layout=True,
            logged=True,
            answers_as_of=True,
            answer=lambda v, a: v.chronology.chronology(a.partnership, _case(a), as_of=a.as_of),
        ),
        Query(
            name="key-moments",
            returns=CaseKeyMoments,
            reads=("directory", "key_moments"),
            path=_C + "/key-moments",
            summary="Delay from concern to protective action; who was seen alone before decisions.",
            access=Access.CASE,
            per_case=True,
            answer=lambda v, a: v.key_moments.case(a.partnership, _case(a)),
        ),
        Query(
            name="key-moment-summary",
            returns=KeyMomentSummary,
            reads=("directory", "key_moments"),
            path=_P + "/key-moments",
            summary="Across the partnership: delays to protective action, children not seen alone.",
            access=Access.PARTNERSHIP,
            filters=PeriodFilters,
            answer=lambda v, a: v.key_moments.summary(
                a.partnership, date_from=a.filters.date_from, date_to=a.filters.date_to
            ),
        ),
        Query(
            name="opt-outs",
            returns=list[OptOutEntry],
            reads=("directory", "optouts"),
            path=_P + "/opt-outs",
            summary="Where partners opted out: refusals, unanswered requests, rejections.",
            access=Access.PARTNERSHIP,
            filters=OptOutFilters,
            answer=lambda v, a: v.optouts.entries(
                a.partnership,
                agency=a.filters.agency,
                kind=a.filters.kind,
                case=a.filters.case,
                date_from=a.filters.date_from,
                date_to=a.filters.date_to,
                standing=a.filters.standing,
                as_of=a.day,
            ),
        ),
        Query(
            name="opt-outs-by-quarter",
            returns=list[QuarterCount],
            reads=("directory", "optouts"),
            path=_P + "/opt-outs/by-quarter",
            summary="Opt-outs counted per agency, quarter and kind.",
            access=Access.PARTNERSHIP,
            filters=QuarterFilters,
            answer=lambda v, a: v.optouts.counts_by_quarter(a.partnership, year=a.filters.year),
        ),
        Query(
            name="repeat-refusers",
            returns=list[RepeatPattern],
            reads=("directory", "optouts"),
            path=_P + "/opt-outs/repeated",
            summary="Agencies that refused again and again within a window.",
            access=Access.PARTNERSHIP,
            filters=RepeatFilters,
            answer=lambda v, a: v.optouts.repeated(
                a.partnership,
                threshold=a.filters.threshold,
                within_days=a.filters.within_days,
                include_decisions_not_to_share=a.filters.include_decisions_not_to_share,
                as_of=a.day,
            ),
        ),
        Query(
            name="timeliness",
            returns=list[ClockRow],
            reads=("directory", "timeliness"),
            path=_P + "/timeliness",
            summary="Every statutory clock: on time, late by how much, open or overdue.",
            access=Access.PARTNERSHIP,
            filters=ClockFilters,
            answer=lambda v, a: v.timeliness.clocks(
                a.partnership,
                as_of=a.day,
                rule=a.filters.rule,
                agency=a.filters.agency,
                status=a.filters.status,
            ),
        ),
        Query(
            name="timeliness-by-rule",
            returns=list[RulePerformance],
            reads=("directory", "timeliness"),
            path=_P + "/timeliness/by-rule",
            summary="Performance against each statutory rule, per agency.",
            access=Access.PARTNERSHIP,
            answer=lambda v, a: v.timeliness.performance(a.partnership, as_of=a.day),
        ),
        Query(
            name="challenges",
            returns=list[ChallengeSummary],
            reads=("directory", "challenges"),
            path=_P + "/challenges",
            summary="Challenges between partners, their stages and time at each stage.",
            access=Access.OWN,
            filters=ChallengeFilters,
            own=_narrow("agency"),
            answer=lambda v, a: v.challenges.challenges(
                a.partnership,
                agency=a.filters.agency,
                role=a.filters.role,
                case=a.filters.case,
                matter=a.filters.matter,
                date_from=a.filters.date_from,
                date_to=a.filters.date_to,
                status=a.filters.status,
            ),
        ),
        Query(
            name="open-challenges",
            returns=list[ChallengeSummary],
            reads=("directory", "challenges"),
            path=_P + "/challenges/open",
            summary="The challenges open on the day, with the days each stage is overdue.",
            access=Access.PARTNERSHIP,
            answer=lambda v, a: v.challenges.open_challenges(a.partnership, as_of=a.day),
        ),
        Query(
            name="challenges-by-agency",
            returns=list[AgencyChallengeCounts],
            reads=("directory", "challenges"),
            path=_P + "/challenges/by-agency",
            summary="Per agency: challenges raised and received, open, overdue and resolved.",
            access=Access.PARTNERSHIP,
            answer=lambda v, a: v.challenges.by_agency(a.partnership, as_of=a.day),
        ),
        Query(
            name="reviews",
            returns=list[ReviewSummary],
            reads=("directory", "recommendations"),
            path=_P + "/reviews",
            summary="Serious incidents, rapid reviews and commissioned and published reviews.",
            access=Access.PARTNERSHIP,
            answer=lambda v, a: v.recommendations.reviews(a.partnership, as_of=a.day),
        ),
        Query(
            name="recommendations",
            returns=list[RecommendationStatus],
            reads=("directory", "recommendations"),
            path=_P + "/recommendations",
            summary="Each recommendation: its owner, due date and red/amber/green status.",
            access=Access.OWN,
            filters=RecommendationFilters,
            own=_narrow("owner"),
            answer=lambda v, a: v.recommendations.recommendations(
                a.partnership,
                review=a.filters.review,
                owner=a.filters.owner,
                status=a.filters.status,
                theme=a.filters.theme,
                as_of=a.day,
            ),
        ),
        Query(
            name="themes",
            returns=list[ThemeCount],
            reads=("directory", "recommendations"),
            path=_P + "/themes",
            summary="The themes of recommendations, counted per year or quarter.",
            access=Access.PARTNERSHIP,
            filters=ThemeFilters,
            answer=lambda v, a: v.recommendations.themes(a.partnership, period=a.filters.period),
        ),
        Query(
            name="recurring-themes",
            returns=list[RecurringTheme],
            reads=("directory", "recommendations"),
            path=_P + "/themes/recurring",
            summary="Themes that recur across reviews.",
            access=Access.PARTNERSHIP,
            filters=RecurringFilters,
            answer=lambda v, a: v.recommendations.recurring_themes(
                a.partnership, min_reviews=a.filters.min_reviews, period=a.filters.period
            ),
        ),
    )
}


def _case(ask: Ask) -> str:
    if ask.case is None:  # per_case queries are always asked with a case
        raise ValueError("a per-case question asked without a case")
    return ask.case
