"""Snapshots on a stream of their own: never a fact, never a notification, always disposable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import uuid4

import nats
import pytest
from eventsourcing.persistence import InfrastructureFactory, StoredEvent
from eventsourcing.tests.application import BankAccounts
from eventsourcing.utils import Environment

from ledger.nats import Factory
from ledger.nats._snapshots import SNAPSHOTS_PER_AGGREGATE, NatsSnapshotRecorder


def _env(nats_url: str, stream_name: str, subject_prefix: str) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "ledger.nats",
        "NATS_URL": nats_url,
        "NATS_STREAM": stream_name,
        "NATS_SUBJECT_PREFIX": subject_prefix,
        "IS_SNAPSHOTTING_ENABLED": "y",
    }


def _api(url: str, subject: str, body: dict[str, object] | None = None) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        nc = await nats.connect(url)
        try:
            payload = json.dumps(body).encode() if body is not None else b""
            reply = await nc.request(subject, payload, timeout=5)
            return json.loads(reply.data)  # type: ignore[no-any-return]
        finally:
            await nc.close()

    return asyncio.run(go())


@pytest.fixture
def bank(nats_url: str, stream_name: str, subject_prefix: str) -> Iterator[BankAccounts]:
    app = BankAccounts(env=_env(nats_url, stream_name, subject_prefix))
    yield app
    app.close()


@pytest.fixture
def snapshots(nats_url: str, stream_name: str, subject_prefix: str) -> Iterator[Any]:
    factory = InfrastructureFactory.construct(
        Environment(env=_env(nats_url, stream_name, subject_prefix))
    )
    assert isinstance(factory, Factory)
    recorder = factory.aggregate_recorder(purpose="snapshots")
    assert isinstance(recorder, NatsSnapshotRecorder)
    yield recorder
    factory.close()


def _snapshot(originator: Any, version: int) -> StoredEvent:
    return StoredEvent(
        originator_id=originator, originator_version=version, topic="snap", state=b"{}"
    )


class TestSnapshotsLiveOutsideTheLedger:
    def test_a_snapshot_is_neither_a_message_of_the_ledger_stream_nor_a_notification(
        self, bank: BankAccounts, nats_url: str, stream_name: str
    ) -> None:
        account = bank.open_account(full_name="A", email_address="a@example.com")
        bank.credit_account(account, Decimal("1.00"))
        before = _api(nats_url, f"$JS.API.STREAM.INFO.{stream_name}")["state"]["messages"]
        bank.take_snapshot(account)
        after = _api(nats_url, f"$JS.API.STREAM.INFO.{stream_name}")["state"]
        assert after["messages"] == before == 2
        assert len(bank.notification_log["1,10"].items) == 2
        kept = _api(nats_url, f"$JS.API.STREAM.INFO.{stream_name}_SNAPSHOTS")["state"]
        assert kept["messages"] == 1

    def test_an_aggregate_loads_from_its_events_after_the_snapshot_stream_is_purged(
        self, bank: BankAccounts, nats_url: str, stream_name: str
    ) -> None:
        account = bank.open_account(full_name="A", email_address="a@example.com")
        bank.credit_account(account, Decimal("2.50"))
        bank.take_snapshot(account)
        purged = _api(nats_url, f"$JS.API.STREAM.PURGE.{stream_name}_SNAPSHOTS")
        assert purged.get("success") is True
        assert bank.repository.get(account).balance == Decimal("2.50")


class TestTheSnapshotStore:
    def test_it_keeps_only_the_latest_few_snapshots_of_an_aggregate(
        self, snapshots: NatsSnapshotRecorder
    ) -> None:
        originator = uuid4()
        for version in range(1, SNAPSHOTS_PER_AGGREGATE + 3):
            snapshots.insert_events([_snapshot(originator, version)])
        kept = [e.originator_version for e in snapshots.select_events(originator)]
        assert kept == list(range(3, SNAPSHOTS_PER_AGGREGATE + 3))

    def test_the_latest_version_wins_even_when_snapshots_arrive_out_of_order(
        self, snapshots: NatsSnapshotRecorder
    ) -> None:
        originator = uuid4()
        for version in (5, 9, 7):
            snapshots.insert_events([_snapshot(originator, version)])
        latest = snapshots.select_events(originator, desc=True, limit=1)
        assert [e.originator_version for e in latest] == [9]
        at_or_before = snapshots.select_events(originator, desc=True, limit=1, lte=8)
        assert [e.originator_version for e in at_or_before] == [7]
