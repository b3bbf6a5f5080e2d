"""The access log against a real nats-server: reads recorded on a stream of their own, read
back by subject and cursor, kept where the service can append but never alter."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from access_support import Secured, connect, publish_refused, secured_server

from ledger.application import Ledger
from ledger.errors import LedgerUnavailable, StreamMisconfigured
from ledger.nats import Driver
from runtime.access_log import (
    AccessLog,
    InvalidAccessQuery,
    InvalidAccessRecord,
    ensure_access_stream,
)
from runtime.service import open_service
from runtime.settings import Settings
from schemas import AccessEntry
from schemas.access import decode_access_record
from schemas.wire import access_prefix, access_stream, access_subject

P = "northshire"
READER = "0123abcd"  # the reading token's id (8 hex digits), not a secret


class Clock:
    """The service's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def ledger(nats_url: str, stream_name: str, subject_prefix: str) -> Iterator[Ledger]:
    env = Settings(stream=stream_name, subject_prefix=subject_prefix).persistence_env(nats_url)
    app = Ledger(env=env)
    yield app
    app.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def access_log(ledger: Ledger, stream_name: str, subject_prefix: str, clock: Clock) -> AccessLog:
    recorder = ledger.recorder
    log = AccessLog(
        recorder.pool,  # type: ignore[attr-defined]
        stream=stream_name,
        subject_prefix=subject_prefix,
        clock=clock,
    )
    log.check(create=True)
    return log


class WithoutWire:
    """The ledger's driver pool as a ``tls://`` URL leaves it: no synchronous wire."""

    def __init__(self, pool: object) -> None:
        self.pool = pool

    def run(self, fn: object) -> object:
        return self.pool.run(fn)  # type: ignore[attr-defined]

    @contextmanager
    def borrow(self) -> Iterator[Driver]:
        with self.pool.borrow() as driver:  # type: ignore[attr-defined]
            yield Driver(driver.loop, driver.nc, None)


def read(log: AccessLog, which: str, **kw: object) -> int:
    fields: dict[str, object] = {
        "partnership": P,
        "case": which,
        "query": "chronology",
        "role": "board",
        "agency": None,
        "token": READER,
        "as_of": None,
    }
    fields.update(kw)
    return log.record(**fields)  # type: ignore[arg-type]


class TestRecordingAndReading:
    def test_a_recorded_read_comes_back_with_its_sequence_and_the_services_time(
        self, access_log: AccessLog, clock: Clock
    ) -> None:
        as_of = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
        seq = read(access_log, "c1", role="agency", agency="police", as_of=as_of)
        [entry] = access_log.entries(P)
        assert entry == AccessEntry(
            partnership=P,
            case="c1",
            query="chronology",
            role="agency",
            agency="police",
            token=READER,
            read_at=clock.now,
            as_of=as_of,
            sequence=seq,
        )

    def test_a_begun_record_is_stored_once_waited_for_beside_other_work(
        self, access_log: AccessLog, clock: Clock
    ) -> None:
        fields: dict[str, object] = {
            "partnership": P,
            "query": "chronology",
            "role": "board",
            "agency": "la",
            "token": READER,
            "as_of": None,
        }
        first = access_log.begin(case="c1", **fields)  # type: ignore[arg-type]
        second = access_log.begin(case="c2", **fields)  # type: ignore[arg-type]
        between = read(access_log, "c3")  # another thread's record, on the same wire
        seqs = [second.wait(), first.wait()]
        assert sorted([*seqs, between]) == list(range(min(seqs), min(seqs) + 3))
        cases = {e.sequence: e.case for e in access_log.entries(P)}
        assert (cases[seqs[1]], cases[seqs[0]], cases[between]) == ("c1", "c2", "c3")
        with pytest.raises(RuntimeError, match="once"):
            first.wait()

    def test_a_begun_record_holds_no_connection_of_the_pool_while_the_read_goes_on(
        self, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        env = Settings(stream=stream_name, subject_prefix=subject_prefix).persistence_env(nats_url)
        ledger = Ledger(env={**env, "NATS_POOL_SIZE": "1"})
        try:
            log = AccessLog.of(ledger, stream=stream_name, subject_prefix=subject_prefix)
            log.check(create=True)
            pending = log.begin(
                partnership=P,
                case="c1",
                query="chronology",
                role="board",
                agency=None,
                token=READER,
                as_of=None,
            )
            found: list[int] = []
            # What a read does between the two halves (a page of the Merkle log) borrows
            # the pool's one connection: it must not wait for the record.
            other = threading.Thread(target=lambda: found.append(len(log.entries(P))))
            other.start()
            other.join(timeout=10)
            assert not other.is_alive()
            seq = pending.wait()
            assert len(found) == 1  # the record may be stored already, or not yet
            assert [e.sequence for e in log.entries(P)] == [seq]
        finally:
            ledger.close()

    def test_a_begun_record_with_no_access_stream_is_refused_at_its_wait(
        self, ledger: Ledger, stream_name: str, subject_prefix: str
    ) -> None:
        log = AccessLog.of(ledger, stream=stream_name, subject_prefix=subject_prefix)
        pending = log.begin(
            partnership=P,
            case="c1",
            query="chronology",
            role="board",
            agency=None,
            token=READER,
            as_of=None,
        )
        with pytest.raises(LedgerUnavailable, match=access_stream(stream_name)):
            pending.wait()

    def test_entries_filter_by_case_and_time_and_page_by_cursor(
        self, access_log: AccessLog, clock: Clock
    ) -> None:
        seqs = [read(access_log, case) for case in ("c1", "c2", "c1", "c1", "c2")]
        times = [entry.read_at for entry in access_log.entries(P)]
        assert [e.sequence for e in access_log.entries(P)] == seqs
        assert [e.sequence for e in access_log.entries(P, case="c1")] == [
            seqs[0],
            seqs[2],
            seqs[3],
        ]
        assert [e.sequence for e in access_log.entries(P, since=times[1], until=times[3])] == (
            seqs[1:4]
        )
        first = access_log.entries(P, case="c1", limit=2)
        assert [e.sequence for e in first] == [seqs[0], seqs[2]]
        rest = access_log.entries(P, case="c1", after=first[-1].sequence, limit=2)
        assert [e.sequence for e in rest] == [seqs[3]]
        assert access_log.entries(P, case="c1", after=seqs[3]) == []
        assert access_log.entries("otherton") == []

    def test_since_finds_reads_stamped_by_a_service_clock_ahead_of_the_servers(
        self, ledger: Ledger, stream_name: str, subject_prefix: str
    ) -> None:
        ahead = AccessLog(
            ledger.recorder.pool,  # type: ignore[attr-defined]
            stream=stream_name,
            subject_prefix=subject_prefix,
            clock=lambda: datetime.now(UTC) + timedelta(minutes=30),
        )
        ahead.check(create=True)
        first = read(ahead, "c1")
        [entry] = ahead.entries(P)
        assert [e.sequence for e in ahead.entries(P, since=entry.read_at)] == [first]
        later = read(ahead, "c2")
        assert [e.sequence for e in ahead.entries(P, since=entry.read_at)] == [first, later]
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        assert ahead.entries(P, since=tomorrow) == []

    def test_paging_reads_past_a_batch_of_other_cases(self, access_log: AccessLog) -> None:
        wanted = read(access_log, "c1")
        for _ in range(300):  # more than one batched direct get of another case
            read(access_log, "c2")
        last = read(access_log, "c1")
        assert [e.sequence for e in access_log.entries(P, case="c1")] == [wanted, last]
        assert len(access_log.entries(P, limit=1000)) == 302

    def test_the_record_on_the_stream_holds_no_secret_and_no_free_text(
        self, access_log: AccessLog, ledger: Ledger, stream_name: str, subject_prefix: str
    ) -> None:
        seq = read(access_log, "c1")
        msg = ledger.recorder.pool.run(  # type: ignore[attr-defined]
            lambda nc: nc.jetstream().get_msg(access_stream(stream_name), seq=seq, direct=True)
        )
        assert msg.subject == access_subject(subject_prefix, P, "c1")
        assert set(msgspec.json.decode(msg.data)) == {
            "partnership",
            "case",
            "query",
            "role",
            "agency",
            "token",
            "read_at",
            "as_of",
        }
        assert decode_access_record(msg.data).token == READER

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("case", "C 1"),
            ("partnership", "North.shire"),
            ("query", "chronology; drop"),
            ("role", "anyone"),
            ("agency", "Police"),
            ("token", "ldg_0123abcd_secret"),
            ("as_of", datetime(2026, 1, 5, 12, 0)),  # naive
        ],
    )
    def test_a_bad_value_is_refused_naming_its_field_and_nothing_is_written(
        self, access_log: AccessLog, field: str, value: object
    ) -> None:
        with pytest.raises(InvalidAccessRecord) as refused:
            read(access_log, "c1", **{field: value})
        assert refused.value.field == field
        assert field in str(refused.value)
        assert access_log.entries(P) == []

    @pytest.mark.parametrize(
        ("kw", "field"),
        [
            ({"case": "C 1"}, "case"),
            ({"since": datetime(2026, 1, 1)}, "since"),  # naive
            ({"after": -1}, "after"),
            ({"limit": 0}, "limit"),
            ({"limit": 1001}, "limit"),
        ],
    )
    def test_a_bad_query_is_refused_naming_its_field(
        self, access_log: AccessLog, kw: dict[str, object], field: str
    ) -> None:
        with pytest.raises(InvalidAccessQuery) as refused:
            access_log.entries(P, **kw)  # type: ignore[arg-type]
        assert refused.value.field == field


class TestTheAccessStream:
    def test_reading_it_needs_no_view_store_only_the_stream(
        self,
        access_log: AccessLog,
        nats_url: str,
        stream_name: str,
        subject_prefix: str,
    ) -> None:
        seq = read(access_log, "c1")
        # Another process: a ledger and its access log, and no views anywhere.
        env = Settings(stream=stream_name, subject_prefix=subject_prefix).persistence_env(nats_url)
        other = Ledger(env=env)
        try:
            log = AccessLog.of(other, stream=stream_name, subject_prefix=subject_prefix)
            assert [e.sequence for e in log.entries(P)] == [seq]
        finally:
            other.close()

    def test_an_access_stream_that_could_drop_records_is_refused_naming_the_setting(
        self, ledger: Ledger, stream_name: str, subject_prefix: str
    ) -> None:
        ledger.recorder.pool.run(  # type: ignore[attr-defined]
            lambda nc: nc.jetstream().add_stream(
                name=access_stream(stream_name),
                subjects=[f"{access_prefix(subject_prefix)}.>"],
                max_age=3600,
                allow_direct=True,
            )
        )
        log = AccessLog.of(ledger, stream=stream_name, subject_prefix=subject_prefix)
        with pytest.raises(StreamMisconfigured, match="max_age") as refused:
            log.check(create=True)
        assert "deny_delete" in str(refused.value)
        assert "deny_purge" in str(refused.value)

    def test_a_record_with_no_access_stream_to_take_it_is_refused_not_lost(
        self, ledger: Ledger, stream_name: str, subject_prefix: str
    ) -> None:
        log = AccessLog.of(ledger, stream=stream_name, subject_prefix=subject_prefix)
        with pytest.raises(LedgerUnavailable, match=access_stream(stream_name)):
            read(log, "c1")

    def test_without_a_synchronous_wire_a_record_goes_through_nats_py_alike(
        self, ledger: Ledger, stream_name: str, subject_prefix: str, clock: Clock
    ) -> None:
        wired = AccessLog.of(ledger, stream=stream_name, subject_prefix=subject_prefix)
        wired.check(create=True)
        log = AccessLog(
            WithoutWire(ledger.recorder.pool),  # type: ignore[attr-defined]
            stream=stream_name,
            subject_prefix=subject_prefix,
            clock=clock,
        )
        first = read(wired, "c1")
        second = read(log, "c2")
        assert second == first + 1
        assert [(e.case, e.read_at) for e in log.entries(P, after=first)] == [("c2", clock.now)]

    def test_a_missing_access_stream_is_the_admins_to_create(
        self, ledger: Ledger, stream_name: str, subject_prefix: str
    ) -> None:
        log = AccessLog.of(ledger, stream=stream_name, subject_prefix=subject_prefix)
        with pytest.raises(StreamMisconfigured, match="ledger admin init"):
            log.check(create=False)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    with secured_server(tmp_path_factory.mktemp("secured-access")) as server:
        yield server


class TestTheServiceUserOnTheAccessStream:
    def test_the_service_records_and_reads_through_open_service_on_a_secured_server(
        self, tmp_path: Path
    ) -> None:
        settings = Settings(data_dir=tmp_path, stream="LEDGER_ACL", subject_prefix="acl")
        with open_service(settings, configure_logs=False) as service:
            assert service.running.credentials is not None  # logged in as `ledger`
            seq = service.access_log.record(
                partnership=P,
                case="c1",
                query="chronology",
                role="inspector",
                agency=None,
                token=READER,
                as_of=None,
            )
            assert [e.sequence for e in service.access_log.entries(P)] == [seq]
            service.views.runner(service.ledger).rebuild()  # drops and refills the views ...
            assert [e.sequence for e in service.access_log.entries(P)] == [seq]  # ... not this

    async def test_it_may_not_delete_purge_or_reconfigure_the_access_stream(
        self, secured: Secured
    ) -> None:
        settings = secured.settings
        name = access_stream(settings.stream)
        subject = access_subject(settings.subject_prefix, P, "c1")
        async with connect(secured.url, secured.admin) as adm:
            await ensure_access_stream(
                adm.nc, stream=settings.stream, subject_prefix=settings.subject_prefix, create=True
            )
        async with connect(secured.url, secured.service.ledger) as svc:
            js = svc.js
            ack = await js.publish(subject, b"{}", stream=name)  # it may append ...
            assert (await js.get_msg(name, seq=ack.seq, direct=True)).data == b"{}"  # ... and read
            attempts = [
                (js.delete_stream(name), f"$JS.API.STREAM.DELETE.{name}"),
                (js.purge_stream(name), f"$JS.API.STREAM.PURGE.{name}"),
                (js.delete_msg(name, ack.seq), f"$JS.API.STREAM.MSG.DELETE.{name}"),
                (
                    js.update_stream(name=name, subjects=[subject], max_age=60),
                    f"$JS.API.STREAM.UPDATE.{name}",
                ),
                (
                    js.add_consumer(name, durable_name="peek"),
                    f"$JS.API.CONSUMER.DURABLE.CREATE.{name}.peek",
                ),
            ]
            for call, _ in attempts:
                with pytest.raises((TimeoutError, asyncio.TimeoutError)):
                    await call
            outside = f"{access_prefix(settings.subject_prefix)}x.{P}.c1"
            await svc.nc.publish(outside, b"{}")
            refused = await svc.refusals(len(attempts) + 1)
            assert refused == [publish_refused(s) for _, s in attempts] + [publish_refused(outside)]
            info = await svc.nc.jetstream(timeout=5).stream_info(name)
            assert info.state.messages == 1
            assert (info.config.deny_delete, info.config.deny_purge) == (True, True)
