"""The whole path for an agency, with authentication on: a command, the delivery service,
the agency's own credentials, its client and ``ledger subscribe``; and the broker refusing
what is not the agency's."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_scenario import establish

from consumers import consumer_name, delivery_stream
from consumers.client import AgencySubscription, Delivery
from consumers.manager import delivery_runner
from ledger.application import Ledger
from ledger.signing import public_key_text
from projections.sqlite import SQLiteViewStore
from runtime.access import add_agency, ensure_admin_user, ensure_service_users, load_credentials
from runtime.bootstrap import delivery_step, initialise_streams
from runtime.embedded import EmbeddedNats
from runtime.settings import Settings

P = "northshire"
LA = {"agency": "la", "actor": "act_sw-000001"}


@dataclass
class World:
    server: EmbeddedNats
    settings: Settings
    data: Path
    ledger: Ledger


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    data = tmp_path / "data"
    settings = Settings(data_dir=data, timeout_s=5.0)
    service = ensure_service_users(data, settings)
    for agency in ("police", "health"):
        add_agency(data, settings, agency, consumer_stream=delivery_stream(settings.stream))
    admin = ensure_admin_user(data, settings)
    with EmbeddedNats(data, auth=True) as server:
        # The admin's step: the service may not make streams.
        initialise_streams(settings, server.url, admin, steps=[delivery_step(settings)])
        env = settings.persistence_env(service.ledger.url(server.url), create_stream=False)
        ledger = Ledger(env=env)
        establish(ledger)  # northshire, with la, police and health registered
        ledger.open_case(
            partnership=P,
            case="c1",
            recorded_by=LA,
            children=[{"child": "ch_0123456789abcdef", "age_band": "5_9"}],
        )
        ledger.join_case(partnership=P, case="c1", recorded_by=LA, agency="police")
        ledger.record_action(partnership=P, case="c1", recorded_by=LA, action="home_visit")
        ledger.open_case(
            partnership=P,
            case="c2",
            recorded_by=LA,
            children=[{"child": "ch_fedcba9876543210", "age_band": "under_1"}],
        )
        ledger.join_case(partnership=P, case="c2", recorded_by=LA, agency="health")
        ledger.record_action(partnership=P, case="c2", recorded_by=LA, action="child_seen")
        # Each agency's first key, on the operator's word: each is told of its own only.
        for n, (agency, key_id) in enumerate((("police", "k1"), ("health", "h-1")), start=1):
            ledger.register_agency_key(
                partnership=P,
                recorded_by={"agency": agency, "actor": "act_admin01"},
                agency=agency,
                key_id=key_id,
                public_key=public_key_text(Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32)),
            )
        store = SQLiteViewStore(data / "views.sqlite")
        delivery_runner(
            ledger, store, stream=settings.stream, subject_prefix=settings.subject_prefix
        ).catch_up()
        store.close()
        yield World(server, settings, data, ledger)
        ledger.close()


class TestAnAgencyReceivesItsCasesAndNothingElse:
    def test_ledger_subscribe_prints_the_agencys_events_as_json_lines(self, world: World) -> None:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "from interfaces.cli import main; main()",
                "subscribe",
                "--agency",
                "police",
                "--limit",
                "3",
            ],
            env={
                **os.environ,
                "NATS_URL": world.server.url,
                "LEDGER_DATA_DIR": str(world.data),
                "LEDGER_LOG_JSON": "1",
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        assert [(x["case"], x["key_id"], x["type"]) for x in lines] == [
            ("c1", None, "AgencyJoinedCase"),
            ("c1", None, "ActionRecorded"),
            (None, "k1", "AgencyKeyRegistered"),
        ]
        assert lines[1]["event"]["action"] == "home_visit"
        assert (lines[2]["event"]["agency"], lines[2]["challenge"]) == ("police", None)

    def test_its_client_with_its_credentials_gets_its_cases_and_its_keys_only(
        self, world: World
    ) -> None:
        async def read() -> list[str]:
            got: list[str] = []
            path = world.data / "credentials" / "agency_health.json"
            async with AgencySubscription.from_credentials(path, world.server.url, poll=0.5) as sub:
                stop = asyncio.Event()

                async def handler(delivery: Delivery) -> None:
                    got.append(f"{delivery.case or delivery.key_id}:{delivery.event_type}")
                    if len(got) == 3:
                        stop.set()

                await asyncio.wait_for(sub.run(handler, stop=stop), timeout=20)
            return got

        # Health joined c2 after it was opened: its history before the join is not delivered.
        # Its own key comes through its consumer, under its permissions; police's does not.
        assert asyncio.run(read()) == [
            "c2:AgencyJoinedCase",
            "c2:ActionRecorded",
            "h-1:AgencyKeyRegistered",
        ]

    def test_its_credentials_cannot_read_another_agencys_consumer_or_the_ledger(
        self, world: World
    ) -> None:
        police = load_credentials(world.data / "credentials" / "agency_police.json")
        stream = delivery_stream(world.settings.stream)

        async def attempt() -> list[str]:
            errors: list[str] = []

            async def on_error(e: Exception) -> None:
                errors.append(str(e))

            nc = await nats.connect(
                world.server.url,
                error_cb=on_error,
                allow_reconnect=False,
                **police.connect_options(),
            )
            try:
                js = nc.jetstream(timeout=0.5)
                sub = await js.pull_subscribe_bind(consumer_name("health"), stream=stream)
                with pytest.raises(nats.errors.TimeoutError):
                    await sub.fetch(1, timeout=0.5)
                await nc.subscribe(f"{world.settings.subject_prefix}.>")
                await nc.flush(timeout=1)
                await nc.publish(f"{world.settings.subject_prefix}.{P}.case.c1", b"{}")
                await nc.flush(timeout=1)
                await asyncio.sleep(0.3)
            finally:
                await nc.close()
            return errors

        errors = asyncio.run(attempt())
        refused = "nats: permissions violation for"
        pull = f"$js.api.consumer.msg.next.{stream.lower()}.agency_health"
        ledger_subjects = f"{world.settings.subject_prefix}.>"
        case = f"{world.settings.subject_prefix}.{P}.case.c1"
        assert f'{refused} publish to "{pull}"' in errors, errors
        assert f'{refused} subscription to "{ledger_subjects}"' in errors, errors
        assert f'{refused} publish to "{case}"' in errors, errors


class TestProjectionWorkersHaveTheirOwnReadOnlyLogin:
    def test_the_projections_user_rebuilds_the_views_and_cannot_record_anything(
        self, world: World
    ) -> None:
        from ledger.errors import LedgerError
        from projections import Views

        users = ensure_service_users(world.data, world.settings)
        reader = Ledger(
            env=world.settings.persistence_env(
                users.projections.url(world.server.url),
                inbox_prefix=users.projections.inbox_prefix,
                create_stream=False,
            )
        )
        views = Views(SQLiteViewStore(world.data / "reader-views.sqlite"))
        try:
            stats = views.runner(reader).rebuild()
            assert stats.events == world.ledger.recorder.max_notification_id()
            assert [e.event_type for e in views.chronology.chronology(P, "c2").entries][:1] == [
                "CaseOpened"
            ]
            before = world.ledger.recorder.max_notification_id()
            with pytest.raises(LedgerError):
                reader.record_action(partnership=P, case="c1", recorded_by=LA, action="home_visit")
            assert world.ledger.recorder.max_notification_id() == before
        finally:
            views.close()
            reader.close()
