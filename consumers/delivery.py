"""Delivery: each case event, fanned out to every agency party to the case, each
challenge event to the two agencies of the challenge, and each key registration or
revocation to the agency whose key it is, as it is recorded.

:class:`DeliveryView` is a view like the others (an eventsourcing projection run by
:class:`~projections.runner.ViewRunner`), whose "rows" are the case memberships and
whose output is messages: for each event of a case it queues one message per agency
party to the case at that point of the stream, and publishes the batch's messages
(awaiting every acknowledgement) just before the batch's membership changes and
tracking position commit. So:

* **Join and leave take effect at their place in the stream.** An agency receives
  its own ``AgencyJoinedCase`` and every event of the case after it; it receives its
  own ``AgencyLeftCase`` and nothing after it. Nothing restarts.
* **History before a join is not delivered** (data minimisation: an agency joining a
  case is told what happens from then on; the case's earlier chronology is a
  question for the ledger service, answered by the chronology view).
* **Parties from the start** are the lead agency and the agency that opened the case.
* **Crash safety.** Messages are published before the batch commits; a crash in
  between republishes the batch on restart, and the delivery stream's duplicate
  window drops the copies (message id ``<ledger sequence>.<agency>``). Delivery to
  the agency's handler is at least once in any case: handlers must be idempotent
  (the ledger sequence is the key).

* **Challenges.** Every event of a challenge goes to the agency that raised it
  (``ChallengeRaised.by_agency``) and the agency it is against (``against_agency``),
  from the ``ChallengeRaised`` on, on ``<prefix>-delivery.<agency>.<partnership>.challenge.<id>``
  (whoever recorded it: a board raising a challenge between two agencies is not a
  party). The same batches, ordering and message ids as case events. A challenge
  raised before this view kept challenges (its ``ChallengeRaised`` already behind the
  view's position) has no known parties, and its later events are not delivered.

* **An agency's own keys.** Every ``AgencyKeyRegistered`` and ``AgencyKeyRevoked`` goes
  to the agency it names (its ``agency`` field), whoever recorded it, on
  ``<prefix>-delivery.<agency>.<partnership>.key.<key_id>``: the operator may register an
  agency's first key on its own word, and the service holds keys for agencies that
  delegated (docs/proofs.md, "Who may register and revoke an agency's keys"), so the
  agency is the one party that can notice a key it never asked for. The same batches,
  ordering and message ids as case events; nothing is kept (the event names its
  recipient). Key events behind the view's position when this began are not delivered.

Reviews and the rest of the partnership's own events are the board's business and are
not delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from ledger.nats import HDR_MSG_ID
from ledger.proofs.keys import AGENCY_KEY_EVENTS
from projections import Envelope, Tx, View, ViewStore
from schemas import (
    AgencyJoinedCase,
    AgencyKeyRegistered,
    AgencyKeyRevoked,
    AgencyLeftCase,
    CaseOpened,
    ChallengeRaised,
    encode_event,
)
from schemas.wire import (
    HDR_SOURCE_SEQ,
    HDR_TOPIC,
    HDR_VERSION,
    delivery_challenge_subject,
    delivery_key_subject,
    delivery_msg_id,
    delivery_subject,
)

__all__ = ["KEY_EVENTS", "DeliveryView", "Outgoing", "Publisher"]

#: The partnership events delivered, each to the agency whose key it registers or revokes
#: (the proofs' own list of them).
KEY_EVENTS: Final = AGENCY_KEY_EVENTS


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for one agency."""

    agency: str
    subject: str
    headers: dict[str, str]
    payload: bytes


#: Publishes a batch of messages and returns once every one is acknowledged (raises if not).
Publisher = Callable[[Sequence[Outgoing]], None]


class DeliveryView(View):
    """The ``delivery`` view: memberships and challenge parties in, one message per agency
    and case or challenge event out, and one per key event to the agency whose key it is."""

    name = "delivery"
    table_names: ClassVar[tuple[str, ...]] = ("delivery_member", "delivery_challenge")
    tables: ClassVar[tuple[str, ...]] = (
        "CREATE TABLE IF NOT EXISTS delivery_member ("
        " partnership TEXT NOT NULL, case_id TEXT NOT NULL, agency TEXT NOT NULL,"
        " PRIMARY KEY (partnership, case_id, agency))",
        "CREATE TABLE IF NOT EXISTS delivery_challenge ("
        " partnership TEXT NOT NULL, challenge TEXT NOT NULL, by_agency TEXT NOT NULL,"
        " against_agency TEXT NOT NULL, PRIMARY KEY (partnership, challenge))",
    )

    def __init__(self, view: ViewStore, *, publish: Publisher, subject_prefix: str) -> None:
        super().__init__(view)
        self._publish = publish
        self._prefix = subject_prefix
        self._members: dict[tuple[str, str], set[str]] = {}
        #: (partnership, challenge) -> its two agencies, () when the view never saw it raised.
        self._parties: dict[tuple[str, str], tuple[str, ...]] = {}
        self._outbox: list[Outgoing] = []

    def forget(self) -> None:
        self._members = {}
        self._parties = {}
        self._outbox = []

    def members(self, partnership: str, case: str) -> set[str]:
        """The agencies party to the case, as the view has it now."""
        with self.view.reading() as tx:
            return set(self._load(tx, partnership, case))

    def parties(self, partnership: str, challenge: str) -> tuple[str, ...]:
        """The agencies a challenge's events go to, as the view has them now (none if unknown)."""
        with self.view.reading() as tx:
            return self._load_parties(tx, partnership, challenge)

    # -- applying ------------------------------------------------------------------

    def apply(self, tx: Tx, event: Envelope) -> None:
        if event.kind == "challenge":
            self._apply_challenge(tx, event)
            return
        if event.kind == "partnership":
            if event.tag in KEY_EVENTS:
                self._apply_key(event)
            return
        if event.kind != "case":
            return
        key = (event.partnership, event.ident)
        members = self._members.get(key)
        if members is None:
            members = self._members[key] = self._load(tx, *key)
        fact = event.fact
        if isinstance(fact, CaseOpened):
            for agency in {fact.lead_agency, fact.recorded_by.agency}:
                self._join(tx, key, members, agency)
        elif isinstance(fact, AgencyJoinedCase):
            self._join(tx, key, members, fact.agency)
        recipients = sorted(members)
        if isinstance(fact, AgencyLeftCase) and fact.agency in members:
            members.discard(fact.agency)
            tx.execute(
                "DELETE FROM delivery_member WHERE partnership = ? AND case_id = ? AND agency = ?",
                (*key, fact.agency),
            )
        self._queue(event, recipients, lambda agency: delivery_subject(self._prefix, agency, *key))

    def _apply_challenge(self, tx: Tx, event: Envelope) -> None:
        key = (event.partnership, event.ident)
        fact = event.fact
        if isinstance(fact, ChallengeRaised):
            parties = self._parties[key] = tuple(sorted({fact.by_agency, fact.against_agency}))
            tx.execute(
                "INSERT INTO delivery_challenge (partnership, challenge, by_agency, against_agency)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*key, fact.by_agency, fact.against_agency),
            )
        else:
            found = self._parties.get(key)
            parties = self._parties[key] = (
                found if found is not None else self._load_parties(tx, *key)
            )
        self._queue(
            event,
            parties,
            lambda agency: delivery_challenge_subject(self._prefix, agency, *key),
        )

    def _apply_key(self, event: Envelope) -> None:
        """An agency's key registered or revoked: to that agency, on the key's subject."""
        fact = event.fact
        if not isinstance(fact, (AgencyKeyRegistered, AgencyKeyRevoked)):  # pragma: no cover
            return  # the tag says it is one; the fact's type is what is read
        self._queue(
            event,
            (fact.agency,),
            lambda agency: delivery_key_subject(
                self._prefix, agency, event.partnership, fact.key_id
            ),
        )

    def _queue(
        self, event: Envelope, recipients: Sequence[str], subject: Callable[[str], str]
    ) -> None:
        """One message of ``event`` per recipient, on the subject ``subject(agency)``."""
        if not recipients:
            return
        payload = encode_event(event.fact)
        for agency in recipients:
            self._outbox.append(
                Outgoing(
                    agency=agency,
                    subject=subject(agency),
                    headers={
                        HDR_TOPIC: event.tag,
                        HDR_VERSION: str(event.version),
                        HDR_SOURCE_SEQ: str(event.seq),
                        HDR_MSG_ID: delivery_msg_id(event.seq, agency),
                    },
                    payload=payload,
                )
            )

    def flush(self, tx: Tx) -> None:
        if self._outbox:
            outbox, self._outbox = self._outbox, []
            self._publish(outbox)

    def _join(self, tx: Tx, key: tuple[str, str], members: set[str], agency: str) -> None:
        if agency in members:
            return
        members.add(agency)
        tx.execute(
            "INSERT INTO delivery_member (partnership, case_id, agency) VALUES (?, ?, ?)",
            (*key, agency),
        )

    @staticmethod
    def _load(tx: Tx, partnership: str, case: str) -> set[str]:
        rows = tx.fetchall(
            "SELECT agency FROM delivery_member WHERE partnership = ? AND case_id = ?",
            (partnership, case),
        )
        return {str(row[0]) for row in rows}

    @staticmethod
    def _load_parties(tx: Tx, partnership: str, challenge: str) -> tuple[str, ...]:
        row = tx.fetchone(
            "SELECT by_agency, against_agency FROM delivery_challenge"
            " WHERE partnership = ? AND challenge = ?",
            (partnership, challenge),
        )
        return () if row is None else tuple(sorted({str(row[0]), str(row[1])}))
