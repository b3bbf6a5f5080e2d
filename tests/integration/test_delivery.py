"""Delivery against a real server: each agency gets its cases' events, joins and leaves included."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from ledger_scenario import establish

import schemas
from consumers.manager import DeliveryPolicy, delivery_runner
from ledger.application import Ledger
from projections.sqlite import SQLiteViewStore
from runtime.settings import Settings
from schemas.wire import consumer_name, delivery_stream

P = "northshire"
LA = {"agency": "la", "actor": "act_sw-000001"}
POLICE = {"agency": "police", "actor": "act_pc-000001"}
HEALTH = {"agency": "health", "actor": "act_hv-000001"}


@pytest.fixture
def settings(nats_url: str, stream_name: str, subject_prefix: str) -> Settings:
    return Settings(
        nats_url=nats_url, stream=stream_name, subject_prefix=subject_prefix, timeout_s=2.0
    )


@pytest.fixture
def ledger(settings: Settings, nats_url: str) -> Iterator[Ledger]:
    app = Ledger(env=settings.persistence_env(nats_url))
    establish(app)  # northshire, with la, police and health registered
    yield app
    app.close()


def _received(
    url: str, settings: Settings, agency: str, timeout: float = 3.0
) -> list[tuple[str, str, int]]:
    """(case, event type, ledger sequence) of everything waiting for ``agency``, acked."""

    async def pull() -> list[tuple[str, str, int]]:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe_bind(
                consumer_name(agency), stream=delivery_stream(settings.stream)
            )
            out: list[tuple[str, str, int]] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    msgs = await sub.fetch(1, timeout=0.5)  # one in flight per agency
                except nats.errors.TimeoutError:
                    break
                for msg in msgs:
                    event = schemas.decode_event(msg.data)
                    out.append(
                        (
                            msg.subject.split(".")[-1],
                            type(event).__struct_config__.tag,
                            int(msg.headers["Ledger-Source-Sequence"]),
                        )
                    )
                    await msg.ack()
            return out
        finally:
            await nc.close()

    return asyncio.run(pull())


class TestDelivery:
    def test_each_agency_receives_its_cases_from_its_join_until_its_leave(
        self, ledger: Ledger, settings: Settings, nats_url: str, tmp_path: Path
    ) -> None:
        ledger.open_case(
            partnership=P,
            case="c1",
            recorded_by=LA,
            children=[{"child": "ch_0123456789abcdef", "age_band": "5_9"}],
        )
        ledger.record_action(partnership=P, case="c1", recorded_by=LA, action="referral_received")
        ledger.join_case(partnership=P, case="c1", recorded_by=LA, agency="police")
        ledger.record_action(
            partnership=P, case="c1", recorded_by=POLICE, action="strategy_discussion"
        )
        ledger.leave_case(partnership=P, case="c1", recorded_by=LA, agency="police")
        ledger.record_action(partnership=P, case="c1", recorded_by=LA, action="home_visit")
        ledger.open_case(
            partnership=P,
            case="c2",
            recorded_by=HEALTH,
            children=[{"child": "ch_fedcba9876543210", "age_band": "under_1"}],
        )

        store = SQLiteViewStore(tmp_path / "views.sqlite")
        try:
            delivery_runner(
                ledger,
                store,
                DeliveryPolicy(backoff_s=(0.5,), max_deliver=2),
                stream=settings.stream,
                subject_prefix=settings.subject_prefix,
            ).catch_up()
        finally:
            store.close()

        la = _received(nats_url, settings, "la")
        police = _received(nats_url, settings, "police")
        health = _received(nats_url, settings, "health")
        assert [(c, t) for c, t, _ in la] == [
            ("c1", "CaseOpened"),
            ("c1", "ActionRecorded"),
            ("c1", "AgencyJoinedCase"),
            ("c1", "ActionRecorded"),
            ("c1", "AgencyLeftCase"),
            ("c1", "ActionRecorded"),
        ]
        assert [(c, t) for c, t, _ in police] == [
            ("c1", "AgencyJoinedCase"),
            ("c1", "ActionRecorded"),
            ("c1", "AgencyLeftCase"),
        ]
        assert [(c, t) for c, t, _ in health] == [("c2", "CaseOpened")]
        assert [s for _, _, s in la] == sorted(s for _, _, s in la)

    def test_following_delivers_events_as_they_are_recorded_and_a_restart_repeats_nothing(
        self, ledger: Ledger, settings: Settings, nats_url: str, tmp_path: Path
    ) -> None:
        ledger.open_case(
            partnership=P,
            case="c1",
            recorded_by=LA,
            children=[{"child": "ch_0123456789abcdef", "age_band": "5_9"}],
        )
        store = SQLiteViewStore(tmp_path / "views.sqlite")
        runner = delivery_runner(
            ledger, store, stream=settings.stream, subject_prefix=settings.subject_prefix
        )
        follower = threading.Thread(target=runner.follow)
        follower.start()
        try:
            for i in range(20):
                ledger.record_action(
                    partnership=P,
                    case="c1",
                    recorded_by=LA,
                    action="home_visit" if i % 2 else "child_seen",
                )
            deadline = time.monotonic() + 10
            while runner.positions()["delivery"] < (ledger.recorder.max_notification_id() or 0):
                assert time.monotonic() < deadline, "the delivery did not catch up"
                time.sleep(0.05)
        finally:
            runner.stop()
            follower.join(timeout=10)
        # A second runner on the same store (a restart) finds nothing new to deliver.
        again = delivery_runner(
            ledger, store, stream=settings.stream, subject_prefix=settings.subject_prefix
        ).catch_up()
        store.close()
        assert again.events == 0
        received = _received(nats_url, settings, "la")
        assert len(received) == 21
        assert [s for _, _, s in received] == sorted({s for _, _, s in received})
