"""Random commands of every kind on a small cast, for the view property tests.

``random_commands()`` draws (command name, arguments) pairs; many are refused by the
ledger's rules, which write nothing, so what is recorded is always a valid stream with
late recordings, out-of-order occurrences, refusals, challenges at several stages and
reviews among it. ``set_up`` establishes the cast (la, police, health, school), opens
``c-1`` and notifies a serious incident about it (review ``rv1``).

A plain module (not a conftest) so that test modules can import its names.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st
from ledger_scenario import (
    CHILD,
    HEALTH,
    LA,
    PARTNERSHIP,
    POLICE,
    SCHOOL,
    SIBLING,
    FixedClock,
    establish,
)

from ledger.application import Ledger

AGENCIES = [LA, POLICE, HEALTH, SCHOOL]
NAMES = [a["agency"] for a in AGENCIES]
CASES = ["c-1", "c-2"]
ACTIONS = [
    "referral_received",
    "referral_decision",
    "strategy_discussion",
    "section47_started",
    "assessment_completed",
    "initial_conference",
    "review_conference",
    "child_seen",
    "home_visit",
]
OUTCOMES = ["section47", "section17", "no_further_action", "protection_plan"]


def random_commands() -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    agency = st.sampled_from(NAMES)
    who = st.sampled_from(AGENCIES)
    case = st.sampled_from(CASES)
    small = st.sampled_from(["r1", "r2"])
    return st.one_of(
        st.tuples(
            st.just("open_case"),
            st.fixed_dictionaries(
                {
                    "case": case,
                    "recorded_by": who,
                    "children": st.just([{"child": SIBLING, "age_band": "under_1"}]),
                }
            ),
        ),
        st.tuples(
            st.just("join_case"),
            st.fixed_dictionaries({"case": case, "recorded_by": who, "agency": agency}),
        ),
        st.tuples(
            st.just("leave_case"),
            st.fixed_dictionaries({"case": case, "recorded_by": who, "agency": agency}),
        ),
        st.tuples(
            st.just("record_action"),
            st.fixed_dictionaries(
                {
                    "case": case,
                    "recorded_by": who,
                    "action": st.sampled_from(ACTIONS),
                    "child": st.sampled_from([CHILD, SIBLING]),
                    "seen": st.booleans(),
                    "seen_alone": st.booleans(),
                    "outcome": st.sampled_from(OUTCOMES),
                }
            ),
        ),
        st.tuples(
            st.just("raise_concern"),
            st.fixed_dictionaries(
                {
                    "case": case,
                    "recorded_by": who,
                    "concern": small,
                    "kind": st.sampled_from(["significant_harm", "neglect"]),
                }
            ),
        ),
        st.tuples(
            st.just("request_information"),
            st.fixed_dictionaries(
                {"case": case, "recorded_by": who, "request": small, "to_agency": agency}
            ),
        ),
        st.tuples(
            st.just("provide_information"),
            st.fixed_dictionaries({"case": case, "recorded_by": who, "request": small}),
        ),
        st.tuples(
            st.just("refuse_cooperation"),
            st.fixed_dictionaries(
                {
                    "case": case,
                    "recorded_by": who,
                    "agency": agency,
                    "kind": st.sampled_from(
                        ["information_withheld", "meeting_not_attended", "request_not_answered"]
                    ),
                    "basis": st.sampled_from(["more_detrimental_to_child", "no_stated_basis"]),
                }
            ),
        ),
        st.tuples(
            st.just("close_case"),
            st.fixed_dictionaries(
                {"case": case, "recorded_by": who, "reason": st.just("no_further_action")}
            ),
        ),
        st.tuples(
            st.just("raise_challenge"),
            st.fixed_dictionaries(
                {
                    "challenge": small,
                    "recorded_by": who,
                    "against_agency": agency,
                    "matter": st.just("threshold_decision"),
                    "summary": st.just("s"),
                    "case": case,
                }
            ),
        ),
        st.tuples(
            st.just("respond_to_challenge"),
            st.fixed_dictionaries(
                {
                    "challenge": small,
                    "recorded_by": who,
                    "stage": st.integers(1, 3),
                    "response": st.just("r"),
                }
            ),
        ),
        st.tuples(
            st.just("escalate_challenge"),
            st.fixed_dictionaries(
                {"challenge": small, "recorded_by": who, "to_stage": st.integers(2, 3)}
            ),
        ),
        st.tuples(
            st.just("resolve_challenge"),
            st.fixed_dictionaries(
                {"challenge": small, "recorded_by": who, "outcome": st.just("agreed")}
            ),
        ),
        st.tuples(
            st.just("issue_recommendation"),
            st.fixed_dictionaries(
                {
                    "review": st.just("rv1"),
                    "recorded_by": who,
                    "recommendation": small,
                    "owner": agency,
                    "due": st.dates(date(2026, 1, 1), date(2026, 12, 31)),
                    "theme": st.sampled_from(["information_sharing", "voice_of_the_child"]),
                    "text": st.just("t"),
                }
            ),
        ),
        st.tuples(
            st.just("reject_recommendation"),
            st.fixed_dictionaries(
                {
                    "review": st.just("rv1"),
                    "recorded_by": who,
                    "recommendation": small,
                    "basis": st.just("b"),
                }
            ),
        ),
        st.tuples(
            st.just("implement_recommendation"),
            st.fixed_dictionaries(
                {"review": st.just("rv1"), "recorded_by": who, "recommendation": small}
            ),
        ),
    )


def set_up(ledger: Ledger, clock: FixedClock) -> None:
    establish(ledger, LA, POLICE, HEALTH, SCHOOL)
    ledger.open_case(
        partnership=PARTNERSHIP,
        case="c-1",
        recorded_by=LA,
        children=[{"child": CHILD, "age_band": "5_9"}],
    )
    ledger.notify_serious_incident(
        partnership=PARTNERSHIP,
        review="rv1",
        recorded_by=LA,
        child=CHILD,
        incident="serious_harm",
        became_aware_at=clock.now - timedelta(days=3),
        notified_panel_at=clock.now,
        case="c-1",
    )
