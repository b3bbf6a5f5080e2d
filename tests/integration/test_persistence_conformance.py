"""eventsourcing's own recorder conformance test cases, unchanged, against a real nats-server.

Each test gets a stream of its own on the session's server (the library's tests
expect notification ids to start at 1).
"""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
    TrackingRecorder,
)
from eventsourcing.tests import application as library_application  # a module, not the case
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    InfrastructureFactoryTestCase,
    ProcessRecorderTestCase,
    TrackingRecorderTestCase,
)
from eventsourcing.utils import Environment

from ledger.nats import (
    Factory,
    NatsAggregateRecorder,
    NatsApplicationRecorder,
    NatsProcessRecorder,
    NatsTrackingRecorder,
)


class _OnNats:
    """Gives each test a factory on its own stream of the session's server, selected by
    the alias module ``ledger.persistence`` (issue 8's name), which must stay a drop-in."""

    factory: Factory

    @pytest.fixture(autouse=True)
    def _nats(self, nats_url: str, stream_name: str, subject_prefix: str) -> Any:
        self.env = Environment(
            env={
                "PERSISTENCE_MODULE": "ledger.persistence",
                "NATS_URL": nats_url,
                "NATS_STREAM": stream_name,
                "NATS_SUBJECT_PREFIX": subject_prefix,
            }
        )
        self.factory = InfrastructureFactory.construct(self.env)  # type: ignore[assignment]
        yield
        self.factory.close()


class TestNatsAggregateRecorder(_OnNats, AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return self.factory.aggregate_recorder()


class TestNatsApplicationRecorder(_OnNats, ApplicationRecorderTestCase[NatsApplicationRecorder]):
    def create_recorder(self) -> NatsApplicationRecorder:
        recorder = self.factory.application_recorder()
        assert isinstance(recorder, NatsApplicationRecorder)
        return recorder

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class TestNatsTrackingRecorder(_OnNats, TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        return self.factory.tracking_recorder()


class TestNatsProcessRecorder(_OnNats, ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        return self.factory.process_recorder()


class _TrackingSubclass(NatsTrackingRecorder):
    pass


class TestNatsInfrastructureFactory(_OnNats, InfrastructureFactoryTestCase[Factory]):
    def setUp(self) -> None:
        # The library's setUp constructs its own factory from self.env; close ours first.
        self.factory.close()
        super().setUp()

    def expected_factory_class(self) -> type[Factory]:
        return Factory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return NatsAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return NatsApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return NatsTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return _TrackingSubclass

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return NatsProcessRecorder


class TestExampleApplicationOnNats(library_application.ExampleApplicationTestCase):
    """The library's own example application (``BankAccounts``: its own ``EmailAddress``
    transcoding, snapshotting on) with nothing but ``PERSISTENCE_MODULE=ledger.nats``."""

    persistence_module = "ledger.nats"
    expected_factory_topic = "ledger.nats.persistence:Factory"

    @pytest.fixture(autouse=True)
    def _nats(
        self, monkeypatch: pytest.MonkeyPatch, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        # BankAccounts reads its environment from the process, as any application does.
        monkeypatch.setenv("PERSISTENCE_MODULE", self.persistence_module)
        monkeypatch.setenv("NATS_URL", nats_url)
        monkeypatch.setenv("NATS_STREAM", stream_name)
        monkeypatch.setenv("NATS_SUBJECT_PREFIX", subject_prefix)


class TestExampleApplicationOnTheAlias(TestExampleApplicationOnNats):
    """The same through ``PERSISTENCE_MODULE=ledger.persistence``, the alias issue 8 named."""

    persistence_module = "ledger.persistence"
