"""A save whose acknowledgement was lost finds itself stored, even while look-ups cannot get
through yet; and when it cannot tell, its error says whether the save may have been stored.

The lost acknowledgement and the look-ups that fail (as over a connection still
reconnecting after a server restart) are made on purpose, so nothing here depends on
timing: the first try is really stored, and the retry is really refused by the server
as taking a place already taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import nats.errors
import pytest
from eventsourcing.persistence import InfrastructureFactory, StoredEvent
from eventsourcing.utils import Environment

from ledger.errors import LedgerError, LedgerUnavailable, SaveOutcomeUnknown
from ledger.nats import Factory, NatsApplicationRecorder, _stream
from runtime.embedded import EmbeddedNats


def _factory(url: str, stream: str, prefix: str) -> Factory:
    env = Environment(
        env={
            "PERSISTENCE_MODULE": "ledger.nats",
            "NATS_URL": url,
            "NATS_STREAM": stream,
            "NATS_SUBJECT_PREFIX": prefix,
            "NATS_WRITE_RETRY_S": "5",
        }
    )
    f = InfrastructureFactory.construct(env)
    assert isinstance(f, Factory)
    return f


@pytest.fixture
def factory(nats_url: str, stream_name: str, subject_prefix: str) -> Iterator[Factory]:
    f = _factory(nats_url, stream_name, subject_prefix)
    yield f
    f.close()


@pytest.fixture
def recorder(factory: Factory) -> NatsApplicationRecorder:
    r = factory.application_recorder()
    assert isinstance(r, NatsApplicationRecorder)
    return r


def _event(version: int) -> StoredEvent:
    return StoredEvent(
        originator_id="p1.case.a", originator_version=version, topic="t", state=b"{}"
    )


def _versions(recorder: NatsApplicationRecorder) -> list[int]:
    return [e.originator_version for e in recorder.select_events("p1.case.a")]


class _LookUpsFail:
    """Makes the next ``failures`` direct gets fail as over a reconnecting connection."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, failures: int) -> None:
        self.left = 0
        self._failures = failures
        real = _stream.direct_get

        async def direct_get(*args: Any, **kwargs: Any) -> Any:
            if self.left > 0:
                self.left -= 1
                try:
                    raise nats.errors.ConnectionReconnectingError
                except nats.errors.Error as e:
                    raise LedgerUnavailable("direct get failed: reconnecting") from e
            return await real(*args, **kwargs)

        monkeypatch.setattr(_stream, "direct_get", direct_get)

    def start(self) -> None:
        self.left = self._failures


def _lose_first_ack(recorder: NatsApplicationRecorder, then: Any) -> None:
    """The first publish is stored but its ack is lost; ``then()`` runs in between."""
    real = recorder._publish
    lost: list[object] = []

    def publish(driver: Any, msgs: Any) -> Any:
        ack = real(driver, msgs)
        if not lost:
            lost.append(ack)
            then()
            raise LedgerUnavailable("ack lost")
        return ack

    recorder._publish = publish  # type: ignore[method-assign]


class TestASaveWhoseAckWasLost:
    def test_is_found_stored_when_its_look_up_gets_through_only_after_a_few_tries(
        self, recorder: NatsApplicationRecorder, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        recorder.insert_events([_event(1)])
        lookups = _LookUpsFail(monkeypatch, failures=3)
        _lose_first_ack(recorder, lookups.start)
        ids = recorder.insert_events([_event(2)])
        assert ids == [2]  # the receipt of the first try, not an error
        assert lookups.left == 0  # the look-up really failed three times first
        assert _versions(recorder) == [1, 2]  # and the event is stored once

    def test_says_it_may_have_been_stored_when_no_look_up_gets_through_in_the_window(
        self, recorder: NatsApplicationRecorder, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        recorder.insert_events([_event(1)])
        recorder.write_retry_s = 0.3
        lookups = _LookUpsFail(monkeypatch, failures=10**6)
        _lose_first_ack(recorder, lookups.start)
        with pytest.raises(SaveOutcomeUnknown, match="may have been stored") as caught:
            recorder.insert_events([_event(2)])
        assert caught.value.may_have_been_stored is True
        assert isinstance(caught.value, LedgerUnavailable)
        assert isinstance(caught.value, LedgerError)
        lookups.left = 0
        assert _versions(recorder) == [1, 2]  # it was: a caller must look before retrying

    def test_is_found_stored_after_the_server_restarted_before_the_retry(
        self, fresh_server: EmbeddedNats, stream_name: str, subject_prefix: str
    ) -> None:
        factory = _factory(fresh_server.url, stream_name, subject_prefix)
        try:
            recorder = factory.application_recorder()
            assert isinstance(recorder, NatsApplicationRecorder)
            recorder.insert_events([_event(1)])
            # Both of the recorder's connections die with the server; the retry reconnects.
            _lose_first_ack(recorder, fresh_server.restart)
            assert recorder.insert_events([_event(2)]) == [2]
        finally:
            factory.close()
        reader = _factory(fresh_server.url, stream_name, subject_prefix)
        try:
            again = reader.application_recorder()
            assert isinstance(again, NatsApplicationRecorder)
            assert _versions(again) == [1, 2]  # stored once
        finally:
            reader.close()


class TestASaveThatCannotResolveARefusal:
    def test_says_nothing_was_stored_when_no_try_of_it_could_have_been(
        self,
        factory: Factory,
        recorder: NatsApplicationRecorder,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        recorder.insert_events([_event(1)])
        factory.application_recorder().insert_events([_event(2)])  # another writer
        recorder.write_retry_s = 0.3
        lookups = _LookUpsFail(monkeypatch, failures=10**6)
        lookups.start()
        with pytest.raises(LedgerUnavailable, match="nothing was stored") as caught:
            recorder.insert_events([_event(2)])  # refused: version 2 is taken
        assert caught.value.may_have_been_stored is False
        assert not isinstance(caught.value, SaveOutcomeUnknown)
        lookups.left = 0
        assert recorder.max_notification_id() == 2


def _refuse_after_first_ack_lost(recorder: NatsApplicationRecorder) -> None:
    """The first publish is stored but its ack lost; every later try is refused by the
    stream with an error other than a wrong expected sequence (as when it runs out of
    resources), so only a look-up can say what became of the save."""
    real = recorder._publish
    tries: list[object] = []

    def publish(driver: Any, msgs: Any) -> Any:
        if not tries:
            tries.append(real(driver, msgs))
            raise LedgerUnavailable("ack lost")
        return _stream.PubAck(
            error=_stream.ApiError(err_code=10023, code=503, description="insufficient resources")
        )

    recorder._publish = publish  # type: ignore[method-assign]


class TestASaveWhoseRetryIsRefusedOtherwise:
    def test_is_found_stored_when_an_earlier_try_landed(
        self, recorder: NatsApplicationRecorder
    ) -> None:
        recorder.insert_events([_event(1)])
        _refuse_after_first_ack_lost(recorder)
        assert recorder.insert_events([_event(2)]) == [2]  # not "refused"
        assert _versions(recorder) == [1, 2]

    def test_says_it_may_have_been_stored_when_the_look_up_cannot_tell(
        self, recorder: NatsApplicationRecorder, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        recorder.insert_events([_event(1)])
        recorder.write_retry_s = 0.3
        lookups = _LookUpsFail(monkeypatch, failures=10**6)
        _refuse_after_first_ack_lost(recorder)
        lookups.start()
        with pytest.raises(SaveOutcomeUnknown) as caught:
            recorder.insert_events([_event(2)])
        assert caught.value.may_have_been_stored is True
