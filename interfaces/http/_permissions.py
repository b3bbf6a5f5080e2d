"""Which commands each role may send: the table the command routes check first.

From issue 10's roles. An agency records on the cases it is party to (opening one,
its parties and child tokens, its actions, information requests and answers,
refusals, concerns, late-recording explanations, closing), raises, answers, escalates
and withdraws challenges as itself, and answers for the recommendations it owns. A
board raises and resolves challenges, notifies serious incidents, and commissions,
completes and publishes reviews and issues their recommendations. An inspector
writes nothing. An admin establishes the partnership, registers agencies and keys, revokes
keys and requires signatures from a date.
The domain's own rules (a party records on a case, the challenged agency responds ...)
still apply after this table lets a command through.
"""

from __future__ import annotations

from typing import Final

from runtime.tokens import Role

__all__ = ["MAY_SEND"]

#: Role -> the tags of the commands it may send.
MAY_SEND: Final[dict[Role, frozenset[str]]] = {
    Role.AGENCY: frozenset(
        {
            "OpenCase",
            "LinkChildIdentifier",
            "UnlinkChildIdentifier",
            "RecordUnknownIdentifier",
            "JoinCase",
            "LeaveCase",
            "RecordAction",
            "RequestInformation",
            "ProvideInformation",
            "RefuseCooperation",
            "RaiseConcern",
            "ExplainLateRecording",
            "CloseCase",
            "RaiseChallenge",
            "RespondToChallenge",
            "EscalateChallenge",
            "WithdrawChallenge",
            "AcceptRecommendation",
            "RejectRecommendation",
            "ReportRecommendationProgress",
            "ImplementRecommendation",
        }
    ),
    Role.BOARD: frozenset(
        {
            "RaiseChallenge",
            "ResolveChallenge",
            "NotifySeriousIncident",
            "CompleteRapidReview",
            "CommissionReview",
            "PublishReview",
            "IssueRecommendation",
        }
    ),
    Role.INSPECTOR: frozenset(),
    Role.ADMIN: frozenset(
        {
            "EstablishPartnership",
            "RegisterAgency",
            "RegisterAgencyKey",
            "RevokeAgencyKey",
            "RequireSignatures",
        }
    ),
}
