"""The ledger's aggregates and the rules they enforce.

One aggregate per module: :class:`Partnership` (agencies and escalation stages),
:class:`Case` (parties, children, requests), :class:`Challenge` (a disagreement
between agencies, escalated in stages) and :class:`Review` (a serious incident,
its review and recommendations).

Each aggregate has command methods that check a fact against its rules before
recording it (``start`` for the opening fact, ``handle`` for the rest, and
``check`` alone), raising :class:`~ledger.errors.RuleViolation`; ``when`` only
applies a fact to the state, so replaying stored facts never fails. ``state()``
gives the state as plain data.
"""

from __future__ import annotations

from ledger.domain._rules import FUTURE_TOLERANCE, Rule
from ledger.domain.case import Case
from ledger.domain.challenge import Challenge, ChallengeStatus
from ledger.domain.partnership import AgencyEntry, Partnership
from ledger.domain.review import Recommendation, RecommendationStatus, Review

__all__ = [
    "FUTURE_TOLERANCE",
    "AgencyEntry",
    "Case",
    "Challenge",
    "ChallengeStatus",
    "Partnership",
    "Recommendation",
    "RecommendationStatus",
    "Review",
    "Rule",
]
