"""The parts of ``ledger serve`` that need no server: readiness, workers, the service file,
and the demo's progress bar."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from pathlib import Path

import pytest
from litestar.testing import TestClient
from structlog.testing import capture_logs

from interfaces._serve_cli import _listening
from interfaces.http import create_app
from ledger.application import Ledger
from ledger.errors import LedgerUnavailable
from projections.errors import ViewFailed
from runtime import workers as workers_module
from runtime.discovery import (
    SERVICE_FILE,
    ServiceClaim,
    ServiceRunning,
    find_service,
    read_service,
    service_url,
)
from runtime.readiness import Readiness, ReadyState
from runtime.settings import Settings
from runtime.tokens import TokenStore
from runtime.workers import Worker, Workers


def _readiness(stream: int, positions: dict[str, int], **kwargs: object) -> Readiness:
    return Readiness(lambda: stream, lambda: positions, **kwargs)  # type: ignore[arg-type]


class TestReadiness:
    def test_ready_when_the_slowest_view_is_within_the_bound(self) -> None:
        state = _readiness(1500, {"a": 1500, "b": 600}, max_lag=900)()
        assert state.ready
        assert (state.stream_position, state.views_position, state.lag) == (1500, 600, 900)

    def test_not_ready_past_the_bound_saying_by_how_much(self) -> None:
        state = _readiness(1500, {"a": 1500, "b": 599}, max_lag=900)()
        assert not state.ready
        assert state.lag == 901
        assert "901 events behind" in state.reason

    def test_not_ready_when_the_stream_does_not_answer(self) -> None:
        def away() -> int:
            raise LedgerUnavailable("no NATS")

        state = Readiness(away, dict, max_lag=10)()
        assert not state.ready
        assert state.reason == "the stream does not answer"
        assert state.stream_position is None

    def test_a_stopped_worker_makes_it_not_ready_and_is_named(self) -> None:
        state = _readiness(
            5, {"a": 5}, max_lag=10, failed_workers=lambda: {"views": "ViewFailed"}
        )()
        assert not state.ready
        assert state.reason == "worker views stopped (ViewFailed)"
        assert state.failed_workers == {"views": "ViewFailed"}

    def test_the_ready_route_answers_503_problem_details_with_the_figures(
        self, tmp_path: Path
    ) -> None:
        states = [
            ReadyState(
                ready=False,
                reason="behind",
                stream_position=9,
                views_position=2,
                lag=7,
                max_lag=3,
                positions={"a": 2},
                failed_workers={"delivery": "UnknownEvent"},
            ),
            ReadyState(ready=True, stream_position=9, views_position=9, lag=0, max_lag=3),
        ]
        app = create_app(Ledger(), TokenStore(tmp_path), readiness=lambda: states.pop(0))
        with TestClient(app=app) as client:
            behind = client.get("/ready")
            assert behind.status_code == 503
            assert behind.headers["content-type"].startswith("application/problem+json")
            assert behind.json() | {"type": ""} == {
                "type": "",
                "title": "Not ready",
                "status": 503,
                "detail": "behind",
                "last_sequence": 9,
                "views_position": 2,
                "lag": 7,
                "max_lag": 3,
                "positions": {"a": 2},
                "failed_workers": {"delivery": "UnknownEvent"},
            }
            ready = client.get("/ready")
            assert ready.status_code == 200
            assert ready.json() == {
                "status": "ready",
                "last_sequence": 9,
                "views_position": 9,
                "lag": 0,
            }


class _Runner:
    """A fake runner: follow() blocks until stop(); catch_up() does what it is told."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.catch_ups = 0
        self.followed = threading.Event()
        self._stopping = threading.Event()

    def catch_up(self) -> None:
        self.catch_ups += 1
        if self.errors:
            raise self.errors.pop(0)

    def follow(self) -> None:
        self._stopping.clear()  # as ViewRunner.follow does: a stop() before it is lost
        self.followed.set()
        self._stopping.wait()

    def stop(self) -> None:
        self._stopping.set()


class TestWorkers:
    def test_a_worker_catches_up_follows_and_stops_when_asked(self) -> None:
        runner = _Runner()
        worker = Worker("views", runner)
        worker.start()
        assert runner.followed.wait(10)
        assert worker.stop(timeout=10)
        assert not worker.alive
        assert worker.failure is None

    def test_the_stop_is_repeated_until_the_runner_hears_it(self) -> None:
        class Deaf(_Runner):
            """Loses the first stop, as ViewRunner.follow() does one asked before it began."""

            def follow(self) -> None:
                self.followed.set()
                self._stopping.wait()
                self._stopping.clear()
                self._stopping.wait()

        runner = Deaf()
        worker = Worker("views", runner)
        worker.start()
        assert runner.followed.wait(10)
        assert worker.stop(timeout=10)
        assert not worker.alive

    def test_a_failing_view_stops_the_worker_and_is_logged_without_its_message(self) -> None:
        error = ViewFailed("view 'x' failed on child ch_secret", view="x", seq=7, event_type="E")
        worker = Worker("views", _Runner(error))
        with capture_logs() as logs:
            worker.start()
            worker._thread.join(10)
        assert worker.failure == "ViewFailed"
        assert Workers([worker]).failed() == {"views": "ViewFailed"}
        failed = [entry for entry in logs if entry["event"] == "worker_failed"]
        assert failed == [
            {
                "event": "worker_failed",
                "log_level": "error",
                "worker": "views",
                "error": "ViewFailed",
                "view": "x",
                "seq": 7,
                "event_type": "E",
            }
        ]
        assert "ch_secret" not in repr(logs)

    def test_a_stream_outage_is_retried_not_fatal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(workers_module, "_FIRST_RETRY_S", 0.01)
        runner = _Runner(LedgerUnavailable("away"), LedgerUnavailable("away"))
        worker = Worker("delivery", runner)
        with capture_logs() as logs:
            worker.start()
            assert runner.followed.wait(10)
        assert runner.catch_ups == 3
        assert worker.failure is None
        assert [e["event"] for e in logs].count("worker_retrying") == 2
        assert worker.stop(timeout=10)


class TestServiceFile:
    def test_a_second_claim_is_refused_naming_the_first_ones_url(self, tmp_path: Path) -> None:
        with ServiceClaim(tmp_path) as first:
            first.publish("http://127.0.0.1:1", workers=True)
            assert (os.stat(tmp_path / SERVICE_FILE).st_mode & 0o777) == 0o600
            with pytest.raises(ServiceRunning, match=r"http://127\.0\.0\.1:1 \(pid \d+\)") as info:
                ServiceClaim(tmp_path).acquire()
            assert info.value.url == "http://127.0.0.1:1"
            assert info.value.pid == os.getpid()
            found = read_service(tmp_path)
            assert found is not None
            assert found.pid == os.getpid()
            # Nothing answers /health on port 1: not live.
            assert find_service(Settings(data_dir=tmp_path), timeout=0.5) is None
        assert not (tmp_path / SERVICE_FILE).exists()
        assert read_service(tmp_path) is None

    def test_a_file_whose_process_holds_no_lock_is_stale(self, tmp_path: Path) -> None:
        claim = ServiceClaim(tmp_path)
        claim.acquire()
        claim.publish("http://127.0.0.1:1", workers=False)
        text = (tmp_path / SERVICE_FILE).read_bytes()
        claim.release()
        (tmp_path / SERVICE_FILE).write_bytes(text)  # as a killed process leaves it
        assert read_service(tmp_path) is None
        with ServiceClaim(tmp_path):  # a new service takes over and drops the stale file
            assert not (tmp_path / SERVICE_FILE).exists()

    def test_the_url_of_a_wildcard_host_is_the_loopback_one(self) -> None:
        assert service_url("0.0.0.0", 80) == "http://127.0.0.1:80"  # noqa: S104
        assert service_url("::1", 8080) == "http://[::1]:8080"
        assert service_url("127.0.0.1", 8080) == "http://127.0.0.1:8080"


class TestListening:
    async def test_connections_accepted_on_the_serve_socket_send_without_waiting_for_acks(
        self,
    ) -> None:
        """asyncio sets TCP_NODELAY only on a socket made with IPPROTO_TCP named: without
        it each answer waited ~40 ms for the client's delayed ACK."""
        import asyncio

        nodelay: list[int] = []

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        settings = Settings(http_host="127.0.0.1", http_port=0)
        with _listening(settings) as sock:
            server = await asyncio.start_server(accepted, sock=sock)
            async with server:
                _, writer = await asyncio.open_connection(*sock.getsockname())
                while not nodelay:
                    await asyncio.sleep(0.01)
                writer.close()
        assert nodelay == [1]

    def test_connections_on_uvloop_send_without_waiting_for_acks_too(self) -> None:
        """serve's loop is uvloop's (:func:`_config`): the same guarantee holds there."""
        import asyncio

        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(
                self.test_connections_accepted_on_the_serve_socket_send_without_waiting_for_acks()
            )


class TestServerSettings:
    def test_serve_parses_http_with_httptools_on_uvloop(self) -> None:
        from litestar import Litestar
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        from interfaces._serve_cli import _config

        config = _config(Litestar([]))
        config.load()
        assert config.http_protocol_class is HttpToolsProtocol
        factory = config.get_loop_factory()
        assert factory is not None
        loop = factory()
        try:
            assert type(loop).__module__.startswith("uvloop")
        finally:
            loop.close()
