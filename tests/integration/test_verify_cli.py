"""``ledger verify`` against a real nats-server: a copy of a stream republished with one
message altered or removed, and the operator's rewrite with the log stream kept.

The stream is the one tests/proof_stream.py builds from the Ledger's own events (chains,
signatures, a tracking position), published message by message with its headers into a
stream of the test's own, as a copy would be; the log stream holds the log's checkpoints and
a police cosignature.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import nats
import pytest
from click.testing import Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.application import Ledger
from ledger.proofs.entry import sign_assertion
from ledger.proofs.note import format_verifier_key
from ledger.proofs.verifier import StoredMessage
from ledger.signing import public_key_text
from runtime.log_stream import LogStream
from runtime.settings import Settings
from schemas.wire import HDR_TOPIC
from tests.cli_support import ledger
from tests.proof_stream import (
    LOG_KEY,
    ORIGIN,
    Fact,
    Keys,
    checkpoints_of,
    cosignature_note,
    key_fact,
    ledger_facts,
    signed_notes,
    with_keys,
    write,
)

VKEY = format_verifier_key(ORIGIN, LOG_KEY.public_key())


class Streams:
    """The test's ledger stream and its log stream on the session's server."""

    def __init__(self, nats_url: str, stream: str, prefix: str) -> None:
        self.url, self.stream, self.prefix = nats_url, stream, prefix
        self.settings = Settings(stream=stream, subject_prefix=prefix)

    def facts(self) -> list[Fact]:
        return with_keys(ledger_facts(self.prefix), Keys.seeded())

    def create(self) -> None:
        """Make both streams as the ledger makes them."""
        app = Ledger(env=self.settings.persistence_env(self.url))
        try:
            LogStream.of(app, stream=self.stream, subject_prefix=self.prefix).check(create=True)
        finally:
            app.close()

    def publish(self, messages: Sequence[StoredMessage]) -> None:
        """Publish ``messages`` in order (a copy: the stream numbers them from 1)."""

        async def go() -> None:
            nc = await nats.connect(self.url)
            try:
                js = nc.jetstream()
                for m in messages:
                    await js.publish(
                        m.subject, m.payload, headers=dict(m.headers), stream=self.stream
                    )
            finally:
                await nc.close()

        asyncio.run(go())

    def delete_ledger_stream(self) -> None:
        async def go() -> None:
            nc = await nats.connect(self.url)
            try:
                await nc.jetstream().delete_stream(self.stream)
            finally:
                await nc.close()

        asyncio.run(go())

    def witness(self, messages: Sequence[StoredMessage], sizes: Sequence[int]) -> str:
        """Publish the log's checkpoints of ``messages`` at ``sizes``, and police's
        cosignature of the first; return that cosigned note."""
        app = Ledger(env=self.settings.persistence_env(self.url, create_stream=False))
        try:
            log = LogStream.of(app, stream=self.stream, subject_prefix=self.prefix)
            checkpoints = checkpoints_of(messages, sizes)
            after = 0
            for cp, note in zip(checkpoints, signed_notes(checkpoints), strict=True):
                after = log.publish_checkpoint(note.encode(), cp.size, after=after)
            cosigned = cosignature_note(checkpoints[0], "police", Keys.seeded().private["police"])
            log.publish_cosignature("police", cosigned.encode())
            return cosigned
        finally:
            app.close()

    def verify(self, tmp_path: Path, *args: str) -> Result:
        env = {
            "NATS_URL": self.url,
            "NATS_STREAM": self.stream,
            "NATS_SUBJECT_PREFIX": self.prefix,
            "LEDGER_DATA_DIR": str(tmp_path / "data"),
            "LEDGER_LOG_JSON": "1",
            "COLUMNS": "80",
        }
        return ledger("verify", "--log-key", VKEY, *args, env=env)


@pytest.fixture
def streams(
    nats_url: str, stream_name: str, subject_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Streams:
    # The command would point the logs at the runner's stdout, closed once it returns.
    monkeypatch.setattr("runtime.bootstrap.configure_logging", lambda **_: None)
    s = Streams(nats_url, stream_name, subject_prefix)
    s.create()
    return s


def fails_at(result: Result, seq: int) -> str:
    assert result.exit_code == 1, result.stdout + result.stderr
    assert f"verification failed at sequence {seq}:" in result.stderr
    return result.stderr


class TestACopyOfTheStream:
    @pytest.mark.parametrize("pool", [False, True])
    def test_as_written_verifies_and_says_what_it_checked(
        self, streams: Streams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pool: bool
    ) -> None:
        if pool:  # signatures verified by worker processes
            monkeypatch.setattr("runtime.verification.PARALLEL_FROM", 1)
        messages = write(streams.facts(), Keys.seeded())
        streams.publish(messages)
        streams.witness(messages, [8, len(messages)])
        result = streams.verify(tmp_path)
        assert result.exit_code == 0, result.stderr
        signed = sum(1 for m in messages if "Ledger-Signature" in m.headers)
        assert f"verified sequences 1 to {len(messages)}" in result.stdout
        assert (
            f"events: {len(messages) - 1} on 3 subjects (and 1 tracking positions)" in result.stdout
        )
        assert f"signatures: {signed}" in result.stdout
        assert "checkpoints: 2" in result.stdout
        assert "cosignatures: 1" in result.stdout

    def test_with_one_payload_byte_altered_fails_at_that_sequence(
        self, streams: Streams, tmp_path: Path
    ) -> None:
        messages = write(streams.facts(), Keys.seeded())
        i = next(
            k for k, m in enumerate(messages) if m.headers.get(HDR_TOPIC) == "CooperationRefused"
        )
        changed = messages[i].payload.replace(b"consent_not_given", b"legal_prohibition")
        assert changed != messages[i].payload
        streams.publish([*messages[:i], messages[i]._replace(payload=changed), *messages[i + 1 :]])
        assert "does not verify" in fails_at(streams.verify(tmp_path), messages[i].seq)

    def test_with_one_event_removed_fails_where_its_subjects_next_event_now_lies(
        self, streams: Streams, tmp_path: Path
    ) -> None:
        messages = write(streams.facts(), Keys.seeded())
        i = next(
            k for k, m in enumerate(messages) if m.headers.get(HDR_TOPIC) == "CooperationRefused"
        )
        successor = next(m.seq for m in messages[i + 1 :] if m.subject == messages[i].subject)
        streams.publish(messages[:i] + messages[i + 1 :])
        assert "Ledger-Version" in fails_at(streams.verify(tmp_path), successor - 1)

    def test_with_signatures_verified_by_worker_processes_verifies_or_names_the_first(
        self, streams: Streams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("runtime.verification.PARALLEL_FROM", 1)  # a pool for any range
        messages = write(streams.facts(), Keys.seeded())
        first = next(i for i, m in enumerate(messages) if "Ledger-Signature" in m.headers)
        m = messages[first]
        agency = m.headers["Ledger-Signature"].split(" ")[1]
        other = sign_assertion(
            Keys.seeded().private[agency], agency, f"{agency}-1", m.subject, b'{"other":1}'
        )
        copy = list(messages)  # a signature over other bytes, then a later version skipped
        copy[first] = m._replace(headers={**m.headers, "Ledger-Signature": other.format()})
        last = copy[-1]
        copy[-1] = last._replace(headers={**last.headers, "Ledger-Version": "99"})
        streams.publish(copy)
        assert "does not verify" in fails_at(streams.verify(tmp_path), m.seq)

    def test_a_range_is_checked_from_its_first_sequence(
        self, streams: Streams, tmp_path: Path
    ) -> None:
        messages = write(streams.facts(), Keys.seeded())
        streams.publish(messages)
        result = streams.verify(tmp_path, "--from", "10", "--to", "15")
        assert result.exit_code == 0, result.stderr
        assert "verified sequences 10 to 15" in result.stdout
        assert "first link taken on trust" in result.stdout


class TestAKeyRegisteredBehindTheAgencysBack:
    """The operator publishes straight to the stream a second police key that police's live
    key did not sign: the write path would have refused it; ``ledger verify`` names it."""

    def test_fails_at_the_registration_naming_the_rule(
        self, streams: Streams, tmp_path: Path
    ) -> None:
        facts = streams.facts()
        like = next(f for f in facts if f.topic == "AgencyKeyRegistered" and b"police" in f.payload)
        intruder = Ed25519PrivateKey.from_private_bytes(b"the operator's".ljust(32, b"."))
        planted = key_fact(
            like, "AgencyKeyRegistered", "police", key_id="police-2",
            public_key=public_key_text(intruder),
        )  # fmt: skip
        messages = write([*facts, planted], Keys.seeded(), signers={len(facts): None})
        streams.publish(messages)
        reason = fails_at(streams.verify(tmp_path), messages[-1].seq)
        assert "key_events_signed_by_live_key" in reason


class TestPinnedAgencyKeys:
    """An inspector pins each agency's keys as the agency gave them (``--agency-key``): a
    first key the operator registered on its own word, which the authority rule lets in,
    fails by name; the agency's own keys verify."""

    def test_the_agencies_own_keys_verify_and_are_reported(
        self, streams: Streams, tmp_path: Path
    ) -> None:
        keys = Keys.seeded()
        streams.publish(write(streams.facts(), keys))
        pins = [f"{a}:{keys.public_b64(a)}" for a in ("police", "health")]
        result = streams.verify(tmp_path, *(f"--agency-key={p}" for p in pins))
        assert result.exit_code == 0, result.stderr
        assert "agencies whose keys were all pinned ones: health, police" in result.stdout

    def test_a_first_key_the_agency_never_gave_fails_at_its_registration(
        self, streams: Streams, tmp_path: Path
    ) -> None:
        keys = Keys.seeded()
        messages = write(streams.facts(), keys)
        streams.publish(messages)
        # the inspector had another key from police: the one on the stream is not police's
        other = public_key_text(Ed25519PrivateKey.generate())
        result = streams.verify(tmp_path, f"--agency-key=police:{other}")
        registered = next(
            m.seq
            for m in messages
            if m.headers[HDR_TOPIC] == "AgencyKeyRegistered" and b'"police"' in m.payload
        )
        reason = fails_at(result, registered)
        assert "pinned_agency_keys" in reason
        assert "police" in reason

    def test_a_pin_for_an_agency_that_registered_no_key_is_said_to_check_nothing(
        self, streams: Streams, tmp_path: Path
    ) -> None:
        keys = Keys.seeded()
        streams.publish(write(streams.facts(), keys))
        result = streams.verify(
            tmp_path, f"--agency-key=police:{keys.public_b64('police')}",
            f"--agency-key=polce:{keys.public_b64('police')}",  # mistyped
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        assert "agencies whose keys were all pinned ones: police\n" in result.stdout
        assert "registered no key, so their pins checked nothing (a mistyped id?): polce" in (
            result.stderr
        )

    def test_a_pin_before_a_range_is_checked_too(self, streams: Streams, tmp_path: Path) -> None:
        messages = write(streams.facts(), Keys.seeded())
        streams.publish(messages)
        other = public_key_text(Ed25519PrivateKey.generate())
        result = streams.verify(
            tmp_path, "--from", str(len(messages) - 2), f"--agency-key=police:{other}"
        )
        assert result.exit_code == 1
        assert "(before the range)" in result.stderr

    @pytest.mark.parametrize(
        "pin", ["police", "Police:AAAA", "police:not-base64", "police:" + "A" * 44]
    )
    def test_a_malformed_pin_is_a_usage_error(
        self, streams: Streams, tmp_path: Path, pin: str
    ) -> None:
        result = streams.verify(tmp_path, f"--agency-key={pin}")
        assert result.exit_code == 2
        assert "--agency-key" in result.stderr


class TestTheOperatorsRewrite:
    """The stream deleted and republished with one fact altered and one event removed, every
    chain rewritten so the sequences line up; the log stream (and police's cosignature) kept."""

    def rewrite(self, streams: Streams) -> list[StoredMessage]:
        facts = streams.facts()
        refusal = next(i for i, f in enumerate(facts) if f.topic == "CooperationRefused")
        del facts[refusal]
        first = facts[0]  # PartnershipEstablished: unsigned, so the operator can change it
        facts[0] = Fact(
            first.subject, first.topic, first.payload.replace(b"Northshire", b"Southshire")
        )
        return write(facts, Keys.seeded())

    def test_fails_against_the_checkpoint_police_cosigned_before(
        self, streams: Streams, tmp_path: Path
    ) -> None:
        original = write(streams.facts(), Keys.seeded())
        streams.publish(original)
        streams.witness(original, [8])
        streams.delete_ledger_stream()
        streams.create()
        streams.publish(self.rewrite(streams))
        assert "altered, added or removed" in fails_at(streams.verify(tmp_path), 8)

    def test_fails_against_a_witnesss_kept_checkpoint_when_the_log_is_rewritten_too(
        self, streams: Streams, tmp_path: Path
    ) -> None:
        original = write(streams.facts(), Keys.seeded())
        kept = tmp_path / "police-checkpoint.note"
        kept.write_text(signed_notes(checkpoints_of(original, [8]))[0])
        rewritten = self.rewrite(streams)
        streams.publish(rewritten)
        streams.witness(rewritten, [8, len(rewritten)])  # the operator's own checkpoints pass
        assert streams.verify(tmp_path).exit_code == 0
        stderr = fails_at(streams.verify(tmp_path, "--checkpoint", str(kept)), 8)
        assert "police-checkpoint.note" in stderr
