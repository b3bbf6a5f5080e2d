"""Random command sequences for the replay property tests (unit: in memory; integration: NATS).

``OPERATIONS`` draws commands of every kind on a small fixed cast; many are refused by
the rules, which is the point: refused commands must leave no trace either.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from hypothesis import strategies as st
from ledger_scenario import (
    CHILD,
    HEALTH,
    LA,
    PARTNERSHIP,
    POLICE,
    T0,
    FixedClock,
    command,
    establish,
)

from ledger.application import Ledger
from ledger.errors import AggregateNotFound, RuleViolation

AGENCIES = ["la", "police", "health", "school"]
CASES = ["c-1", "c-2"]
CHALLENGES = ["d-1", "d-2"]
REVIEWS = ["sr-1"]
CHILDREN = [CHILD, "ch_1111111111111111", "ch_2222222222222222"]

agencies = st.sampled_from(AGENCIES)
cases = st.sampled_from([*CASES, "c-1"])  # mostly the case the scenario opens
challenges = st.sampled_from([*CHALLENGES, "d-1"])
reviews = st.sampled_from(REVIEWS)
children = st.sampled_from(CHILDREN)
requests = st.sampled_from(["rq-1", "rq-2", "rq-3"])
recommendations = st.sampled_from(["rec-1", "rec-2"])
stages = st.integers(min_value=1, max_value=4)


recorders = st.sampled_from(["la", *AGENCIES])


def by(agency: str) -> dict[str, str]:
    return {"agency": agency, "actor": f"act_{agency}_0001"}


def op(
    command_name: str, /, **strategies: st.SearchStrategy[Any]
) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """Command ``command_name`` with arguments drawn from ``strategies``; ``by`` records it."""

    def build(values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        values = dict(values)
        values["recorded_by"] = by(values.pop("by"))
        return command_name, values

    return st.fixed_dictionaries({"by": recorders, **strategies}).map(build)


OPERATIONS = st.one_of(
    op(
        "register_agency",
        agency=agencies,
        name=st.just("An agency"),
        kind=st.just("other"),
        role=st.just("relevant_agency"),
    ),
    op(
        "open_case",
        case=cases,
        children=st.lists(children, min_size=1, max_size=2, unique=True).map(
            lambda cs: [{"child": c, "age_band": "5_9"} for c in cs]
        ),
    ),
    op("join_case", case=cases, agency=agencies),
    op("leave_case", case=cases, agency=agencies),
    op(
        "record_action",
        case=cases,
        action=st.sampled_from(["home_visit", "child_seen"]),
        child=children,
    ),
    op(
        "link_child_identifier",
        case=cases,
        child=children,
        linked=children,
        identifier_kind=st.just("upn"),
    ),
    op(
        "unlink_child_identifier",
        case=cases,
        child=children,
        linked=children,
        identifier_kind=st.just("upn"),
    ),
    op("request_information", case=cases, request=requests, to_agency=agencies),
    op("provide_information", case=cases, request=requests),
    op(
        "refuse_cooperation",
        case=cases,
        agency=agencies,
        kind=st.just("information_withheld"),
        basis=st.just("no_stated_basis"),
        request=st.none() | requests,
    ),
    op("raise_concern", case=cases, concern=st.sampled_from(["k1", "k2"]), kind=st.just("neglect")),
    op("close_case", case=st.just("c-2"), reason=st.just("no_further_action")),
    op(
        "raise_challenge",
        challenge=challenges,
        against_agency=agencies,
        matter=st.just("other"),
        summary=st.just("A disagreement."),
        stage=stages,
        case=st.none() | cases,
    ),
    op("respond_to_challenge", challenge=challenges, stage=stages, response=st.just("A response.")),
    op("escalate_challenge", challenge=challenges, to_stage=stages),
    op("resolve_challenge", challenge=challenges, outcome=st.just("upheld")),
    op("withdraw_challenge", challenge=challenges),
    op(
        "notify_serious_incident",
        review=reviews,
        child=children,
        incident=st.just("death"),
        became_aware_at=st.just(T0),
        notified_panel_at=st.just(T0),
    ),
    op("commission_review", review=reviews, level=st.just("local"), commissioned_at=st.just(T0)),
    op("publish_review", review=reviews, published_at=st.just(T0)),
    op(
        "issue_recommendation",
        review=reviews,
        recommendation=recommendations,
        owner=agencies,
        due=st.just(date(2026, 6, 1)),
        theme=st.just("other"),
        text=st.just("Do better."),
    ),
    op("accept_recommendation", review=reviews, recommendation=recommendations),
    op(
        "reject_recommendation",
        review=reviews,
        recommendation=recommendations,
        basis=st.just("No."),
    ),
    op(
        "report_recommendation_progress",
        review=reviews,
        recommendation=recommendations,
        status=st.just("amber"),
    ),
    op("implement_recommendation", review=reviews, recommendation=recommendations),
)


def live_states(ledger: Ledger) -> dict[str, Any]:
    """The state of every aggregate of the scenario that exists, by id."""
    reads: list[tuple[str, Callable[[], Any]]] = [
        ("partnership", lambda: ledger.get_partnership(PARTNERSHIP))
    ]
    reads += [(f"case {c}", lambda c=c: ledger.get_case(PARTNERSHIP, c)) for c in CASES]
    reads += [
        (f"challenge {d}", lambda d=d: ledger.get_challenge(PARTNERSHIP, d)) for d in CHALLENGES
    ]
    reads += [(f"review {r}", lambda r=r: ledger.get_review(PARTNERSHIP, r)) for r in REVIEWS]
    states: dict[str, Any] = {}
    for name, read in reads:
        try:
            states[name] = read().state()
        except AggregateNotFound:
            states[name] = None
    return states


def play(
    live: Ledger, clock: FixedClock, operations: list[tuple[str, dict[str, Any]]]
) -> list[Any]:
    """Set the scene, run ``operations`` (skipping refused ones) and return the receipts."""
    establish(live, LA, POLICE, HEALTH)
    receipts = [
        command(
            live,
            "open_case",
            case="c-1",
            recorded_by=LA,
            children=[{"child": CHILD, "age_band": "5_9"}],
        ),
        command(live, "join_case", case="c-1", recorded_by=LA, agency="police"),
        command(live, "join_case", case="c-1", recorded_by=LA, agency="health"),
        command(
            live,
            "raise_challenge",
            challenge="d-1",
            recorded_by=LA,
            against_agency="police",
            matter="other",
            summary="A disagreement.",
        ),
        command(
            live,
            "notify_serious_incident",
            review="sr-1",
            recorded_by=LA,
            child=CHILD,
            incident="death",
            became_aware_at=T0,
            notified_panel_at=T0,
        ),
    ]
    for name, arguments in operations:
        clock.advance(minutes=1)
        try:
            receipts.append(command(live, name, **arguments))
        except (RuleViolation, AggregateNotFound):
            continue
    return receipts
