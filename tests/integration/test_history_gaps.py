"""A stored history that skips a version is refused by name and logged loudly, on a real server.

The gaps are made as an attacker with publish rights would make them: raw messages
with the ledger's headers, published on an aggregate's subject with no expectation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from ledger.application import Ledger
from ledger.errors import CorruptHistory, HistoryGap, LedgerError
from ledger.nats import _stream
from runtime.settings import Settings

P = "northshire"
LA = {"agency": "la", "actor": "act_sw-000001"}


def _ledger(url: str, stream: str, prefix: str) -> Ledger:
    return Ledger(env=Settings(stream=stream, subject_prefix=prefix).persistence_env(url))


@pytest.fixture
def ledger(nats_url: str, stream_name: str, subject_prefix: str) -> Iterator[Ledger]:
    """A ledger whose partnership has versions 1 (established), 2 and 3 (two agencies)."""
    app = _ledger(nats_url, stream_name, subject_prefix)
    app.establish_partnership(
        partnership=P,
        recorded_by=LA,
        name="Northshire",
        nation="england",
        escalation_stages=[{"stage": 1, "title": "Practitioners", "response_working_days": 5}],
    )
    for agency, kind in (("la", "local_authority"), ("police", "police")):
        app.register_agency(
            partnership=P,
            recorded_by=LA,
            agency=agency,
            name=f"{kind} agency",
            kind=kind,
            role="statutory_partner",
        )
    yield app
    app.close()


def _copy_as(ledger: Ledger, stream: str, source: str, target: str, version: int) -> None:
    """Publish the last message of ``source`` again on ``target`` as ``version``, raw."""
    pool = ledger.recorder.pool  # type: ignore[attr-defined]
    last = pool.run(lambda nc: _stream.direct_get(nc, stream, {"last_by_subj": source}, 5.0))
    assert last is not None
    h = _stream.headers(
        stream,
        f"forged-{target}-{version}",
        None,
        topic=last.headers[_stream.HDR_TOPIC],
        version=version,
    )
    ack = pool.run(
        lambda nc: _stream.publish(nc, stream, [_stream.OutMsg(target, last.data, h)], 5.0)
    )
    assert ack.error is None


class TestAHistoryWithAGap:
    def test_a_skipped_version_is_refused_naming_the_subject_and_the_missing_version(
        self, ledger: Ledger, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        subject = f"{subject_prefix}.{P}.partnership.{P}"
        _copy_as(ledger, stream_name, subject, subject, 5)  # versions 1, 2, 3, 5
        fresh = _ledger(nats_url, stream_name, subject_prefix)  # nothing cached
        try:
            with capture_logs() as logs, pytest.raises(HistoryGap) as caught:
                fresh.get_partnership(P)
        finally:
            fresh.close()
        error = caught.value
        assert isinstance(error, CorruptHistory)
        assert isinstance(error, LedgerError)
        assert isinstance(error, RuntimeError)
        assert (error.subject, error.missing_version) == (subject, 4)
        assert subject in str(error)
        assert "no version 4" in str(error)
        assert [e["log_level"] for e in logs if e["event"] == "ledger_history_gap"] == ["critical"]

    def test_the_recorder_itself_refuses_to_return_a_history_with_a_gap(
        self, ledger: Ledger, stream_name: str, subject_prefix: str
    ) -> None:
        subject = f"{subject_prefix}.{P}.partnership.{P}"
        _copy_as(ledger, stream_name, subject, subject, 5)
        with pytest.raises(HistoryGap, match="no version 4") as caught:
            ledger.recorder.select_events(f"{P}.partnership.{P}")
        assert caught.value.missing_version == 4

    def test_a_history_without_its_first_version_is_refused_naming_version_1(
        self, ledger: Ledger, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        source = f"{subject_prefix}.{P}.partnership.{P}"
        _copy_as(ledger, stream_name, source, f"{subject_prefix}.other.partnership.other", 2)
        with capture_logs() as logs, pytest.raises(HistoryGap, match="no version 1") as caught:
            ledger.get_partnership("other")
        assert caught.value.missing_version == 1
        assert caught.value.subject == "other.partnership.other"
        assert any(e["event"] == "ledger_history_gap" for e in logs)

    def test_an_intact_history_still_loads(
        self, ledger: Ledger, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        fresh = _ledger(nats_url, stream_name, subject_prefix)
        try:
            assert fresh.get_partnership(P).version == 3
        finally:
            fresh.close()
