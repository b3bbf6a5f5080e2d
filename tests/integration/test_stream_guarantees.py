"""What the stream itself guarantees, checked against a real nats-server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import nats
import pytest
from eventsourcing.persistence import InfrastructureFactory, StoredEvent
from eventsourcing.utils import Environment

from ledger.errors import (
    ConcurrencyConflict,
    LedgerError,
    LedgerUnavailable,
    StreamMisconfigured,
)
from ledger.nats import Factory, NatsApplicationRecorder


@pytest.fixture
def factory(nats_url: str, stream_name: str, subject_prefix: str) -> Iterator[Factory]:
    env = Environment(
        env={
            "PERSISTENCE_MODULE": "ledger.nats",
            "NATS_URL": nats_url,
            "NATS_STREAM": stream_name,
            "NATS_SUBJECT_PREFIX": subject_prefix,
        }
    )
    f = InfrastructureFactory.construct(env)
    assert isinstance(f, Factory)
    yield f
    f.close()


@pytest.fixture
def recorder(factory: Factory) -> NatsApplicationRecorder:
    r = factory.application_recorder()
    assert isinstance(r, NatsApplicationRecorder)
    return r


def _event(originator: str, version: int, state: bytes = b"{}") -> StoredEvent:
    return StoredEvent(originator_id=originator, originator_version=version, topic="t", state=state)


def _api(url: str, subject: str, body: dict[str, object] | None) -> dict[str, object]:
    async def go() -> dict[str, object]:
        nc = await nats.connect(url)
        try:
            payload = json.dumps(body).encode() if body is not None else b""
            reply = await nc.request(subject, payload, timeout=5)
            return json.loads(reply.data)  # type: ignore[no-any-return]
        finally:
            await nc.close()

    return asyncio.run(go())


class TestTheStreamRefusesToForget:
    def test_deleting_a_message_of_the_ledger_stream_is_refused_by_the_server(
        self, recorder: NatsApplicationRecorder, nats_url: str, stream_name: str
    ) -> None:
        recorder.insert_events([_event("p1.case.c1", 1)])
        answer = _api(nats_url, f"$JS.API.STREAM.MSG.DELETE.{stream_name}", {"seq": 1})
        assert answer["error"]["err_code"] == 10057  # type: ignore[index]  # message delete not permitted
        assert recorder.max_notification_id() == 1
        assert len(recorder.select_events("p1.case.c1")) == 1

    def test_purging_the_ledger_stream_is_refused_by_the_server(
        self, recorder: NatsApplicationRecorder, nats_url: str, stream_name: str
    ) -> None:
        recorder.insert_events([_event("p1.case.c1", 1), _event("p1.case.c1", 2)])
        answer = _api(nats_url, f"$JS.API.STREAM.PURGE.{stream_name}", None)
        assert answer["error"]["err_code"] == 10110  # type: ignore[index]  # purge not permitted
        assert recorder.max_notification_id() == 2

    def test_a_stream_that_allows_deletes_is_refused_as_the_ledger(
        self, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        _api(
            nats_url,
            f"$JS.API.STREAM.CREATE.{stream_name}",
            {"name": stream_name, "subjects": [f"{subject_prefix}.>"], "storage": "memory"},
        )
        env = {
            "PERSISTENCE_MODULE": "ledger.nats",
            "NATS_URL": nats_url,
            "NATS_STREAM": stream_name,
            "NATS_SUBJECT_PREFIX": subject_prefix,
        }
        f = InfrastructureFactory.construct(Environment(env=env))
        try:
            with pytest.raises(StreamMisconfigured, match="deny_delete"):
                f.application_recorder()
        finally:
            f.close()


#: A ledger stream as the ledger makes it; each case below changes one setting.
_SOUND = {
    "retention": "limits",
    "storage": "file",
    "deny_delete": True,
    "deny_purge": True,
    "allow_direct": True,
    "allow_atomic": True,
}
_HOUR_NS = 3600 * 1_000_000_000


class TestAStreamThatCouldLoseHistoryIsRefusedAtStart:
    @pytest.mark.parametrize(
        ("setting", "change"),
        [
            ("max_msgs_per_subject", {"max_msgs_per_subject": 1}),
            ("max_age", {"max_age": _HOUR_NS}),
            ("max_msgs", {"max_msgs": 1000}),
            ("max_bytes", {"max_bytes": 1_000_000}),
            ("allow_msg_ttl", {"allow_msg_ttl": True}),
            # (the server allows rollups only on a stream that allows purges)
            ("allow_rollup_hdrs", {"allow_rollup_hdrs": True, "deny_purge": False}),
            (
                "discard_new_per_subject",
                {"discard": "new", "discard_new_per_subject": True, "max_msgs_per_subject": 5},
            ),
            ("retention", {"retention": "interest"}),
            ("storage", {"storage": "memory"}),
            ("deny_purge", {"deny_purge": False}),
            ("allow_direct", {"allow_direct": False}),
            ("subject_transform", {"subject_transform": {"src": ">", "dest": "moved.>"}}),
            ("republish", {"republish": {"src": ">", "dest": "copy.>"}}),
            ("duplicate_window", {"duplicate_window": 1_000_000_000}),
        ],
    )
    def test_it_names_the_setting_and_why(
        self,
        nats_url: str,
        stream_name: str,
        subject_prefix: str,
        setting: str,
        change: dict[str, object],
    ) -> None:
        subjects = [f"{subject_prefix}.>"]
        if setting == "subject_transform":
            change = {"subject_transform": {"src": f"{subject_prefix}.>", "dest": "moved.>"}}
        config = {"name": stream_name, "subjects": subjects, **_SOUND, **change}
        made = _api(nats_url, f"$JS.API.STREAM.CREATE.{stream_name}", config)
        assert "error" not in made, made  # the server takes it: only the ledger refuses it
        env = {
            "PERSISTENCE_MODULE": "ledger.nats",
            "NATS_URL": nats_url,
            "NATS_STREAM": stream_name,
            "NATS_SUBJECT_PREFIX": subject_prefix,
        }
        f = InfrastructureFactory.construct(Environment(env=env))
        try:
            with pytest.raises(StreamMisconfigured, match="the ledger needs") as refused:
                f.application_recorder()
        finally:
            f.close()
        message = str(refused.value)
        assert f"{setting} is " in message
        problems = message.split(" exists but ", 1)[1].split("; ")
        assert {problem.split(" is ")[0] for problem in problems} <= set(change), message
        assert isinstance(refused.value, LedgerError)
        info = _api(nats_url, f"$JS.API.STREAM.INFO.{stream_name}", None)
        assert info["state"]["messages"] == 0  # type: ignore[index]  # nothing was written

    def test_the_ledger_s_own_stream_passes(self, recorder: NatsApplicationRecorder) -> None:
        assert recorder.insert_events([_event("p1.case.c1", 1)]) == [1]


class TestSavesAreAtomicAndIdempotent:
    def test_a_save_of_several_aggregates_is_one_atomic_batch_with_consecutive_sequences(
        self, recorder: NatsApplicationRecorder
    ) -> None:
        ids = recorder.insert_events(
            [_event("p1.case.a", 1), _event("p1.case.a", 2), _event("p1.challenge.b", 1)]
        )
        assert ids == [1, 2, 3]
        assert [n.originator_id for n in recorder.select_notifications(None, 10)] == [
            "p1.case.a",
            "p1.case.a",
            "p1.challenge.b",
        ]

    def test_a_batch_with_one_stale_aggregate_writes_nothing_at_all(
        self, recorder: NatsApplicationRecorder
    ) -> None:
        recorder.insert_events([_event("p1.case.a", 1)])
        with pytest.raises(ConcurrencyConflict, match=r"p1\.case\.a"):
            recorder.insert_events([_event("p1.case.b", 1), _event("p1.case.a", 1)])
        assert recorder.max_notification_id() == 1
        assert recorder.select_events("p1.case.b") == []

    def test_a_save_retried_after_a_lost_acknowledgement_is_stored_once(
        self, recorder: NatsApplicationRecorder
    ) -> None:
        groups = recorder._group([_event("p1.case.a", 1), _event("p1.case.a", 2)])
        attempt = uuid4().hex[:20]
        with recorder.pool.borrow() as driver:
            first = recorder._write(driver, groups, attempt, None)
            # The same save sent again (as after a timeout) is recognised, not stored twice.
            recorder.positions = type(recorder.positions)()
            again = recorder._write(driver, groups, attempt, None)
        assert again == first == [1, 2]
        assert recorder.max_notification_id() == 2

    @pytest.mark.parametrize("versions", [[1], [1, 2]])
    def test_a_save_whose_ack_was_lost_is_recognised_even_after_another_writer_appended(
        self, factory: Factory, recorder: NatsApplicationRecorder, versions: list[int]
    ) -> None:
        other = factory.application_recorder()
        real = recorder._publish
        lost: list[object] = []

        def ack_lost_once(driver: Any, msgs: Any) -> Any:
            ack = real(driver, msgs)
            if not lost:
                lost.append(ack)  # stored, but the ack never reaches us, and meanwhile
                other.insert_events([_event("p1.case.a", versions[-1] + 1)])  # someone appends
                raise LedgerUnavailable("ack lost")
            return ack

        recorder._publish = ack_lost_once  # type: ignore[method-assign]
        ids = recorder.insert_events([_event("p1.case.a", v) for v in versions])
        assert ids == versions  # the first try's place, not a conflict and not a second copy
        stored = [e.originator_version for e in recorder.select_events("p1.case.a")]
        assert stored == [*versions, versions[-1] + 1]

    def test_a_batch_the_server_refuses_for_one_stale_aggregate_stores_none_of_it(
        self, factory: Factory, recorder: NatsApplicationRecorder
    ) -> None:
        recorder.insert_events([_event("p1.case.b", 1)])  # our hint: b is at version 1
        factory.application_recorder().insert_events([_event("p1.case.b", 2)])  # not known to us
        with pytest.raises(ConcurrencyConflict):
            recorder.insert_events([_event("p1.case.a", 1), _event("p1.case.b", 2)])
        assert recorder.select_events("p1.case.a") == []  # refused by the server, as a whole
        assert recorder.max_notification_id() == 2

    def test_the_same_events_in_a_new_save_are_a_conflict_not_a_retry(
        self, recorder: NatsApplicationRecorder
    ) -> None:
        recorder.insert_events([_event("p1.case.a", 1)])
        with pytest.raises(ConcurrencyConflict):
            recorder.insert_events([_event("p1.case.a", 1)])
        assert recorder.max_notification_id() == 1

    def test_a_writer_with_a_stale_position_hint_still_appends_at_the_right_place(
        self, factory: Factory, recorder: NatsApplicationRecorder
    ) -> None:
        other = factory.application_recorder()
        recorder.insert_events([_event("p1.case.a", 1)])
        other.insert_events([_event("p1.case.a", 2)])  # learns the position by reading
        recorder.insert_events([_event("p1.case.a", 3)])  # its hint says version 1
        assert [e.originator_version for e in recorder.select_events("p1.case.a")] == [1, 2, 3]


class TestPublishingWhereNoStreamListens:
    def test_a_save_to_a_subject_no_stream_captures_fails_as_unavailable(
        self, recorder: NatsApplicationRecorder
    ) -> None:
        from ledger.nats import _stream

        out = _stream.OutMsg("nobody.listens.here.x", b"{}", {"Ledger-Version": "1"})
        with pytest.raises(LedgerUnavailable, match="no stream"):
            recorder.pool.run(lambda nc: _stream.publish(nc, "NOPE", [out], 2.0))


class TestReadsNeverGoBackInTime:
    def test_a_read_that_ends_before_this_writers_last_write_is_refused_not_used(
        self, recorder: NatsApplicationRecorder
    ) -> None:
        recorder.insert_events([_event("p1.case.a", 1), _event("p1.case.a", 2)])
        # Pretend this process wrote further than any replica answers (a lagging replica).
        recorder.positions.put(recorder.subjects.subject("p1.case.a"), 3, 99)
        with pytest.raises(LedgerUnavailable, match="behind"):
            recorder.select_events("p1.case.a")

    def test_reads_up_to_an_earlier_version_are_not_fenced(
        self, recorder: NatsApplicationRecorder
    ) -> None:
        recorder.insert_events([_event("p1.case.a", 1), _event("p1.case.a", 2)])
        recorder.positions.put(recorder.subjects.subject("p1.case.a"), 3, 99)
        assert [e.originator_version for e in recorder.select_events("p1.case.a", lte=1)] == [1]
