"""The case aggregate: one multi-agency safeguarding case and who may record on it.

The case knows its parties (the agencies that may record on it, the lead among
them), its children's pseudonymous tokens and the links between them, the
information requests still open, the concerns raised, and whether it is closed.
Whether an agency is registered at all is the partnership's business, so
commands that bring an agency in take the :class:`~ledger.domain.Partnership`.
"""

from __future__ import annotations

from typing import Any, Final, cast

from ledger._aggregate import LedgerAggregate, register_aggregate, split_aggregate_id
from ledger.domain._rules import Rule, check_occurred_at, violation
from ledger.domain.partnership import Partnership
from ledger.errors import InvalidCommand
from schemas import (
    ActionRecorded,
    AgeBand,
    AgencyJoinedCase,
    AgencyLeftCase,
    CaseClosed,
    CaseOpened,
    ChildIdentifierLinked,
    ChildIdentifierUnknown,
    ChildIdentifierUnlinked,
    ConcernRaised,
    CooperationRefused,
    InformationProvided,
    InformationRequested,
    LateRecordingExplained,
    tag_of,
)
from schemas import Event as Fact

__all__ = ["Case"]

REGISTERED_FIRST: Final = Rule(
    "registered_before_case",
    "an agency must be registered in the partnership before it opens or joins a case",
)
LEAD_OPENS: Final = Rule("lead_opens", "the agency that opens a case is its lead party")
DISTINCT_CHILDREN: Final = Rule("distinct_children", "a case lists each child once")
OPENED_ONCE: Final = Rule("case_opened_once", "a case is opened once")
PARTY_RECORDS: Final = Rule("party_records", "only an agency party to a case records on it")
NOT_CLOSED: Final = Rule("case_not_closed", "no event is recorded on a closed case")
JOIN_ONCE: Final = Rule("join_once", "an agency joins a case only if it is not already a party")
LEAVE_IF_PARTY: Final = Rule("leave_if_party", "an agency leaves a case only if it is a party")
LEAD_STAYS: Final = Rule("lead_stays", "the lead agency cannot leave its case")
CHILD_OF_CASE: Final = Rule("child_of_case", "a child reference names a child of the case")
LINK_DISTINCT: Final = Rule("link_distinct", "a child token is linked to a different token")
LINK_ONCE: Final = Rule("link_once", "two child tokens are linked once")
UNLINK_LINKED: Final = Rule("unlink_linked", "only linked child tokens can be unlinked")
UNIQUE_REQUEST: Final = Rule("unique_request", "request ids are unique within a case")
REQUEST_PARTIES: Final = Rule(
    "request_between_parties", "information is requested by one party to the case from another"
)
ANSWER_OPEN: Final = Rule("answer_open_request", "information answers an open request")
ADDRESSEE_ANSWERS: Final = Rule(
    "addressee_answers", "only the agency a request was addressed to answers it"
)
REFUSER_IS_PARTY: Final = Rule("refuser_is_party", "a refusal names an agency party to the case")
REFUSED_REQUEST: Final = Rule(
    "refused_request", "a refusal of a request names an open request addressed to that agency"
)
UNIQUE_CONCERN: Final = Rule("unique_concern", "concern ids are unique within a case")


@register_aggregate
class Case(LedgerAggregate):
    """A multi-agency case: its parties, children, open requests and whether it is closed."""

    KIND = "case"

    def __init__(self) -> None:
        self.lead_agency: str = ""
        self.parties: set[str] = set()
        #: child token -> age band when the case was opened
        self.children: dict[str, AgeBand] = {}
        #: linked pairs of child tokens, as recorded (child, linked)
        self.links: set[tuple[str, str]] = set()
        #: every request id ever made -> the agency it was addressed to
        self.requests: dict[str, str] = {}
        self.open_requests: set[str] = set()
        self.concerns: set[str] = set()
        self.closed: bool = False

    @property
    def partnership_id(self) -> str:
        """The partnership the case belongs to."""
        return split_aggregate_id(self.id)[0]

    def is_party(self, agency: str) -> bool:
        """Whether ``agency`` is currently a party to the case."""
        return agency in self.parties

    def knows_child(self, child: str) -> bool:
        """Whether ``child`` is a token of one of the case's children (directly or linked)."""
        return child in self.children or any(child in pair for pair in self.links)

    # -- commands --------------------------------------------------------------------

    @classmethod
    def start(cls, ident: str, fact: CaseOpened, partnership: Partnership) -> Case:
        """Check the opening fact and create the case ``ident`` (an aggregate id)."""
        cls.check_opening(fact, partnership)
        return cast(Case, cls.open(ident, fact))

    @staticmethod
    def check_opening(fact: CaseOpened, partnership: Partnership) -> None:
        """The rules a new case obeys."""
        check_occurred_at(fact)
        partnership.require_registered(
            "recorded_by.agency", fact.recorded_by.agency, REGISTERED_FIRST
        )
        partnership.require_registered("lead_agency", fact.lead_agency, REGISTERED_FIRST)
        if fact.lead_agency != fact.recorded_by.agency:
            raise violation(
                "lead_agency",
                f"'{fact.lead_agency}' is not the opening agency '{fact.recorded_by.agency}'",
                LEAD_OPENS,
            )
        tokens = [subject.child for subject in fact.children]
        if len(set(tokens)) != len(tokens):
            raise violation(
                "children", "lists the same child token more than once", DISTINCT_CHILDREN
            )

    def handle(self, fact: Fact, partnership: Partnership) -> None:
        """Check ``fact`` against the case's rules, then record it."""
        self.check(fact, partnership)
        self.record(fact)

    def check(self, fact: Fact, partnership: Partnership) -> None:
        """Raise a :class:`~ledger.errors.RuleViolation` if ``fact`` may not be recorded now."""
        check_occurred_at(fact)
        if isinstance(fact, CaseOpened):
            raise violation("case", f"'{self.ident}' is already open", OPENED_ONCE)
        if self.closed:
            raise violation("case", f"'{self.ident}' is closed", NOT_CLOSED)
        agency = fact.recorded_by.agency
        if agency not in self.parties:
            raise violation(
                "recorded_by.agency",
                f"'{agency}' is not a party to case '{self.ident}'",
                PARTY_RECORDS,
            )
        match fact:
            case ChildIdentifierLinked():
                self._check_child("child", fact.child)
                if fact.linked == fact.child:
                    raise violation("linked", "is the same token as child", LINK_DISTINCT)
                if self._linked(fact.child, fact.linked):
                    raise violation("linked", "is already linked to child", LINK_ONCE)
            case ChildIdentifierUnlinked():
                if not self._linked(fact.child, fact.linked):
                    raise violation("linked", "is not linked to child", UNLINK_LINKED)
            case ChildIdentifierUnknown():
                self._check_child("child", fact.child)
            case AgencyJoinedCase():
                partnership.require_registered("agency", fact.agency, REGISTERED_FIRST)
                if fact.agency in self.parties:
                    raise violation(
                        "agency",
                        f"'{fact.agency}' is already a party to case '{self.ident}'",
                        JOIN_ONCE,
                    )
            case AgencyLeftCase():
                if fact.agency not in self.parties:
                    raise violation(
                        "agency",
                        f"'{fact.agency}' is not a party to case '{self.ident}'",
                        LEAVE_IF_PARTY,
                    )
                if fact.agency == self.lead_agency:
                    raise violation(
                        "agency", f"'{fact.agency}' leads case '{self.ident}'", LEAD_STAYS
                    )
            case ActionRecorded() | ConcernRaised():
                if isinstance(fact, ConcernRaised) and fact.concern in self.concerns:
                    raise violation(
                        "concern",
                        f"'{fact.concern}' is already raised on case '{self.ident}'",
                        UNIQUE_CONCERN,
                    )
                if isinstance(fact.child, str):
                    self._check_child("child", fact.child)
            case InformationRequested():
                self._check_request(fact)
            case InformationProvided():
                self._check_answer(fact)
            case CooperationRefused():
                self._check_refusal(fact)
            case LateRecordingExplained() | CaseClosed():
                pass
            case _:
                raise InvalidCommand(
                    f"type '{tag_of(type(fact))}' is not an event of a case", field="type"
                )

    def _check_child(self, field: str, child: str) -> None:
        if not self.knows_child(child):
            raise violation(field, f"is not a child of case '{self.ident}'", CHILD_OF_CASE)

    def _linked(self, child: str, linked: str) -> bool:
        return (child, linked) in self.links or (linked, child) in self.links

    def _check_request(self, fact: InformationRequested) -> None:
        if fact.request in self.requests:
            raise violation(
                "request",
                f"'{fact.request}' was already made on case '{self.ident}'",
                UNIQUE_REQUEST,
            )
        for field, agency in (("from_agency", fact.from_agency), ("to_agency", fact.to_agency)):
            if agency not in self.parties:
                raise violation(
                    field, f"'{agency}' is not a party to case '{self.ident}'", REQUEST_PARTIES
                )
        if fact.from_agency == fact.to_agency:
            raise violation(
                "to_agency", f"'{fact.to_agency}' is also the requesting agency", REQUEST_PARTIES
            )

    def _check_answer(self, fact: InformationProvided) -> None:
        if fact.request not in self.open_requests:
            problem = "was already answered" if fact.request in self.requests else "was never made"
            raise violation(
                "request", f"'{fact.request}' {problem} on case '{self.ident}'", ANSWER_OPEN
            )
        addressee = self.requests[fact.request]
        if fact.by_agency != addressee:
            raise violation(
                "by_agency",
                f"'{fact.by_agency}' is not the agency request '{fact.request}' was addressed to",
                ADDRESSEE_ANSWERS,
            )

    def _check_refusal(self, fact: CooperationRefused) -> None:
        if fact.agency not in self.parties:
            raise violation(
                "agency", f"'{fact.agency}' is not a party to case '{self.ident}'", REFUSER_IS_PARTY
            )
        if isinstance(fact.request, str) and (
            fact.request not in self.open_requests or self.requests[fact.request] != fact.agency
        ):
            raise violation(
                "request",
                f"'{fact.request}' is not an open request to agency '{fact.agency}'",
                REFUSED_REQUEST,
            )

    # -- state -----------------------------------------------------------------------

    def when(self, fact: Fact) -> None:
        match fact:
            case CaseOpened():
                self.lead_agency = fact.lead_agency
                self.parties = {fact.lead_agency}
                self.children = {subject.child: subject.age_band for subject in fact.children}
            case ChildIdentifierLinked():
                self.links.add((fact.child, fact.linked))
            case ChildIdentifierUnlinked():
                self.links.discard((fact.child, fact.linked))
                self.links.discard((fact.linked, fact.child))
            case AgencyJoinedCase():
                self.parties.add(fact.agency)
            case AgencyLeftCase():
                self.parties.discard(fact.agency)
            case InformationRequested():
                self.requests[fact.request] = fact.to_agency
                self.open_requests.add(fact.request)
            case InformationProvided():
                self.open_requests.discard(fact.request)
            case ConcernRaised():
                self.concerns.add(fact.concern)
            case CaseClosed():
                self.closed = True
            case _:
                pass

    def state(self) -> dict[str, Any]:
        """The aggregate's state as plain data, to compare a live aggregate with a replayed one."""
        return {
            "version": self.version,
            "lead_agency": self.lead_agency,
            "parties": sorted(self.parties),
            "children": dict(self.children),
            "links": sorted(self.links),
            "requests": dict(self.requests),
            "open_requests": sorted(self.open_requests),
            "concerns": sorted(self.concerns),
            "closed": self.closed,
        }
