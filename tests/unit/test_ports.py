"""The readers' public face: a declared batch reader, and the alias persistence module."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from eventsourcing.persistence import Notification
from eventsourcing.popo import POPOApplicationRecorder

import ledger.nats
import ledger.persistence
from ledger.ports import BatchReader, batch_reader


class _Batches:
    def read_batches(
        self, *, gt: int, until: int | None, size: int, stop: threading.Event | None = None
    ) -> Iterator[list[Notification]]:
        yield []


class TestBatchReader:
    def test_a_recorder_with_read_batches_is_a_batch_reader(self) -> None:
        recorder = _Batches()
        assert batch_reader(recorder) is recorder
        assert isinstance(recorder, BatchReader)

    def test_a_library_recorder_is_not_one_and_is_read_in_pages(self) -> None:
        assert batch_reader(POPOApplicationRecorder()) is None

    def test_the_nats_recorder_declares_the_reader(self) -> None:
        assert issubclass(ledger.nats.NatsApplicationRecorder, BatchReader)


class TestPersistenceAlias:
    def test_ledger_persistence_names_the_nats_factory_and_nothing_else(self) -> None:
        assert ledger.persistence.Factory is ledger.nats.Factory
        assert ledger.persistence.__all__ == ["Factory"]
