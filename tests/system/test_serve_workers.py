"""``ledger serve`` as one process: its workers, /ready, service.json, --demo, and SIGTERM.

Each test runs ``ledger serve`` as a subprocess on a free port: on the session's
nats-server (``NATS_URL``, a stream of the test's own) where the test reads the stream
itself, or on the embedded server of its own data dir, as ``make run`` does.
"""

from __future__ import annotations

import re
import signal
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from serve_support import LEDGER, Served, ledger_env, wait_for

import schemas
from ledger.application import Ledger
from projections.sqlite import SQLiteViewStore
from runtime.discovery import SERVICE_FILE, ServiceInfo, find_service, read_service
from runtime.embedded import running_url
from runtime.settings import Settings
from runtime.tokens import Role, TokenStore

P = "northshire"
STAGES = [{"stage": 1, "title": "Practitioners", "response_working_days": 5}]
CHILD = "ch_0123456789abcdef"


@pytest.fixture
def shared_env(
    tmp_path: Path, nats_url: str, stream_name: str, subject_prefix: str
) -> dict[str, str]:
    """A data dir of the test's own, on the session's nats-server and a stream of its own."""
    return ledger_env(
        tmp_path / "data",
        NATS_URL=nats_url,
        NATS_STREAM=stream_name,
        NATS_SUBJECT_PREFIX=subject_prefix,
    )


@pytest.fixture
def stream_ledger(nats_url: str, stream_name: str, subject_prefix: str) -> Iterator[Ledger]:
    """A ledger on the test's stream, to read back what the service recorded."""
    env = Settings(stream=stream_name, subject_prefix=subject_prefix).persistence_env(nats_url)
    ledger = Ledger(env=env)
    yield ledger
    ledger.close()


def _tokens(data_dir: Path) -> tuple[str, str]:
    """An admin token and the local authority's agency token for partnership ``P``."""
    store = TokenStore(data_dir)
    admin, _ = store.issue(Role.ADMIN, P, agency="la", actor="act_admin-000001")
    agency, _ = store.issue(Role.AGENCY, P, agency="la", actor="act_la-000001")
    return admin, agency


def _establish(served: Served, admin: str) -> int:
    """The partnership ``P`` with the local authority registered; the last sequence."""
    body = {
        "partnership": P,
        "name": "Northshire",
        "nation": "england",
        "escalation_stages": STAGES,
    }
    assert served.post("EstablishPartnership", admin, body).status_code == 201
    registered = served.post(
        "RegisterAgency",
        admin,
        {
            "partnership": P,
            "agency": "la",
            "name": "Local authority",
            "kind": "local_authority",
            "role": "statutory_partner",
        },
    )
    assert registered.status_code == 201, registered.text
    sequence: int = registered.json()["sequence"]
    return sequence


def _open_case(case: str) -> dict[str, Any]:
    return {"partnership": P, "case": case, "children": [{"child": CHILD, "age_band": "5_9"}]}


def _read_stream(ledger: Ledger) -> list[tuple[int, str, schemas.Event]]:
    """(sequence, aggregate as ``<partnership>.<kind>.<id>``, event) of every event."""
    stored: list[tuple[int, str, schemas.Event]] = []
    start = 1
    while batch := ledger.recorder.select_notifications(start, limit=500):
        stored += [(n.id, str(n.originator_id), schemas.decode_event(n.state)) for n in batch]
        start = batch[-1].id + 1
    return stored


def _assert_clean_exit(served: Served) -> None:
    assert served.process.returncode == 0, served.stderr[-4000:]
    assert "Traceback" not in served.stderr


class TestWorkers:
    def test_a_command_posted_to_serve_is_applied_by_its_own_views_worker(
        self, shared_env: dict[str, str], tmp_path: Path
    ) -> None:
        admin, agency = _tokens(tmp_path / "data")
        served = Served(shared_env)
        try:
            served.wait_ready()
            _establish(served, admin)
            opened = served.post("OpenCase", agency, _open_case("c-1"))
            assert opened.status_code == 201, opened.text
            sequence = opened.json()["sequence"]

            def applied() -> bool:
                response = served.get("/ready")
                return response is not None and response.json().get("views_position", 0) >= sequence

            def positions() -> dict[str, int]:
                store = SQLiteViewStore(tmp_path / "data" / "views.sqlite")
                try:
                    return store.positions()
                finally:
                    store.close()

            # /ready speaks for the query views; delivery is a worker of its own, which
            # follows the stream at its own pace: wait for it too, then look at them all.
            wait_for(applied, "the views to apply the new case")
            wait_for(
                lambda: positions().get("delivery", 0) >= sequence,
                "the delivery worker to pass the new case",
            )
            # Every view of the store, the delivery view too, has passed the new event.
            got = positions()
            assert got
            assert all(position >= sequence for position in got.values()), got
            assert "delivery" in got
        finally:
            served.stop()
        _assert_clean_exit(served)
        assert "worker_stopped" in served.stderr

    def test_a_worker_process_that_dies_makes_ready_503_naming_its_workers_then_is_replaced(
        self, shared_env: dict[str, str], tmp_path: Path
    ) -> None:
        import os

        def worker_pid() -> int:
            tasks = Path(f"/proc/{served.process.pid}/task").iterdir()  # any thread may fork
            children = [c for task in tasks for c in (task / "children").read_text().split()]
            (worker,) = [  # not multiprocessing's resource tracker
                child
                for child in children
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
            ]
            return int(worker)

        admin, _ = _tokens(tmp_path / "data")
        served = Served(shared_env)
        try:
            served.wait_ready()
            first = worker_pid()
            os.kill(first, signal.SIGKILL)

            def failed() -> bool:
                response = served.get("/ready")
                return response is not None and response.status_code == 503

            wait_for(failed, "/ready to say the workers are gone")
            problem = served.get("/ready")
            assert problem is not None
            # gone, or (a second later, on a loaded machine) already being replaced
            failed_workers = problem.json()["failed_workers"]
            assert set(failed_workers) == {"views", "delivery"}
            states = set(failed_workers.values())
            assert states in ({"WorkerProcessExited"}, {"WorkerProcessStarting"}), states
            sequence = _establish(served, admin)  # the stream is the source of truth
            assert sequence > 0

            # A new child takes over: ready again once its views have applied the write
            # made while there was none.
            def replaced() -> bool:
                response = served.get("/ready")
                return (
                    response is not None
                    and response.status_code == 200
                    and response.json().get("views_position", 0) >= sequence
                )

            wait_for(replaced, "a new worker process to apply what was written meanwhile")
            assert worker_pid() != first
        finally:
            served.stop()
        _assert_clean_exit(served)
        assert "worker_process_restarting" in served.stderr

    def test_ready_is_503_with_the_lag_while_the_views_are_behind_and_200_once_updated(
        self, shared_env: dict[str, str], tmp_path: Path
    ) -> None:
        import subprocess

        admin, _ = _tokens(tmp_path / "data")
        env = {**shared_env, "LEDGER_READY_MAX_LAG": "0"}
        served = Served(env, "--no-workers")
        try:
            served.wait_ready()  # an empty stream: nothing to lag behind
            last = _establish(served, admin)
            response = served.get("/ready")
            assert response is not None
            assert response.status_code == 503
            assert response.headers["content-type"].startswith("application/problem+json")
            problem = response.json()
            assert problem["lag"] == last
            assert problem["last_sequence"] == last
            assert problem["views_position"] == 0
            assert "LEDGER_READY_MAX_LAG" in problem["detail"]
            assert "failed_workers" not in problem  # --no-workers runs none

            update = subprocess.run(
                [LEDGER, "views", "update"],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                env=env,
            )
            assert update.returncode == 0, update.stderr
            ready = served.get("/ready")
            assert ready is not None
            assert ready.status_code == 200, ready.text
            assert ready.json() == {
                "status": "ready",
                "last_sequence": last,
                "views_position": last,
                "lag": 0,
            }
        finally:
            served.stop()
        _assert_clean_exit(served)


class TestServiceFile:
    def test_service_json_is_private_names_the_url_refuses_a_second_serve_and_goes_on_sigterm(
        self, shared_env: dict[str, str], tmp_path: Path
    ) -> None:
        data_dir = tmp_path / "data"
        settings = Settings(data_dir=data_dir)
        assert find_service(settings) is None
        served = Served(shared_env)
        try:
            served.wait_live()
            path = data_dir / SERVICE_FILE
            wait_for(path.exists, "service.json")
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            info = msgspec.json.decode(path.read_bytes(), type=ServiceInfo)
            assert info.url == served.url
            assert info.pid == served.process.pid
            assert info.workers is True
            assert find_service(settings) == served.url

            second = Served(shared_env)
            assert second.stop(0) == 1  # it exits by itself: signal 0 sends nothing
            assert served.url in second.stderr
            assert f"pid {served.process.pid}" in second.stderr
            assert "in use" not in second.stderr
            assert "Traceback" not in second.stderr
            assert find_service(settings) == served.url  # the refused one removed nothing
        finally:
            served.stop()
        _assert_clean_exit(served)
        assert not (data_dir / SERVICE_FILE).exists()
        assert find_service(settings) is None

    def test_a_service_file_left_by_a_killed_serve_is_stale(
        self, shared_env: dict[str, str], tmp_path: Path
    ) -> None:
        data_dir = tmp_path / "data"
        served = Served(shared_env)
        served.wait_live()
        wait_for((data_dir / SERVICE_FILE).exists, "service.json")
        served.stop(signal.SIGKILL)
        assert (data_dir / SERVICE_FILE).exists()  # nothing could remove it
        assert read_service(data_dir) is None  # nobody holds the lock
        assert find_service(Settings(data_dir=data_dir)) is None
        again = Served(shared_env)  # and a new serve takes the data dir
        try:
            again.wait_live()
            wait_for(lambda: find_service(Settings(data_dir=data_dir)) == again.url, "new file")
        finally:
            again.stop()
        _assert_clean_exit(again)


@pytest.mark.slow
class TestDemo:
    def test_demo_loads_prints_one_token_per_role_and_a_second_run_reuses_all_of_it(
        self, tmp_path: Path
    ) -> None:
        env = ledger_env(tmp_path / "data", COLUMNS="80")
        first = Served(env, "--demo")
        try:
            body = first.wait_ready()
        finally:
            first.stop()
        _assert_clean_exit(first)
        said = " ".join(first.stderr.split())  # rich wraps at 80 columns
        held = re.search(r"the service holds a signing key for (\d+) agencies", said)
        assert held is not None, said
        delegated = int(held.group(1))
        assert delegated > 0
        assert body["last_sequence"] == 3000 + delegated  # the events and the keys' registrations
        assert "loading the demo" in first.stderr
        printed = _printed_tokens(first.stdout)
        assert set(printed) == {role.value for role in Role}
        store = TokenStore(tmp_path / "data")
        for role, token in printed.items():
            record = store.authenticate(token)
            assert record.role.value == role
            assert record.partnership == "northvale"
        assert first.url in first.stdout
        last = first.stdout.strip().splitlines()[-3:]  # make run's last lines: the pages
        assert last[0] == f"web pages: sign in at {first.url}/sign-in with a token above, then"
        assert last[1].endswith(f"{first.url}/pages/northvale/dashboard")
        assert last[2].endswith(f"{first.url}/pages/northvale/cases")
        tokens_file = tmp_path / "data" / "demo-tokens.json"
        assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600

        second = Served(env, "--demo")
        try:
            again = second.wait_ready()
        finally:
            second.stop()
        _assert_clean_exit(second)
        assert again["last_sequence"] == 3000 + delegated  # nothing loaded or registered twice
        assert "signing key" not in second.stderr
        assert "not loading it again" in second.stderr
        assert _printed_tokens(second.stdout) == printed
        assert len(store.list()) == len(Role)  # no token issued twice

    def test_ctrl_c_during_the_demo_load_stops_quietly_and_the_server_with_it(
        self, tmp_path: Path
    ) -> None:
        data_dir = tmp_path / "data"
        env = ledger_env(data_dir, LEDGER_AUTH="0")  # so that the test may read the stream
        served = Served(env, "--demo", own_group=True)
        try:
            wait_for(lambda: running_url(data_dir) is not None, "the embedded server")
            url = running_url(data_dir)
            assert url is not None
            ledger = Ledger(env=Settings().persistence_env(url))
            try:
                wait_for(
                    lambda: (ledger.recorder.max_notification_id() or 0) > 200,
                    "the demo load to be under way",
                )
            finally:
                ledger.close()
        finally:
            status = served.interrupt()
        assert status == 0, served.stderr[-4000:]
        assert "Traceback" not in served.stderr
        assert "stopped before serving" in served.stderr
        assert not (data_dir / SERVICE_FILE).exists()
        assert running_url(data_dir) is None  # the embedded server was stopped, not orphaned


def _printed_tokens(stdout: str) -> dict[str, str]:
    """Role -> token, from the lines ``  <role> ldg_...`` that --demo prints."""
    found = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith("ldg_"):
            found[parts[0]] = parts[1]
    return found


@dataclass
class _Client:
    """What one posting client sent and what it was answered."""

    answered: dict[str, int] = field(default_factory=dict)  # case -> sequence (201)
    refused: dict[str, int] = field(default_factory=dict)  # case -> another status
    unanswered: set[str] = field(default_factory=set)  # no HTTP answer: connection lost


CLIENTS = 6
#: Each client's bound: it stops at its first unanswered request or after this many.
MAX_POSTS = 400
#: 201 answers before SIGTERM is sent.
BEFORE_SIGTERM = 60


@pytest.mark.slow
class TestSigterm:
    def test_sigterm_while_clients_post_every_201_is_in_the_stream_and_nothing_else_is(
        self, shared_env: dict[str, str], tmp_path: Path, stream_ledger: Ledger
    ) -> None:
        """The guarantee: every command answered 201 is in the stream at the sequence it
        was given, with its content; every event after the setup is a command a client
        sent, once; and one that is in the stream without a 201 is one whose request got
        no HTTP answer at all (the connection was lost), never one answered otherwise."""
        admin, agency = _tokens(tmp_path / "data")
        served = Served(shared_env)
        served.wait_ready()
        setup = _establish(served, admin)
        clients = [_Client() for _ in range(CLIENTS)]
        enough = threading.Semaphore(0)

        def post(n: int, client: _Client) -> None:
            with httpx.Client(base_url=served.url, timeout=30) as http:
                for i in range(MAX_POSTS):
                    case = f"c-{n}-{i}"
                    try:
                        response = http.post(
                            "/commands/OpenCase",
                            json=_open_case(case),
                            headers={"Authorization": f"Bearer {agency}"},
                        )
                    except httpx.TransportError:
                        client.unanswered.add(case)
                        return
                    if response.status_code == 201:
                        client.answered[case] = response.json()["sequence"]
                        enough.release()
                    else:
                        client.refused[case] = response.status_code

        threads = [
            threading.Thread(target=post, args=(n, c), daemon=True) for n, c in enumerate(clients)
        ]
        for thread in threads:
            thread.start()
        for _ in range(BEFORE_SIGTERM):
            assert enough.acquire(timeout=60), "the clients' posts are not being answered"
        served.stop()
        for thread in threads:
            thread.join(timeout=60)
            assert not thread.is_alive()
        _assert_clean_exit(served)

        answered = {case: seq for c in clients for case, seq in c.answered.items()}
        refused = {case for c in clients for case in c.refused}
        unanswered = {case for c in clients for case in c.unanswered}
        assert len(answered) >= BEFORE_SIGTERM
        assert unanswered  # the kill came while the clients were posting

        recorded = {
            seq: (aggregate, event)
            for seq, aggregate, event in _read_stream(stream_ledger)
            if seq > setup
        }
        for case, seq in answered.items():  # every 201 is there, as sent
            aggregate, event = recorded[seq]
            assert aggregate == f"{P}.case.{case}"
            assert isinstance(event, schemas.CaseOpened)
            assert event.recorded_by.agency == event.lead_agency == "la"
            assert [c.child for c in event.children] == [CHILD]
        cases = [
            aggregate.removeprefix(f"{P}.case.")
            for aggregate, event in recorded.values()
            if isinstance(event, schemas.CaseOpened) and aggregate.startswith(f"{P}.case.")
        ]
        assert len(cases) == len(recorded)  # nothing but the clients' commands
        assert len(set(cases)) == len(cases)  # each once
        without_201 = set(cases) - set(answered)
        assert without_201 <= unanswered  # never a command answered with another status
        assert not (set(cases) & refused)


class TestServedQuestions:
    def test_serve_answers_questions_records_the_read_streams_events_and_stops_with_a_stream_open(
        self, shared_env: dict[str, str], tmp_path: Path
    ) -> None:
        admin, agency = _tokens(tmp_path / "data")
        board, _ = TokenStore(tmp_path / "data").issue(
            Role.BOARD, P, agency="la", actor="act_board-000001"
        )
        served = Served(shared_env)
        try:
            served.wait_ready()
            _establish(served, admin)
            opened = served.post("OpenCase", agency, _open_case("c-1"))
            assert opened.status_code == 201, opened.text
            sequence = opened.json()["sequence"]
            as_board = {"Authorization": f"Bearer {board}"}

            chronology = httpx.get(
                f"{served.url}/partnerships/{P}/cases/c-1/chronology",
                params={"after": str(sequence)},
                headers=as_board,
                timeout=30,
            )
            assert chronology.status_code == 200, chronology.text
            assert [e["sequence"] for e in chronology.json()["entries"]] == [sequence]
            log = httpx.get(
                f"{served.url}/partnerships/{P}/access-log", headers=as_board, timeout=30
            )
            assert log.status_code == 200, log.text
            assert [(r["case"], r["role"]) for r in log.json()["items"]] == [("c-1", "board")]

            # The agency's event stream: its case's event, then SIGTERM with it still open.
            with httpx.stream(
                "GET",
                f"{served.url}/partnerships/{P}/events",
                headers={"Authorization": f"Bearer {agency}"},
                timeout=30,
            ) as events:
                assert events.status_code == 200
                lines = events.iter_lines()
                assert next(line for line in lines if line.startswith("id:")) == f"id: {sequence}"
                assert served.stop() == 0
        finally:
            served.stop()
        _assert_clean_exit(served)
