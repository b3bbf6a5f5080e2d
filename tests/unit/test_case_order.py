"""The agency client's bookkeeping of held and settled messages (no server needed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from nats.aio.msg import Msg

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
