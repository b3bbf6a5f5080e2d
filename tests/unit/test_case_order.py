"""The agency client's bookkeeping of held and settled messages (no server needed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from nats.aio.msg import Msg

from consumers._ordering import REMEMBERED, CaseOrder


def msg(dseq: int, case: str = "c-1") -> Msg:
    fake: Any = SimpleNamespace(
        subject=case, metadata=SimpleNamespace(sequence=SimpleNamespace(stream=dseq))
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

    copy_of_1, copy_of_2 = msg(1), msg(2)
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
    forgotten, remembered = msg(1), msg(2)
    assert order.receive([forgotten, remembered], key_of) == [remembered]
    assert list(order.held()) == [1]
