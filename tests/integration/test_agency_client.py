"""The agency's client against a real nats-server: order within a case, at-least-once
delivery across failures and restarts, dead letters and their replay.

Each test makes the delivery stream and the agency's durable pull consumer itself (as the
ledger service would: ack explicit, ``max_deliver`` 3, backoff 0.2 s then 0.4 s) and
publishes the fan-out messages itself; the server runs without authentication (the
permission tests are in ``test_access.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import stat
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import nats.aio.subscription
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig
from structlog.testing import capture_logs

import consumers.client
from consumers._deadletters import DeadLetter, DeadLetterStore
from consumers.client import (
    AgencySubscription,
    ConsumerNotFound,
    Delivery,
    DeliveryUnavailable,
    InvalidSubscription,
    replay,
)
from runtime.access import add_agency, ensure_admin_user, ensure_service_users
from runtime.embedded import EmbeddedNats
from runtime.settings import Settings
from schemas import (
    ActionKind,
    ActionRecorded,
    RecordedBy,
    Source,
    SourceKind,
    decode_event,
    encode_event,
)
from schemas.wire import (
    HDR_SOURCE_SEQ,
    consumer_name,
    delivery_challenge_subject,
    delivery_key_subject,
    delivery_prefix,
    delivery_stream,
    delivery_subject,
)

AGENCY = "police"
PARTNERSHIP = "northshire"
CASES = ("c-1", "c-2", "c-3")
MAX_DELIVER = 3
BACKOFF = [0.2, 0.4]
#: A note no log line or repr may show: free text is personal data.
PRIVATE = "seen-with-Jane-at-home"
DEADLINE = 20.0  # seconds any one test may take
QUIET = 1.0  # seconds to wait to be sure something does not come again (> every backoff)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Boom(Exception):
    """The handler's failure in these tests."""


@dataclass(frozen=True)
class Published:
    case: str
    sequence: int  # the event's (made-up) ledger sequence
    event: ActionRecorded | None  # None for a payload that is not a valid event


@dataclass
class Ledger:
    """The delivery side of one test: its stream names and a publishing connection."""

    nc: Any
    url: str
    stream: str
    prefix: str
    dead_letters: Path
    published: list[Published]

    async def publish(self, count: int, cases: tuple[str, ...] = CASES) -> list[Published]:
        """``count`` events, dealt round the cases in turn, as the service fans them out."""
        batch = []
        for _ in range(count):
            sequence = len(self.published) + 1
            case = cases[(sequence - 1) % len(cases)]
            event = ActionRecorded(
                occurred_at=T0,
                recorded_at=T0,
                recorded_by=RecordedBy(agency="la", actor="act_sw00042"),
                source=Source(kind=SourceKind.CASE_RECORD),
                action=ActionKind.HOME_VISIT,
                note=f"{PRIVATE} #{sequence}",
            )
            published = await self.publish_raw(case, encode_event(event), event)
            batch.append(published)
        return batch

    async def publish_raw(
        self, case: str, payload: bytes, event: ActionRecorded | None = None
    ) -> Published:
        """One message with ``payload``, whatever it holds, with the service's headers."""
        sequence = len(self.published) + 1
        # "challenge.<id>" stands for a challenge: its events go on the challenge's subject;
        # "key.<id>" for one of the agency's keys, on the key's.
        if case.startswith("challenge."):
            subject = delivery_challenge_subject(
                self.prefix, AGENCY, PARTNERSHIP, case.removeprefix("challenge.")
            )
        elif case.startswith("key."):
            subject = delivery_key_subject(
                self.prefix, AGENCY, PARTNERSHIP, case.removeprefix("key.")
            )
        else:
            subject = delivery_subject(self.prefix, AGENCY, PARTNERSHIP, case)
        await self.nc.jetstream().publish(
            subject,
            payload,
            headers={
                "Ledger-Topic": "ActionRecorded",
                "Ledger-Version": str(len(self.of_case(case)) + 1),
                HDR_SOURCE_SEQ: str(sequence),
                "Nats-Msg-Id": f"{sequence}.{AGENCY}",
            },
            stream=delivery_stream(self.stream),
        )
        published = Published(case=case, sequence=sequence, event=event)
        self.published.append(published)
        return published

    def subscribe(self, *, batch: int = 7) -> AbstractAsyncContextManager[AgencySubscription]:
        """The agency's subscription: small batches, half-second polls, dead letters kept."""
        return AgencySubscription.connect(
            self.url,
            agency=AGENCY,
            stream=self.stream,
            subject_prefix=self.prefix,
            batch=batch,
            poll=0.5,
            dead_letters=self.dead_letters,
        )

    async def consumer_info(self) -> Any:
        return await self.nc.jetstream().consumer_info(
            delivery_stream(self.stream), consumer_name(AGENCY)
        )

    def of_case(self, case: str) -> list[int]:
        return [p.sequence for p in self.published if p.case == case]


@asynccontextmanager
async def delivery_side(
    url: str,
    stream: str,
    prefix: str,
    dead_letters: Path,
    storage: StorageType = StorageType.MEMORY,
) -> AsyncIterator[Ledger]:
    """The delivery stream and the agency's consumer, as the ledger service makes them."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    name = delivery_stream(stream)
    await js.add_stream(
        StreamConfig(name=name, subjects=[f"{delivery_prefix(prefix)}.>"], storage=storage)
    )
    await js.add_consumer(
        name,
        ConsumerConfig(
            durable_name=consumer_name(AGENCY),
            filter_subject=f"{delivery_prefix(prefix)}.{AGENCY}.>",
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=1.0,
            max_deliver=MAX_DELIVER,
            backoff=BACKOFF,
        ),
    )
    yield Ledger(nc, url, stream, prefix, dead_letters, [])
    await js.delete_stream(name)
    await nc.close()


@pytest.fixture
async def ledger(
    nats_url: str, stream_name: str, subject_prefix: str, tmp_path: Path
) -> AsyncIterator[Ledger]:
    async with delivery_side(
        nats_url, stream_name, subject_prefix, tmp_path / "dead.sqlite"
    ) as ledger:
        yield ledger


class Recorder:
    """A handler that records what it is given, and fails when ``fails`` says so."""

    def __init__(self, fails: Callable[[Delivery], bool] = lambda d: False) -> None:
        self.fails = fails
        self.seen: list[Delivery] = []
        self.seen_at: list[float] = []  # monotonic times, beside ``seen``
        self.handled: list[Delivery] = []
        self.changed = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> None:
        self.seen.append(delivery)
        self.seen_at.append(time.monotonic())
        self.changed.set()
        if self.fails(delivery):
            raise Boom
        self.handled.append(delivery)

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait for ``condition()``: checked on every call, and every 50 ms."""
        while not condition():
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await self.changed.wait()

    def sequences(self, case: str | None = None, *, handled: bool = True) -> list[int]:
        deliveries = self.handled if handled else self.seen
        return [d.sequence for d in deliveries if case is None or _key(d) == case]


async def run_until(
    sub: AgencySubscription,
    recorder: Recorder,
    done: Callable[[], bool],
    *,
    linger: float = 0.0,
) -> None:
    """Run ``sub`` with ``recorder`` until ``done()`` and ``linger`` seconds more (to see
    that nothing else comes), then stop it cleanly."""
    stop = asyncio.Event()
    task = asyncio.create_task(sub.run(recorder, stop=stop))
    try:
        await recorder.until(done)
        await asyncio.sleep(linger)
    finally:
        stop.set()
        await task


class TestOrder:
    @pytest.mark.parametrize("form", ["run", "loop"])
    async def test_each_case_arrives_in_ledger_order_once_across_50_events_of_3_cases(
        self, ledger: Ledger, form: str
    ) -> None:
        await ledger.publish(50)
        recorder = Recorder()
        async with asyncio.timeout(DEADLINE), ledger.subscribe() as sub:
            if form == "run":
                await run_until(sub, recorder, lambda: len(recorder.handled) == 50)
            else:
                async for delivery in sub:
                    await recorder(delivery)
                    if len(recorder.handled) == 50:
                        break

        for case in CASES:
            assert recorder.sequences(case) == ledger.of_case(case)
        assert sorted(recorder.sequences()) == list(range(1, 51))
        first = recorder.handled[0]
        assert (first.partnership, first.case, first.version, first.attempt) == (
            PARTNERSHIP,
            "c-1",
            1,
            1,
        )
        assert first.event == ledger.published[0].event

    async def test_events_published_while_the_client_waits_are_delivered_in_order(
        self, ledger: Ledger
    ) -> None:
        recorder = Recorder()
        async with asyncio.timeout(DEADLINE), ledger.subscribe() as sub:
            task = asyncio.create_task(run_until(sub, recorder, lambda: len(recorder.handled) == 9))
            for _ in range(3):
                await ledger.publish(3)
                await asyncio.sleep(0.1)
            await task

        for case in CASES:
            assert recorder.sequences(case) == ledger.of_case(case)


class TestAtLeastOnce:
    async def test_an_event_whose_handler_raised_comes_again_then_the_rest_of_its_case_in_order(
        self, ledger: Ledger
    ) -> None:
        await ledger.publish(30)
        failed_once: set[int] = set()

        def fails(delivery: Delivery) -> bool:
            if delivery.sequence == 10 and 10 not in failed_once:
                failed_once.add(10)
                return True
            return False

        recorder = Recorder(fails)
        async with asyncio.timeout(DEADLINE), ledger.subscribe() as sub:
            await run_until(sub, recorder, lambda: len(recorder.handled) == 30)

        case = ledger.published[9].case
        mine = ledger.of_case(case)
        expected = [s for s in mine if s <= 10] + [10] + [s for s in mine if s > 10]
        assert recorder.sequences(case, handled=False) == expected
        for each in CASES:
            assert recorder.sequences(each) == ledger.of_case(each)
        retried = [d for d in recorder.seen if d.sequence == 10]
        assert [d.attempt for d in retried] == [1, 2]

    async def test_an_event_whose_loop_body_raised_comes_again_to_the_next_subscription_first(
        self, ledger: Ledger
    ) -> None:
        await ledger.publish(12, cases=("c-1",))
        first: list[Delivery] = []

        async def fail_at_5() -> None:
            async with ledger.subscribe() as sub:
                async for delivery in sub:
                    first.append(delivery)
                    if delivery.sequence == 5:
                        raise Boom

        async with asyncio.timeout(DEADLINE):
            with pytest.raises(Boom):
                await fail_at_5()
            then: list[Delivery] = []
            async with ledger.subscribe() as sub:
                async for delivery in sub:
                    then.append(delivery)
                    if delivery.sequence == 12:
                        break

        assert [d.sequence for d in first] == [1, 2, 3, 4, 5]
        assert [d.sequence for d in then] == list(range(5, 13))
        assert then[0].attempt == 2

    async def test_an_event_whose_loop_body_raised_comes_again_to_the_next_loop_then_the_rest(
        self, ledger: Ledger
    ) -> None:
        await ledger.publish(12, cases=("c-1",))
        seen: list[Delivery] = []

        async def loop(sub: AgencySubscription, *, fail_at: int = 0, end_at: int = 0) -> None:
            async for delivery in sub:
                seen.append(delivery)
                if delivery.sequence == fail_at:
                    raise Boom
                if delivery.sequence == end_at:
                    break

        async with asyncio.timeout(DEADLINE), ledger.subscribe() as sub:
            with pytest.raises(Boom):
                await loop(sub, fail_at=5)
            await loop(sub, end_at=12)  # 6-11 waited in the client for 5 to come back

        assert [d.sequence for d in seen] == [1, 2, 3, 4, 5, *range(5, 13)]
        assert [d.attempt for d in seen if d.sequence == 5] == [1, 2]

    @pytest.mark.parametrize("how", ["task cancelled", "loop left with break"])
    async def test_an_event_not_acknowledged_when_the_client_stopped_comes_to_the_next_client(
        self, ledger: Ledger, how: str
    ) -> None:
        await ledger.publish(12)
        first: list[Delivery] = []
        reached = asyncio.Event()

        async def consume() -> None:
            # Batches of 5: when 8 is handled, 9-11 wait in the client (11 in 8's case).
            async with ledger.subscribe(batch=5) as sub:
                async for delivery in sub:
                    first.append(delivery)
                    if delivery.sequence == 8:
                        reached.set()
                        if how == "loop left with break":
                            break
                        await asyncio.Event().wait()  # stuck until cancelled

        async with asyncio.timeout(DEADLINE):
            task = asyncio.create_task(consume())
            await reached.wait()
            if how == "task cancelled":
                task.cancel()
            with (
                pytest.raises(asyncio.CancelledError) if how == "task cancelled" else nullcontext()
            ):
                await task
            acked = {d.sequence for d in first if d.sequence != 8}
            rest = set(range(1, 13)) - acked
            recorder = Recorder()
            async with ledger.subscribe() as sub:
                await run_until(
                    sub, recorder, lambda: rest <= set(recorder.sequences()), linger=QUIET
                )

        assert sorted(recorder.sequences()) == sorted(rest)  # each once, none acked before
        case = ledger.published[7].case
        assert recorder.sequences(case)[0] == 8
        assert recorder.handled[recorder.sequences().index(8)].attempt == 2
        for each in CASES:
            assert recorder.sequences(each) == [s for s in ledger.of_case(each) if s not in acked]

    async def test_the_client_stops_listening_only_once_its_pull_requests_have_ended(
        self, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # nats-server hands a message to a waiting pull request and sends it a moment
        # later: one handed out as the inbox went is sent to no one and queued for
        # redelivery at once, ahead of the NAKs that follow (a case out of order for the
        # next client, and an attempt spent). So no request may wait when the inbox goes.
        await ledger.publish(3)
        waiting_when_unsubscribed: list[int] = []
        drain = nats.aio.subscription.Subscription.drain

        async def drain_after_looking(sub: nats.aio.subscription.Subscription) -> None:
            waiting_when_unsubscribed.append((await ledger.consumer_info()).num_waiting)
            await drain(sub)  # type: ignore[no-untyped-call]

        monkeypatch.setattr(nats.aio.subscription.Subscription, "drain", drain_after_looking)
        recorder = Recorder()
        async with asyncio.timeout(DEADLINE):
            async with ledger.subscribe() as sub:  # asks for 7, gets 3: a request waits
                async for delivery in sub:
                    await recorder(delivery)
                    if delivery.sequence == 2:
                        break  # 2 given back, 3 held: both handed back on close
            again = Recorder()
            async with ledger.subscribe() as sub:
                await run_until(sub, again, lambda: len(again.handled) == 2)

        assert waiting_when_unsubscribed[0] == 0
        assert [(d.sequence, d.attempt) for d in again.handled] == [(2, 2), (3, 2)]

    async def test_messages_waiting_behind_a_slow_handler_are_kept_and_not_redelivered(
        self, ledger: Ledger
    ) -> None:
        await ledger.publish(14)
        recorder = Recorder()

        async def slow(delivery: Delivery) -> None:
            await asyncio.sleep(0.06)  # a batch of 7 waits longer than ack_wait (0.2 s)
            await recorder(delivery)

        async with asyncio.timeout(DEADLINE), ledger.subscribe() as sub:
            stop = asyncio.Event()
            task = asyncio.create_task(sub.run(slow, stop=stop))
            await recorder.until(lambda: len(recorder.handled) == 14)
            stop.set()
            await task
            info = await ledger.consumer_info()

        assert recorder.sequences() == list(range(1, 15))
        assert {d.attempt for d in recorder.handled} == {1}
        assert info.num_redelivered == 0

    async def test_a_copy_redelivered_before_our_ack_reached_the_server_is_not_handled_twice(
        self, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # No in-progress acks: the server redelivers event 2 (and those buffered behind it)
        # while its handler runs, and the copies are still in the client's buffer when
        # the first deliveries are acked.
        monkeypatch.setattr(consumers.client, "_MIN_TOUCH", 60.0)
        await ledger.publish(6)
        recorder = Recorder()

        async def slow_on_2(delivery: Delivery) -> None:
            if delivery.sequence == 2:
                await asyncio.sleep(BACKOFF[0] * 3)  # past the redelivery of attempt 1
            await recorder(delivery)

        with capture_logs() as logs:
            async with asyncio.timeout(DEADLINE), ledger.subscribe() as sub:
                stop = asyncio.Event()
                task = asyncio.create_task(sub.run(slow_on_2, stop=stop))
                await recorder.until(lambda: len(recorder.handled) == 6)
                await asyncio.sleep(QUIET)  # a second handling of 2 would come by now
                stop.set()
                await task
                info = await ledger.consumer_info()

        assert recorder.sequences() == list(range(1, 7))
        dropped = [e for e in logs if e["event"] == "delivery_duplicate_dropped"]
        assert 2 in {e["seq"] for e in dropped}
        assert all(
            (e["partnership"], e["case"]) == (PARTNERSHIP, CASES[1])
            for e in dropped
            if e["seq"] == 2
        )
        assert info.num_ack_pending == 0


class TestDeadLetters:
    async def test_an_event_failing_every_attempt_is_dead_lettered_terminated_and_its_case_goes_on(
        self, ledger: Ledger
    ) -> None:
        await ledger.publish(12)
        recorder = Recorder(lambda d: d.sequence == 4)
        with capture_logs() as logs:
            async with asyncio.timeout(DEADLINE), ledger.subscribe() as sub:
                # lingering: not delivered again after the TERM
                await run_until(sub, recorder, lambda: len(recorder.handled) == 11, linger=QUIET)
                info = await ledger.consumer_info()

        assert [d.attempt for d in recorder.seen if d.sequence == 4] == [1, 2, 3]
        tries = [t for d, t in zip(recorder.seen, recorder.seen_at, strict=True) if d.sequence == 4]
        assert tries[1] - tries[0] >= BACKOFF[0] - 0.02  # the consumer's backoff, step by step
        assert tries[2] - tries[1] >= BACKOFF[1] - 0.02
        assert info.num_ack_pending == 0
        assert info.num_redelivered == 0
        case = ledger.published[3].case
        assert recorder.sequences(case) == [s for s in ledger.of_case(case) if s != 4]
        last_try = max(i for i, d in enumerate(recorder.seen) if d.sequence == 4)
        later = [i for i, d in enumerate(recorder.seen) if d.case == case and d.sequence > 4]
        assert min(later) > last_try  # the case waited for its failed event
        with DeadLetterStore(ledger.dead_letters) as store:
            (dead,) = store.list()
        assert (dead.sequence, dead.partnership, dead.case, dead.event_type) == (
            4,
            PARTNERSHIP,
            case,
            "ActionRecorded",
        )
        assert (dead.attempts, dead.error_type) == (3, "Boom")
        assert decode_event(dead.payload) == ledger.published[3].event
        assert dead.headers["Ledger-Version"] == "2"
        failures = [e for e in logs if e["event"] == "delivery_failed"]
        assert [(e["attempt"], e["retry_in"]) for e in failures] == [(1, 0.2), (2, 0.4), (3, None)]
        assert all(e["error_type"] == "Boom" and e["seq"] == 4 for e in failures)
        assert any(e["event"] == "delivery_dead_lettered" for e in logs)
        assert PRIVATE not in repr(logs)
        assert PRIVATE not in repr(dead)
        assert PRIVATE not in repr(recorder.seen)

    async def test_replay_hands_a_dead_letter_to_a_handler_and_removes_it_once_it_succeeds(
        self, ledger: Ledger
    ) -> None:
        await ledger.publish(3)
        recorder = Recorder(lambda d: d.sequence == 2)
        async with asyncio.timeout(DEADLINE), ledger.subscribe() as sub:
            await run_until(sub, recorder, lambda: len(recorder.handled) == 2 and _dead(ledger))
            failing = Recorder(lambda d: True)
            assert await sub.replay(failing) == 0
            fixed = Recorder()
            assert await sub.replay(fixed) == 1

        (again,) = fixed.handled
        assert (again.sequence, again.case, again.version, again.attempt) == (2, "c-2", 1, 5)
        assert again.event == ledger.published[1].event
        assert failing.seen[0].attempt == 4
        with DeadLetterStore(ledger.dead_letters) as store:
            assert store.list() == []
            assert await replay(store, fixed) == 0


def _key(delivery: Delivery) -> str | None:
    """A delivery's case, ``challenge.<id>`` for a challenge's or ``key.<id>`` for a key's
    (as ``publish`` names them)."""
    if delivery.challenge is not None:
        return f"challenge.{delivery.challenge}"
    if delivery.key_id is not None:
        return f"key.{delivery.key_id}"
    return delivery.case


class TestChallenges:
    async def test_a_challenge_is_kept_in_order_like_a_case_across_a_failed_delivery(
        self, ledger: Ledger
    ) -> None:
        threads = ("challenge.ch-1", "c-1", "challenge.ch-2")
        await ledger.publish(18, cases=threads)
        failed_once: set[int] = set()

        def fails(delivery: Delivery) -> bool:
            if delivery.sequence == 4 and 4 not in failed_once:  # ch-1's second event
                failed_once.add(4)
                return True
            return False

        recorder = Recorder(fails)
        async with asyncio.timeout(DEADLINE), ledger.subscribe() as sub:
            await run_until(sub, recorder, lambda: len(recorder.handled) == 18)

        for thread in threads:
            assert recorder.sequences(thread) == ledger.of_case(thread)
        assert [d.attempt for d in recorder.seen if d.sequence == 4] == [1, 2]
        first = recorder.handled[0]
        assert (first.partnership, first.case, first.challenge) == (PARTNERSHIP, None, "ch-1")
        retried = max(i for i, d in enumerate(recorder.seen) if d.sequence == 4)
        later = [i for i, d in enumerate(recorder.seen) if d.challenge == "ch-1" and d.sequence > 4]
        assert min(later) > retried  # ch-1 waited for its failed event; the others went on

    async def test_a_challenge_event_dead_lettered_is_replayed_as_the_challenge_s(
        self, ledger: Ledger
    ) -> None:
        await ledger.publish(2, cases=("challenge.ch-1",))
        recorder = Recorder(lambda d: d.sequence == 1)
        async with asyncio.timeout(DEADLINE), ledger.subscribe() as sub:
            await run_until(sub, recorder, lambda: len(recorder.handled) == 1 and _dead(ledger))
            fixed = Recorder()
            assert await sub.replay(fixed) == 1

        (again,) = fixed.handled
        assert (again.sequence, again.case, again.challenge) == (1, None, "ch-1")


class TestKeys:
    async def test_the_agency_s_key_events_wait_for_a_failed_one_of_another_key_a_case_does_not(
        self, ledger: Ledger
    ) -> None:
        """All of a partnership's key events are one order: whether a revocation of k1 was
        the agency's to make depends on its k2 being registered before it."""
        threads = ("key.k2", "c-1", "key.k1")
        await ledger.publish(9, cases=threads)
        failed_once: set[int] = set()

        def fails(delivery: Delivery) -> bool:
            if delivery.sequence == 1 and 1 not in failed_once:  # k2's first event
                failed_once.add(1)
                return True
            return False

        recorder = Recorder(fails)
        async with asyncio.timeout(DEADLINE), ledger.subscribe() as sub:
            await run_until(sub, recorder, lambda: len(recorder.handled) == 9)

        keys = [d.sequence for d in recorder.handled if d.key_id is not None]
        assert keys == sorted(ledger.of_case("key.k2") + ledger.of_case("key.k1"))
        assert recorder.sequences("c-1") == ledger.of_case("c-1")
        assert [d.attempt for d in recorder.seen if d.sequence == 1] == [1, 2]
        first = recorder.seen[0]
        assert (first.partnership, first.case, first.challenge, first.key_id) == (
            PARTNERSHIP,
            None,
            None,
            "k2",
        )
        retried = max(i for i, d in enumerate(recorder.seen) if d.sequence == 1)
        later_keys = [i for i, d in enumerate(recorder.seen) if d.key_id and d.sequence > 1]
        assert min(later_keys) > retried  # k1's events too waited for k2's failed one
        case_seen = [i for i, d in enumerate(recorder.seen) if d.case == "c-1"]
        assert min(case_seen) < retried  # the case went on meanwhile

    async def test_a_key_event_dead_lettered_is_replayed_as_the_key_s(self, ledger: Ledger) -> None:
        await ledger.publish(2, cases=("key.k1",))
        recorder = Recorder(lambda d: d.sequence == 1)
        async with asyncio.timeout(DEADLINE), ledger.subscribe() as sub:
            await run_until(sub, recorder, lambda: len(recorder.handled) == 1 and _dead(ledger))
            with DeadLetterStore(ledger.dead_letters) as store:
                (dead,) = store.list()
            assert (dead.partnership, dead.case) == (PARTNERSHIP, "key.k1")
            fixed = Recorder()
            assert await sub.replay(fixed) == 1

        (again,) = fixed.handled
        assert (again.sequence, again.case, again.challenge, again.key_id) == (1, None, None, "k1")


class TestFaultyMessages:
    async def test_a_payload_that_is_no_valid_event_is_dead_lettered_and_its_case_goes_on(
        self, ledger: Ledger
    ) -> None:
        await ledger.publish(2, cases=("c-1",))
        await ledger.publish_raw("c-1", b'{"type": "NoSuchEvent"}')
        await ledger.publish(2, cases=("c-1",))
        recorder = Recorder()
        async with asyncio.timeout(DEADLINE), ledger.subscribe() as sub:
            await run_until(sub, recorder, lambda: len(recorder.handled) == 4 and _dead(ledger))

        assert recorder.sequences(handled=False) == [1, 2, 4, 5]
        with DeadLetterStore(ledger.dead_letters) as store:
            (dead,) = store.list()
        assert (dead.sequence, dead.attempts, dead.error_type) == (3, 3, "InvalidEvent")


class TestConnecting:
    async def test_an_agency_whose_consumer_does_not_exist_is_told_who_creates_it(
        self, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        connecting = AgencySubscription.connect(
            nats_url, agency=AGENCY, stream=stream_name, subject_prefix=subject_prefix
        )
        with pytest.raises(ConsumerNotFound, match="ledger service creates it"):
            await connecting.__aenter__()

    async def test_a_server_that_is_not_there_is_reported_within_the_deadline_without_the_password(
        self,
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        connecting = AgencySubscription.connect(
            f"nats://agency_police:s3cret@127.0.0.1:{port}", agency=AGENCY, connect_timeout=0.5
        )
        async with asyncio.timeout(DEADLINE):
            with pytest.raises(DeliveryUnavailable) as caught:
                await connecting.__aenter__()
        assert f"127.0.0.1:{port}" in str(caught.value)
        assert "s3cret" not in str(caught.value)

    async def test_an_agency_id_that_cannot_be_a_subject_token_is_refused(self) -> None:
        connecting = AgencySubscription.connect("nats://127.0.0.1:1", agency="Police.*")
        with pytest.raises(InvalidSubscription) as caught:
            await connecting.__aenter__()
        assert caught.value.field == "agency"

    async def test_a_credentials_file_gives_the_user_inbox_consumer_stream_and_prefix(
        self, ledger: Ledger, tmp_path: Path
    ) -> None:
        settings = Settings(data_dir=tmp_path, stream=ledger.stream, subject_prefix=ledger.prefix)
        consumer_stream = delivery_stream(ledger.stream)
        path = add_agency(tmp_path, settings, AGENCY, consumer_stream=consumer_stream)
        await ledger.publish(3)
        recorder = Recorder()
        async with (
            asyncio.timeout(DEADLINE),
            AgencySubscription.from_credentials(path, ledger.url, poll=0.5) as sub,
        ):
            await run_until(sub, recorder, lambda: len(recorder.handled) == 3)

        assert (sub.agency, sub.consumer, sub.stream) == (AGENCY, "agency_police", consumer_stream)
        assert recorder.sequences() == [1, 2, 3]

    @pytest.mark.slow
    async def test_an_agency_needs_no_permission_beyond_pulling_from_and_acking_its_consumer(
        self, stream_name: str, subject_prefix: str, tmp_path: Path
    ) -> None:
        data_dir = tmp_path / "secured"
        settings = Settings(data_dir=data_dir, stream=stream_name, subject_prefix=subject_prefix)
        ensure_service_users(data_dir, settings)
        admin = ensure_admin_user(data_dir, settings)  # makes the streams: the service may not
        assert admin is not None
        path = add_agency(data_dir, settings, AGENCY, consumer_stream=delivery_stream(stream_name))
        server = EmbeddedNats(data_dir, auth=True)
        await asyncio.to_thread(server.start)
        # Fails twice, then dead-lettered: fetch, ack, NAK with delay, TERM and
        # in-progress acks (a slow handler) all go through the agency's permissions.
        recorder = Recorder(lambda d: d.sequence == 2)

        async def slowly(delivery: Delivery) -> None:
            await asyncio.sleep(0.06)
            await recorder(delivery)

        try:
            with capture_logs() as logs:
                async with (
                    asyncio.timeout(DEADLINE),
                    delivery_side(
                        admin.url(server.url),
                        stream_name,
                        subject_prefix,
                        tmp_path / "dead.sqlite",
                    ) as ledger,
                    AgencySubscription.from_credentials(
                        path, server.url, batch=7, poll=0.5, dead_letters=ledger.dead_letters
                    ) as sub,
                ):
                    await ledger.publish(14)
                    stop = asyncio.Event()
                    task = asyncio.create_task(sub.run(slowly, stop=stop))
                    await recorder.until(lambda: len(recorder.handled) == 13 and _dead(ledger))
                    stop.set()
                    await task
        finally:
            await asyncio.to_thread(server.stop)

        assert [e["event"] for e in logs if e["event"].startswith("nats_")] == []
        assert [d.attempt for d in recorder.handled] == [1] * 13
        assert [d.attempt for d in recorder.seen if d.sequence == 2] == [1, 2, 3]

    @pytest.mark.slow
    async def test_delivery_goes_on_in_order_after_the_server_restarts(
        self, fresh_server: EmbeddedNats, stream_name: str, subject_prefix: str, tmp_path: Path
    ) -> None:
        recorder = Recorder()
        async with (
            asyncio.timeout(3 * DEADLINE),
            delivery_side(
                fresh_server.url,
                stream_name,
                subject_prefix,
                tmp_path / "dead.sqlite",
                StorageType.FILE,
            ) as ledger,
            ledger.subscribe() as sub,
        ):
            await ledger.publish(6)
            stop = asyncio.Event()
            task = asyncio.create_task(sub.run(recorder, stop=stop))
            await recorder.until(lambda: len(set(recorder.sequences())) == 6)
            await asyncio.sleep(0.2)  # the acks reach the server
            await asyncio.to_thread(fresh_server.restart)
            while not ledger.nc.is_connected:
                await asyncio.sleep(0.05)
            await ledger.publish(6)
            await recorder.until(lambda: len(set(recorder.sequences())) == 12)
            stop.set()
            await task

        # At least once: an ack lost in the restart may bring an event again.
        first_times = list(dict.fromkeys(recorder.sequences()))
        for case in CASES:
            assert [s for s in first_times if s in ledger.of_case(case)] == ledger.of_case(case)


class TestDeadLetterStore:
    def test_adding_the_same_event_again_keeps_one_dead_letter_with_the_latest_failure(
        self, tmp_path: Path
    ) -> None:
        first = _dead_letter(attempts=3, error_type="Boom")
        with DeadLetterStore(tmp_path / "d" / "dead.sqlite") as store:
            store.add(first)
            store.add(_dead_letter(attempts=4, error_type="KeyError"))
            assert len(store) == 1
            assert store.get(7) == _dead_letter(attempts=4, error_type="KeyError")
            assert store.remove(7)
            assert not store.remove(7)
            assert store.list() == []
        assert stat.S_IMODE((tmp_path / "d" / "dead.sqlite").stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700

    def test_a_dead_letter_repr_shows_no_payload(self) -> None:
        text = repr(_dead_letter(attempts=3, error_type="Boom"))
        assert PRIVATE not in text
        assert "payload=<" in text


def _dead_letter(*, attempts: int, error_type: str) -> DeadLetter:
    return DeadLetter(
        sequence=7,
        partnership=PARTNERSHIP,
        case="c-1",
        event_type="ActionRecorded",
        failed_at=T0,
        attempts=attempts,
        error_type=error_type,
        payload=f'{{"note": "{PRIVATE}"}}'.encode(),
        headers={"Ledger-Version": "3"},
    )


def _dead(ledger: Ledger) -> bool:
    with DeadLetterStore(ledger.dead_letters) as store:
        return len(store) == 1
