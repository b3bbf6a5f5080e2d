"""The synchronous write path's protocol handling, against a real nats-server."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import nats
import pytest

from ledger.nats._lookups import WireRequests
from ledger.nats._stream import StoredMsg, direct_get
from ledger.nats._syncwire import SyncWire, WireClosed, WireError, WireTimeout
from runtime.embedded import EmbeddedNats


def _make_stream(url: str, name: str, subjects: list[str]) -> None:
    async def go() -> None:
        nc = await nats.connect(url)
        try:
            config = {"name": name, "subjects": subjects, "storage": "memory"}
            await nc.request(f"$JS.API.STREAM.CREATE.{name}", json.dumps(config).encode())
        finally:
            await nc.close()

    asyncio.run(go())


@pytest.fixture
def wire(nats_url: str) -> Iterator[SyncWire]:
    w = SyncWire(nats_url, name="test")
    yield w
    w.close()


class TestSyncWire:
    def test_a_publish_to_a_stream_subject_returns_the_streams_ack(
        self, wire: SyncWire, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        _make_stream(nats_url, stream_name, [f"{subject_prefix}.>"])
        reply = wire.request([(f"{subject_prefix}.a", {"Ledger-Version": "1"}, b"{}")], 2.0)
        assert json.loads(reply.data) == {"stream": stream_name, "seq": 1}
        second = wire.request([(f"{subject_prefix}.a", {}, b"{}")], 2.0)
        assert json.loads(second.data)["seq"] == 2

    def test_pipelined_requests_each_get_their_own_ack_in_order_and_dedup_holds(
        self, wire: SyncWire, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        _make_stream(nats_url, stream_name, [f"{subject_prefix}.>"])
        messages = [
            (f"{subject_prefix}.{i % 3}", {"Nats-Msg-Id": f"m{i}"}, b"{}") for i in range(50)
        ]
        acks = [json.loads(r.data) for r in wire.requests(messages, 2.0)]
        assert [a["seq"] for a in acks] == list(range(1, 51))
        again = [json.loads(r.data) for r in wire.requests(messages[:2], 2.0)]
        assert [a.get("duplicate") for a in again] == [True, True]
        assert [a["seq"] for a in again] == [1, 2]

    def test_pipelined_requests_report_no_responders_per_message(
        self, wire: SyncWire, subject_prefix: str
    ) -> None:
        replies = wire.requests([(f"{subject_prefix}.nobody", {}, b"x")] * 3, 2.0)
        assert [r.status for r in replies] == ["503", "503", "503"]

    def test_a_request_nobody_answers_reports_no_responders(
        self, wire: SyncWire, subject_prefix: str
    ) -> None:
        assert wire.request([(f"{subject_prefix}.nobody", {}, b"x")], 2.0).status == "503"

    def test_a_reply_that_never_comes_times_out_and_the_connection_serves_the_next_call(
        self, wire: SyncWire, nats_url: str, subject_prefix: str
    ) -> None:
        listening = threading.Event()
        done = threading.Event()

        async def silent_responder() -> None:
            nc = await nats.connect(nats_url)
            await nc.subscribe(f"{subject_prefix}.silent")  # receives, never answers
            await nc.flush()
            listening.set()
            while not done.is_set():
                await asyncio.sleep(0.01)
            await nc.close()

        t = threading.Thread(target=asyncio.run, args=(silent_responder(),))
        t.start()
        try:
            assert listening.wait(timeout=10)
            with pytest.raises(WireTimeout):
                wire.request([(f"{subject_prefix}.silent", {}, b"x")], 0.3)
            assert wire.connected  # others may be waiting on it; a late reply is dropped
        finally:
            done.set()
            t.join()
        assert wire.request([(f"{subject_prefix}.nobody", {}, b"x")], 2.0).status == "503"
        assert wire.connected

    def test_keep_alive_pings_while_requests_are_in_flight_lose_no_reply(
        self, wire: SyncWire, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        _make_stream(nats_url, stream_name, [f"{subject_prefix}.>"])
        errors: list[Exception] = []
        stop = threading.Event()

        def writer(k: int) -> None:
            for _ in range(200):
                try:
                    wire.request([(f"{subject_prefix}.w{k}", {}, b"{}")], 5.0)
                except Exception as e:  # noqa: BLE001 - collected for the assertion
                    errors.append(e)
                    return

        def pinger() -> None:
            while not stop.is_set():
                try:
                    wire.ping()
                except Exception as e:  # noqa: BLE001 - collected for the assertion
                    errors.append(e)

        writers = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
        ping_thread = threading.Thread(target=pinger)
        ping_thread.start()
        for t in writers:
            t.start()
        for t in writers:
            t.join(timeout=60)
        stop.set()
        ping_thread.join(timeout=10)
        assert errors == []
        assert wire.connected

    def test_a_payload_over_the_servers_limit_is_refused_before_sending(
        self, wire: SyncWire, subject_prefix: str
    ) -> None:
        wire.ping()
        wire.request([(f"{subject_prefix}.nobody", {}, b"x")], 2.0)  # connected, limit known
        with pytest.raises(WireError, match="exceeds"):
            wire.request([(f"{subject_prefix}.big", {}, b"x" * (1024 * 1024 + 1))], 2.0)

    def test_a_restarted_server_is_reached_again_on_the_next_call(
        self, fresh_server: EmbeddedNats
    ) -> None:
        w = SyncWire(fresh_server.url, name="test")
        try:
            assert w.request([("x.nobody", {}, b"x")], 2.0).status == "503"
            fresh_server.kill()
            with pytest.raises(WireClosed):
                w.request([("x.nobody", {}, b"x")], 2.0)
            fresh_server.restart()
            assert w.request([("x.nobody", {}, b"x")], 2.0).status == "503"
            fresh_server.kill()
            with pytest.raises(WireClosed):
                w.requests([("x.nobody", {}, b"x")] * 2, 2.0)
            fresh_server.restart()
            assert [r.status for r in w.requests([("x.nobody", {}, b"x")] * 2, 2.0)] == [
                "503",
                "503",
            ]
        finally:
            w.close()

    def test_only_plain_nats_urls_are_supported(self) -> None:
        assert SyncWire.supports("nats://127.0.0.1:4222")
        assert not SyncWire.supports("tls://127.0.0.1:4222")
        with pytest.raises(ValueError, match="plain nats"):
            SyncWire("tls://127.0.0.1:4222", name="x")

    def test_threads_sharing_one_connection_each_get_their_own_reply(
        self, wire: SyncWire, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        _make_stream(nats_url, stream_name, [f"{subject_prefix}.>"])
        seqs: dict[int, list[int]] = {}

        def writer(k: int) -> None:
            seqs[k] = []
            for i in range(50):
                subject = f"{subject_prefix}.w{k}"
                reply = wire.request([(subject, {"Ledger-Version": str(i)}, b"{}")], 5.0)
                seqs[k].append(json.loads(reply.data)["seq"])

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        every = sorted(s for per_writer in seqs.values() for s in per_writer)
        assert every == list(range(1, 401))  # each ack reached exactly its own request
        assert all(v == sorted(v) for v in seqs.values())

    def test_a_lost_connection_fails_every_waiting_request_and_the_next_call_reconnects(
        self, fresh_server: EmbeddedNats
    ) -> None:
        w = SyncWire(fresh_server.url, name="test")
        errors: list[Exception] = []
        try:
            assert w.request([("x.nobody", {}, b"x")], 2.0).status == "503"

            def silent_wait() -> None:
                try:
                    w.request([("x.nobody.silent", {}, b"x")], 5.0)
                except WireError as e:
                    errors.append(e)

            fresh_server.kill()
            t = threading.Thread(target=silent_wait)
            t.start()
            t.join(timeout=10)
            assert errors
            assert isinstance(errors[0], WireClosed)
            fresh_server.restart()
            assert w.request([("x.nobody", {}, b"x")], 2.0).status == "503"
        finally:
            w.close()


class TestDirectGetsOverTheWire:
    """What a save's look-ups read over the write path's own connection."""

    def _config(self, url: str, name: str, subjects: list[str]) -> None:
        async def go() -> None:
            nc = await nats.connect(url)
            try:
                config = {
                    "name": name,
                    "subjects": subjects,
                    "storage": "memory",
                    "allow_direct": True,
                }
                await nc.request(f"$JS.API.STREAM.CREATE.{name}", json.dumps(config).encode())
            finally:
                await nc.close()

        asyncio.run(go())

    def test_a_stored_message_comes_back_with_its_headers_and_a_missing_one_as_none(
        self, wire: SyncWire, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        self._config(nats_url, stream_name, [f"{subject_prefix}.>"])
        headers = {"Ledger-Version": "7", "Nats-Msg-Id": "m-1"}
        wire.request([(f"{subject_prefix}.a", headers, b'{"x":1}')], 2.0)
        requests = WireRequests(wire)

        def get(subject: str) -> StoredMsg | None:
            request = {"last_by_subj": subject}
            return asyncio.run(direct_get(requests, stream_name, request, 2.0))  # type: ignore[arg-type]

        found = get(f"{subject_prefix}.a")
        assert found is not None
        assert (found.subject, found.seq, found.data) == (f"{subject_prefix}.a", 1, b'{"x":1}')
        assert found.headers["Ledger-Version"] == "7"
        assert found.headers["Nats-Msg-Id"] == "m-1"
        assert get(f"{subject_prefix}.nothing") is None
