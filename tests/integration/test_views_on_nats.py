"""Views kept from a real stream: catch-up, rebuild under load, and a rebuild killed with -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_scenario import establish
from views_support import dump

from ledger.application import Ledger
from ledger.errors import LedgerUnavailable
from projections.catalogue import Views
from projections.sqlite import SQLiteViewStore
from runtime.embedded import EmbeddedNats
from runtime.settings import Settings

P = "northshire"
LA = {"agency": "la", "actor": "act_sw-000001"}
POLICE = {"agency": "police", "actor": "act_pc-000001"}
HEALTH = {"agency": "health", "actor": "act_hv-000001"}


def _settings(url: str, stream: str, prefix: str) -> Settings:
    return Settings(nats_url=url, stream=stream, subject_prefix=prefix, timeout_s=2.0)


def _case(ledger: Ledger, n: int, actions: int) -> None:
    case = f"c{n}"
    ledger.open_case(
        partnership=P,
        case=case,
        recorded_by=LA,
        children=[{"child": f"ch_{n:016x}", "age_band": "5_9"}],
    )
    ledger.join_case(partnership=P, case=case, recorded_by=LA, agency="police")
    ledger.raise_concern(
        partnership=P, case=case, recorded_by=POLICE, concern="k1", kind="significant_harm"
    )
    for i in range(actions):
        action = ("child_seen", "home_visit", "information_shared", "strategy_discussion")[i % 4]
        ledger.record_action(
            partnership=P,
            case=case,
            recorded_by=LA,
            action=action,
            seen=True if action == "child_seen" else UNSET,
            seen_alone=(i % 3 == 0) if action == "child_seen" else UNSET,
        )
    ledger.refuse_cooperation(
        partnership=P,
        case=case,
        recorded_by=POLICE,
        agency="police",
        kind="information_withheld",
        basis="no_stated_basis",
    )


from msgspec import UNSET  # noqa: E402


@pytest.fixture
def ledger(nats_url: str, stream_name: str, subject_prefix: str) -> Iterator[Ledger]:
    app = Ledger(env=_settings(nats_url, stream_name, subject_prefix).persistence_env(nats_url))
    establish(app)
    yield app
    app.close()


def _clean_dump(ledger: Ledger, path: Path) -> dict[str, list[tuple[object, ...]]]:
    views = Views(SQLiteViewStore(path))
    try:
        views.runner(ledger).rebuild()
        return dump(views.store, views.select())
    finally:
        views.close()


class TestViewsFromTheStream:
    def test_a_rebuild_while_commands_are_recorded_ends_equal_to_a_clean_rebuild(
        self, ledger: Ledger, tmp_path: Path
    ) -> None:
        for n in range(5):
            _case(ledger, n, 20)
        writing = threading.Event()
        errors: list[BaseException] = []

        def write() -> None:
            try:
                for n in range(5, 15):
                    _case(ledger, n, 10)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
            finally:
                writing.set()

        views = Views(SQLiteViewStore(tmp_path / "live.sqlite"))
        writer = threading.Thread(target=write)
        writer.start()
        views.runner(ledger, batch_size=50).rebuild()
        writer.join()
        assert not errors
        views.runner(ledger).catch_up()
        live = dump(views.store, views.select())
        views.close()
        assert live == _clean_dump(ledger, tmp_path / "clean.sqlite")
        assert live["chronology"]  # the views hold rows: the comparison is not of empties

    def test_a_rebuild_killed_halfway_resumes_to_the_rows_of_a_clean_rebuild(
        self, ledger: Ledger, tmp_path: Path, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        for n in range(40):
            _case(ledger, n, 40)
        total = ledger.recorder.max_notification_id() or 0
        views_file = tmp_path / "views.sqlite"
        env = os.environ | {
            "NATS_URL": nats_url,
            "NATS_STREAM": stream_name,
            "NATS_SUBJECT_PREFIX": subject_prefix,
            "LEDGER_DATA_DIR": str(tmp_path / "data"),
            "LEDGER_VIEWS_PATH": str(views_file),
            "LEDGER_LOG_JSON": "1",
        }
        cli = [sys.executable, "-c", "from interfaces.cli import main; main()"]
        rebuild = subprocess.Popen(
            [sys.executable, "-c", _SLOW_REBUILD, "views", "rebuild", "--batch-size", "20"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        killed_at = _kill_when_halfway(rebuild, views_file, total)
        assert 0 < killed_at < total

        resumed = subprocess.run(
            [*cli, "views", "update"], env=env, capture_output=True, timeout=120
        )
        assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
        store = SQLiteViewStore(views_file)
        try:
            views = Views(store)
            after = dump(store, views.select())
            assert set(views.runner(ledger).positions().values()) == {total}
        finally:
            store.close()
        assert after == _clean_dump(ledger, tmp_path / "clean.sqlite")


#: The CLI, with each committed batch followed by a pause, so that "half-way" lasts long
#: enough for the test to see it and kill the process there.
_SLOW_REBUILD = """
import time
from projections.runner import ViewRunner
_apply = ViewRunner._apply
def slow(self, *args):
    n = _apply(self, *args)
    time.sleep(0.01)
    return n
ViewRunner._apply = slow
from interfaces.cli import main
main()
"""


def _kill_when_halfway(process: subprocess.Popen[bytes], views_file: Path, total: int) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the rebuild ended before it could be killed"
        position = _position(views_file)
        if position >= total // 2:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            return _position(views_file)
        time.sleep(0.005)
    process.kill()
    pytest.fail("the rebuild did not reach half-way within two minutes")


def _position(views_file: Path) -> int:
    if not views_file.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{views_file}?mode=ro", uri=True, timeout=5) as connection:
            row = connection.execute("SELECT min(position) FROM view_tracking").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0] or 0) if row else 0


class TestReadingInBatches:
    def test_batches_hold_at_most_their_size_and_every_event_once_in_order(
        self, ledger: Ledger
    ) -> None:
        _case(ledger, 1, 30)
        total = ledger.recorder.max_notification_id() or 0
        batches = list(ledger.recorder.read_batches(gt=3, until=total, size=7))
        assert max(len(b) for b in batches) == 7
        assert [n.id for b in batches for n in b] == list(range(4, total + 1))
        assert batches[0][0].topic == "AgencyRegistered"


class TestFollowingSurvivesTheServer:
    def test_a_follower_carries_on_after_the_server_restarts(
        self, fresh_server: EmbeddedNats, tmp_path: Path
    ) -> None:
        url = fresh_server.url
        ledger = Ledger(env=_settings(url, "LEDGER", "ledger").persistence_env(url))
        establish(ledger)
        _case(ledger, 1, 3)
        views = Views(SQLiteViewStore(tmp_path / "views.sqlite"))
        runner = views.runner(ledger, ["chronology"])
        follower = threading.Thread(target=runner.follow)
        follower.start()
        try:
            _wait_for(runner, ledger)
            fresh_server.kill()
            fresh_server.restart()
            _until_readable(ledger)
            _case(ledger, 2, 3)
            _wait_for(runner, ledger, timeout=30)
            assert follower.is_alive()
        finally:
            runner.stop()
            follower.join(timeout=15)
        entries = views.chronology.chronology(P, "c2").entries
        views.close()
        ledger.close()
        assert [e.event_type for e in entries][:2] == ["CaseOpened", "AgencyJoinedCase"]


def _until_readable(ledger: Ledger, timeout: float = 20) -> None:
    """Wait until the restarted server answers reads (the ledger's own clients reconnect)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ledger.recorder.max_notification_id()
            return
        except LedgerUnavailable:
            assert time.monotonic() < deadline, "the server did not come back"
            time.sleep(0.2)


def _wait_for(runner: object, ledger: Ledger, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    target = ledger.recorder.max_notification_id() or 0
    while min(runner.positions().values()) < target:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the follower did not catch up"
        time.sleep(0.05)
