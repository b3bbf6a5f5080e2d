"""The agency client's bookkeeping of held and settled messages (no server needed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from nats.aio.msg import Msg

from consumers._delivery_types import case_key, key_names, order_of
from consumers._ordering import REMEMBERED, CaseOrder


def msg(dseq: int, case: str = "c-1", *, attempt: int = 1) -> Msg:
    fake: Any = SimpleNamespace(
        subject=case,
        metadata=SimpleNamespace(sequence=SimpleNamespace(stream=dseq), num_delivered=attempt),
    )
    return cast(Msg, fake)


def key_of(subject: str) -> tuple[str, str]:
    return ("p", subject)


def test_a_copy_of_a_settled_message_is_a_duplicate_and_a_naked_ones_copy_is_not() -> None:
    order = CaseOrder()
    assert order.receive([msg(1), msg(2)], key_of) == []
    for dseq in (1, 2):
        ready = order.next_ready()
        assert ready is not None
        assert ready[0] == dseq
        assert order.pop(dseq) is not None
    order.settled(1)  # 1 was acked; 2 NAKed, so not settled

    copy_of_1, copy_of_2 = msg(1, attempt=2), msg(2, attempt=2)
    assert order.receive([copy_of_1, copy_of_2], key_of) == [copy_of_1]
    assert list(order.held()) == [2]  # the NAKed one's redelivery is held again
    ready = order.next_ready()
    assert ready is not None
    assert (ready[0], ready[1].msg) == (2, copy_of_2)
    assert order.next_ready() is None


def test_only_the_last_remembered_settled_sequences_are_kept() -> None:
    order = CaseOrder()
    for dseq in range(1, REMEMBERED + 2):
        order.settled(dseq)
    forgotten, remembered = msg(1, attempt=2), msg(2, attempt=2)
    assert order.receive([forgotten, remembered], key_of) == [remembered]
    assert list(order.held()) == [1]


def test_a_first_delivery_of_a_settled_sequence_is_new_a_recreated_stream_numbers_from_1() -> None:
    order = CaseOrder()
    order.settled(1)
    fresh = msg(1, attempt=1)
    assert order.receive([fresh], key_of) == []
    assert list(order.held()) == [1]


def test_more_is_remembered_when_more_can_be_in_flight() -> None:
    order = CaseOrder(remember=4 * 2048)
    for dseq in range(1, 4 * 2048 + 1):
        order.settled(dseq)
    copy = msg(1, attempt=2)
    assert order.receive([copy], key_of) == [copy]


def key_of_subject(subject: str) -> tuple[str, str] | None:
    """The client's key of a delivery subject ``ledger-delivery.police.p.<...>``."""
    return case_key(f"ledger-delivery.police.p.{subject}", "ledger-delivery", "police")


def test_a_failed_key_event_holds_back_the_agency_s_other_keys_events_but_no_case() -> None:
    """All of an agency's key events in a partnership are one order: a revocation of k1
    waits for a failed registration of k2 (whether it was the agency's to make depends on
    which keys were live just before it); a case goes on."""
    order = CaseOrder()
    subjects = {1: "key.k2", 2: "key.k1", 3: "c-1", 4: "challenge.ch-1"}
    order.receive([msg(dseq, subject) for dseq, subject in subjects.items()], key_of_subject)
    first = order.next_ready()
    assert first is not None
    assert first[0] == 1
    assert first[1].key == ("p", "key.k2")
    order.block(1, first[1])  # NAKed with a delay: k2's registration comes again

    handed = []
    while (ready := order.next_ready()) is not None:
        handed.append(ready[0])
        order.pop(ready[0])
    assert handed == [3, 4]  # the case and the challenge; k1's revocation is parked

    order.pop(1)
    order.unblock(("p", "key.k2"), 1)  # k2's registration handled at last
    ready = order.next_ready()
    assert ready is not None
    assert (ready[0], ready[1].key) == (2, ("p", "key.k1"))


def test_key_events_are_one_order_per_partnership_and_named_by_their_key() -> None:
    assert order_of(("p", "key.k1")) == order_of(("p", "key.k2")) == ("p", "key.")
    assert order_of(("q", "key.k1")) != order_of(("p", "key.k1"))
    assert order_of(("p", "c-1")) == ("p", "c-1")
    assert order_of(("p", "challenge.ch-1")) == ("p", "challenge.ch-1")
    assert key_names("key.k1") == (None, None, "k1")
    assert key_names("challenge.ch-1") == (None, "ch-1", None)
    assert key_names("c-1") == ("c-1", None, None)
