"""The proofs on the write path against a real nats-server: the hash chain of every
aggregate subject, and agency signatures checked before anything is written.

Every check reads the stored messages back from the stream (subject, headers, payload)
and recomputes what a verifier would: ``entry_hash`` of the previous message on the
subject, ``verify_assertion`` of the stored signature.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent
from ledger_scenario import revoke_signed

from ledger.application import Ledger
from ledger.errors import ConcurrencyConflict
from ledger.nats import _stream
from ledger.nats._recorders import NatsApplicationRecorder
from ledger.proofs.entry import SignatureHeader, b64, entry_hash, verify_assertion
from ledger.proofs.errors import SignatureInvalid, SignatureRefused
from ledger.signing import public_key_text, sign_command
from runtime.agency_keys import write_service_key
from runtime.settings import Settings
from schemas.commands import RecordAction

P = "northshire"
LA = {"agency": "la", "actor": "act_sw-000001"}
POLICE = {"agency": "police", "actor": "act_pc-000001"}
CHILD = "ch_0123456789abcdef"


def _ledger(url: str, stream: str, prefix: str, keys_dir: Path, **extra: str) -> Ledger:
    settings = Settings(stream=stream, subject_prefix=prefix, timeout_s=2.0)
    env = settings.persistence_env(url)
    env.update({"LEDGER_AGENCY_KEYS_DIR": str(keys_dir), **extra})
    return Ledger(env=env)


def _setup(ledger: Ledger) -> None:
    ledger.establish_partnership(
        partnership=P,
        recorded_by=LA,
        name="Northshire",
        nation="england",
        escalation_stages=[{"stage": 1, "title": "Practitioners", "response_working_days": 5}],
    )
    for agency, kind in (("la", "local_authority"), ("police", "police")):
        ledger.register_agency(
            partnership=P,
            recorded_by=LA,
            agency=agency,
            name=f"{kind} agency",
            kind=kind,
            role="statutory_partner",
        )
    ledger.open_case(
        partnership=P, case="c1", recorded_by=LA, children=[{"child": CHILD, "age_band": "5_9"}]
    )
    ledger.join_case(partnership=P, case="c1", recorded_by=LA, agency="police")


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "agencies"


@pytest.fixture
def open_ledger(
    nats_url: str, stream_name: str, subject_prefix: str, keys_dir: Path
) -> Iterator[type[Ledger]]:
    """``open_ledger()``: another ledger process on the test's stream (cold caches)."""
    opened: list[Ledger] = []

    def make(**extra: str) -> Ledger:
        app = _ledger(nats_url, stream_name, subject_prefix, keys_dir, **extra)
        opened.append(app)
        return app

    yield make  # type: ignore[misc]
    for app in opened:
        app.close()


@pytest.fixture
def ledger(open_ledger: type[Ledger]) -> Ledger:
    app = open_ledger()
    _setup(app)
    return app


def _messages(ledger: Ledger) -> list[_stream.StoredMsg]:
    recorder = ledger.recorder
    assert isinstance(recorder, NatsApplicationRecorder)
    out: list[_stream.StoredMsg] = []
    seq = 1
    while True:
        batch, pending = recorder.pool.run(
            lambda nc, start=seq: _stream.direct_get_batch(
                nc, recorder.stream, f"{recorder.subjects.prefix}.>", start, 500, 5.0
            )
        )
        out.extend(batch)
        if not batch or pending == 0:
            return out
        seq = batch[-1].seq + 1


def _last_seq(ledger: Ledger) -> int:
    msgs = _messages(ledger)
    return msgs[-1].seq if msgs else 0


def _assert_chained(msgs: list[_stream.StoredMsg]) -> int:
    """Every message's Ledger-Prev-Hash is the previous one's on its subject; the links."""
    last: dict[str, _stream.StoredMsg] = {}
    links = 0
    for m in msgs:
        prev = last.get(m.subject)
        if prev is None:
            assert _stream.HDR_PREV_HASH not in m.headers, f"seq {m.seq} is first on its subject"
        else:
            expected = b64(entry_hash(prev.subject, prev.headers, prev.data))
            assert m.headers.get(_stream.HDR_PREV_HASH) == expected, f"seq {m.seq}"
            links += 1
        last[m.subject] = m
    return links


def _action(**changes: object) -> RecordAction:
    fields: dict[str, object] = {
        "partnership": P,
        "case": "c1",
        "action": "home_visit",
        "seen": True,
        "occurred_at": datetime.now(UTC) - timedelta(hours=1),
    }
    fields.update(changes)
    return RecordAction(**fields)  # type: ignore[arg-type]


def _register(ledger: Ledger, key: Ed25519PrivateKey, key_id: str = "k1", **more: str) -> None:
    ledger.register_agency_key(
        partnership=P,
        recorded_by=POLICE,
        agency="police",
        key_id=key_id,
        public_key=public_key_text(key),
        **more,
    )


class TestTheHashChain:
    def test_every_event_after_a_subject_s_first_links_to_the_previous_one(
        self, ledger: Ledger
    ) -> None:
        for _ in range(3):
            ledger.record_action(partnership=P, case="c1", recorded_by=LA, action="home_visit")
        msgs = _messages(ledger)
        # partnership: 3 events, 2 links; case: 5 events, 4 links
        assert _assert_chained(msgs) == 6

    def test_a_batch_of_several_events_on_one_subject_chains_within_the_batch(
        self, ledger: Ledger
    ) -> None:
        recorder = ledger.recorder
        events = [
            StoredEvent(
                originator_id=f"{P}.case.batch", originator_version=v, topic="t", state=b"{}"
            )
            for v in (1, 2, 3)
        ]
        recorder.insert_events(events)
        recorder.insert_events(
            [
                StoredEvent(
                    originator_id=f"{P}.case.batch", originator_version=4, topic="t", state=b"{}"
                )
            ]
        )
        msgs = [m for m in _messages(ledger) if m.subject.endswith(".case.batch")]
        assert len(msgs) == 4
        assert _assert_chained(msgs) == 3

    def test_the_chain_continues_across_a_restart_with_a_cold_cache(
        self, ledger: Ledger, open_ledger: type[Ledger]
    ) -> None:
        ledger.record_action(partnership=P, case="c1", recorded_by=LA, action="home_visit")
        ledger.close()
        restarted = open_ledger()
        restarted.record_action(partnership=P, case="c1", recorded_by=LA, action="child_seen")
        restarted.register_agency(
            partnership=P,
            recorded_by=LA,
            agency="health",
            name="Health",
            kind="health",
            role="statutory_partner",
        )
        # partnership: 4 events, 3 links; case: open, join, two actions: 3 links
        assert _assert_chained(_messages(restarted)) == 3 + 3

    def test_the_chain_holds_after_a_concurrency_conflict_between_two_writers(
        self, ledger: Ledger, open_ledger: type[Ledger]
    ) -> None:
        other = open_ledger()
        other.get_case(P, "c1")  # cached in both processes
        ledger.record_action(partnership=P, case="c1", recorded_by=LA, action="home_visit")
        # other's cached case and position are stale: the save is refused, then retried
        # on fresh state, linking to the event the first writer stored.
        other.record_action(partnership=P, case="c1", recorded_by=LA, action="child_seen")
        recorder = other.recorder
        stale = StoredEvent(
            originator_id=f"{P}.case.c1", originator_version=6, topic="t", state=b"{}"
        )
        with pytest.raises(ConcurrencyConflict):
            recorder.insert_events([stale])  # version 6 is taken: nothing written
        msgs = _messages(ledger)
        assert [m.headers[_stream.HDR_VERSION] for m in msgs if m.subject.endswith("case.c1")] == [
            "1",
            "2",
            "3",
            "4",
        ]
        assert _assert_chained(msgs) == 2 + 3

    def test_a_writer_that_never_read_the_subject_links_by_looking_up_its_last_message(
        self, ledger: Ledger, open_ledger: type[Ledger]
    ) -> None:
        def event(version: int) -> StoredEvent:
            return StoredEvent(
                originator_id=f"{P}.case.look", originator_version=version, topic="t", state=b"{}"
            )

        ledger.recorder.insert_events([event(1), event(2)])
        cold = open_ledger().recorder  # no position for the subject: it must look it up
        cold.insert_events([event(3)])
        ledger.recorder.insert_events([event(4)])  # its hint is stale: looked up again
        msgs = [m for m in _messages(ledger) if m.subject.endswith(".case.look")]
        assert _assert_chained(msgs) == 3

    def test_with_proofs_off_no_event_carries_a_link(self, open_ledger: type[Ledger]) -> None:
        app = open_ledger(LEDGER_PROOFS="n")
        _setup(app)
        assert all(_stream.HDR_PREV_HASH not in m.headers for m in _messages(app))


class TestSignaturesOnNats:
    def test_a_good_signature_is_stored_in_the_header_and_verifies_from_the_stored_message(
        self, ledger: Ledger, subject_prefix: str
    ) -> None:
        key = Ed25519PrivateKey.generate()
        _register(ledger, key)
        command = _action()
        signature = sign_command(command, POLICE, key, "k1", prefix=subject_prefix)
        receipt = ledger.execute(command, recorded_by=POLICE, signature=signature)
        stored = next(m for m in _messages(ledger) if m.seq == receipt.sequence)
        assert stored.headers[_stream.HDR_SIGNATURE] == signature
        verify_assertion(
            key.public_key(), SignatureHeader.parse(signature), stored.subject, stored.data
        )
        assert _assert_chained(_messages(ledger)) >= 1

    @pytest.mark.parametrize("case", ["forged", "other_agency", "revoked", "unsigned_required"])
    def test_a_bad_or_missing_signature_is_refused_and_nothing_is_written(
        self, ledger: Ledger, subject_prefix: str, case: str
    ) -> None:
        key = Ed25519PrivateKey.generate()
        _register(ledger, key)
        command = _action()
        signature: str | None
        error: type[Exception]
        if case == "forged":
            signature = sign_command(
                command, POLICE, Ed25519PrivateKey.generate(), "k1", prefix=subject_prefix
            )
            error = SignatureInvalid
        elif case == "other_agency":
            la_key = Ed25519PrivateKey.generate()
            ledger.register_agency_key(
                partnership=P,
                recorded_by=LA,
                agency="la",
                key_id="la-1",
                public_key=public_key_text(la_key),
            )
            signature = sign_command(command, LA, la_key, "la-1", prefix=subject_prefix)
            error = SignatureRefused
        elif case == "revoked":
            revoke_signed(
                ledger, POLICE, "k1", key, reason="rotated", partnership=P, prefix=subject_prefix
            )
            signature = sign_command(command, POLICE, key, "k1", prefix=subject_prefix)
            error = SignatureRefused
        else:
            ledger.require_signatures(
                partnership=P, recorded_by=LA, required_from=datetime.now(UTC).date()
            )
            signature = None
            error = SignatureRefused
        before = _last_seq(ledger)
        with pytest.raises(error):
            ledger.execute(command, recorded_by=POLICE, signature=signature)
        assert _last_seq(ledger) == before

    def test_a_delegated_agency_s_event_is_signed_by_the_service_key_and_says_which(
        self, ledger: Ledger, keys_dir: Path
    ) -> None:
        held = write_service_key(keys_dir, "police", "svc-1")
        _register(ledger, held, "svc-1", custody="service")
        ledger.require_signatures(
            partnership=P, recorded_by=LA, required_from=datetime.now(UTC).date()
        )
        receipt = ledger.execute(_action(), recorded_by=POLICE)
        stored = next(m for m in _messages(ledger) if m.seq == receipt.sequence)
        header = SignatureHeader.parse(stored.headers[_stream.HDR_SIGNATURE])
        assert (header.agency, header.key_id) == ("police", "svc-1")
        verify_assertion(held.public_key(), header, stored.subject, stored.data)


class TestAnotherProcessChangesThePartnership:
    """Two ledgers on one stream, as two ``ledger serve`` processes: what one records on
    the partnership (a key revoked) reaches the other's cached partnership."""

    @staticmethod
    def _until_uncached(ledger: Ledger, seconds: float = 5.0) -> None:
        cache = ledger.repository.cache
        assert cache is not None
        target = f"{P}.partnership.{P}"
        deadline = time.monotonic() + seconds
        while target in cache.cache:
            assert time.monotonic() < deadline, f"{target} still cached {seconds} s later"
            time.sleep(0.01)

    def test_a_key_revoked_by_another_process_is_refused_here_and_nothing_is_written(
        self, ledger: Ledger, open_ledger: type[Ledger], subject_prefix: str
    ) -> None:
        key = Ed25519PrivateKey.generate()
        _register(ledger, key)
        other = open_ledger()
        assert other.watching_partnerships
        first = _action()
        other.execute(  # caches the partnership with the key live
            first,
            recorded_by=POLICE,
            signature=sign_command(first, POLICE, key, "k1", prefix=subject_prefix),
        )
        revoke_signed(ledger, POLICE, "k1", key, partnership=P, prefix=subject_prefix)
        self._until_uncached(other)
        command = _action()
        signature = sign_command(command, POLICE, key, "k1", prefix=subject_prefix)
        before = _last_seq(ledger)
        with pytest.raises(SignatureRefused):
            other.execute(command, recorded_by=POLICE, signature=signature)
        assert _last_seq(ledger) == before

    def test_while_the_watch_is_down_every_command_reads_the_partnership_again(
        self, ledger: Ledger, open_ledger: type[Ledger], subject_prefix: str
    ) -> None:
        key = Ed25519PrivateKey.generate()
        _register(ledger, key)
        other = open_ledger()
        first = _action()
        other.execute(
            first,
            recorded_by=POLICE,
            signature=sign_command(first, POLICE, key, "k1", prefix=subject_prefix),
        )
        assert other._watch is not None
        other._watch.stop()  # as a lost connection would leave it
        assert not other.watching_partnerships
        revoke_signed(ledger, POLICE, "k1", key, partnership=P, prefix=subject_prefix)
        command = _action()  # no waiting: nothing cached is trusted without the watch
        signature = sign_command(command, POLICE, key, "k1", prefix=subject_prefix)
        with pytest.raises(SignatureRefused):
            other.execute(command, recorded_by=POLICE, signature=signature)
