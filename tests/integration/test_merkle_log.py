"""The checkpointer and the Merkle log's read side against a real nats-server: checkpoints
every N events whose roots are the stream's, restarts that never publish a different root,
proofs that verify against the published checkpoints, a tampered tree that stops it, and
cosignatures counted only when they verify with the agency's registered key."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_scenario import HEALTH, LA, PARTNERSHIP, POLICE, establish, revoke_signed
from merkle_support import (
    ORIGIN,
    b64key,
    key,
    ledger,
    log_stream,
    merkle_log,
    published,
    record,
    recorder,
    run_checkpointer,
    sized,
    stream_leaves,
    tree_file,
)
from nats.aio.client import Client

from ledger.application import Ledger
from ledger.nats import NatsApplicationRecorder, direct_get_batch, read_leaves
from ledger.proofs.entry import entry_hash
from ledger.proofs.errors import CosignatureRefused, LogCorrupt, ProofUnavailable, TreeBusy
from ledger.proofs.merkle import root_from_leaves, verify_consistency, verify_inclusion
from ledger.proofs.note import (
    Checkpoint,
    cosign,
    cosigned_note,
    open_checkpoint,
    quorum,
    split_checkpoint,
)
from ledger.proofs.tree import FileTree
from runtime._agency_keys import AgencyKeys
from runtime.access import ensure_admin_user, ensure_service_users
from runtime.bootstrap import initialise_streams
from runtime.checkpointer import Checkpointer
from runtime.embedded import EmbeddedNats
from runtime.log import Attestation, MerkleLog
from runtime.log_stream import LogStream
from runtime.settings import Settings

#: The fixtures this module takes from merkle_support.
__all__ = ["key", "ledger", "log_stream", "merkle_log", "recorder", "tree_file"]


class TestCheckpoints:
    def test_a_checkpoint_comes_every_n_events_with_the_root_of_the_stream_read_back(
        self,
        ledger: Ledger,
        recorder: NatsApplicationRecorder,
        log_stream: LogStream,
        tree_file: Path,
        key: Ed25519PrivateKey,
    ) -> None:
        establish(ledger)  # 4 events
        record(ledger, 7)  # 11 in all
        run_checkpointer(recorder, log_stream, tree_file, key, sized(8), every=4)
        leaves = stream_leaves(recorder)
        assert len(leaves) == 11
        cps = published(log_stream, key)
        assert [cp.size for cp in cps] == [4, 8]
        for cp in cps:
            assert cp.origin == ORIGIN
            assert cp.root == root_from_leaves(leaves[: cp.size])

    def test_a_checkpointer_without_a_connection_of_its_own_reads_over_nats_py_to_the_same_roots(
        self,
        ledger: Ledger,
        recorder: NatsApplicationRecorder,
        log_stream: LogStream,
        tree_file: Path,
        key: Ed25519PrivateKey,
    ) -> None:
        establish(ledger)
        record(ledger, 5)  # 9 in all
        recorder.pool.reader_wire = None  # as on a URL the synchronous wire cannot speak
        run_checkpointer(recorder, log_stream, tree_file, key, sized(8), every=4)
        leaves = stream_leaves(recorder)
        assert [cp.root for cp in published(log_stream, key)] == [
            root_from_leaves(leaves[:4]),
            root_from_leaves(leaves[:8]),
        ]

    def test_a_grown_tree_is_checkpointed_after_the_seconds_even_short_of_n_events(
        self,
        ledger: Ledger,
        recorder: NatsApplicationRecorder,
        log_stream: LogStream,
        tree_file: Path,
        key: Ed25519PrivateKey,
    ) -> None:
        establish(ledger)
        record(ledger, 2)
        run_checkpointer(recorder, log_stream, tree_file, key, sized(6), every=1000, seconds=0.3)
        [cp] = published(log_stream, key)
        assert cp.size == 6
        assert cp.root == root_from_leaves(stream_leaves(recorder))

    def test_a_restart_resumes_from_the_tree_and_never_publishes_a_size_again(
        self,
        ledger: Ledger,
        recorder: NatsApplicationRecorder,
        log_stream: LogStream,
        tree_file: Path,
        key: Ed25519PrivateKey,
    ) -> None:
        establish(ledger)
        record(ledger, 5)  # 9
        run_checkpointer(recorder, log_stream, tree_file, key, sized(8), every=4)
        record(ledger, 8, start=5)  # 17
        again = run_checkpointer(recorder, log_stream, tree_file, key, sized(16), every=4)
        assert again.size == 17
        cps = published(log_stream, key)
        assert [cp.size for cp in cps] == [4, 8, 12, 16]
        leaves = stream_leaves(recorder)
        assert all(cp.root == root_from_leaves(leaves[: cp.size]) for cp in cps)

    def test_a_lost_tree_file_catches_up_checks_the_published_root_and_goes_on(
        self,
        ledger: Ledger,
        recorder: NatsApplicationRecorder,
        log_stream: LogStream,
        tree_file: Path,
        key: Ed25519PrivateKey,
    ) -> None:
        establish(ledger)
        record(ledger, 5)  # 9
        run_checkpointer(recorder, log_stream, tree_file, key, sized(8), every=4)
        tree_file.unlink()
        record(ledger, 4, start=5)  # 13
        run_checkpointer(recorder, log_stream, tree_file, key, sized(12), every=4)
        assert [cp.size for cp in published(log_stream, key)] == [4, 8, 12]

    def test_a_tree_whose_root_differs_from_a_published_checkpoint_stops_naming_the_size(
        self,
        ledger: Ledger,
        recorder: NatsApplicationRecorder,
        log_stream: LogStream,
        tree_file: Path,
        key: Ed25519PrivateKey,
    ) -> None:
        establish(ledger)
        record(ledger, 4)  # 8
        run_checkpointer(recorder, log_stream, tree_file, key, sized(8), every=4)
        leaves = stream_leaves(recorder)
        tree_file.unlink()  # rewritten whole: one earlier leaf altered, every parent recomputed
        with FileTree(tree_file) as forged:
            forged.append([*leaves[:2], entry_hash("x", {}, b"altered"), *leaves[3:]])
        with pytest.raises(LogCorrupt, match="tree size 8") as raised:
            run_checkpointer(recorder, log_stream, tree_file, key, sized(100), every=4)
        assert raised.value.size == 8
        assert [cp.size for cp in published(log_stream, key)] == [4, 8]

    def test_a_tree_whose_last_leaf_is_not_the_streams_message_stops_naming_the_sequence(
        self,
        ledger: Ledger,
        recorder: NatsApplicationRecorder,
        log_stream: LogStream,
        tree_file: Path,
        key: Ed25519PrivateKey,
    ) -> None:
        establish(ledger)
        leaves = stream_leaves(recorder)
        with FileTree(tree_file) as forged:
            forged.append([*leaves[:3], entry_hash("x", {}, b"altered")])
        with pytest.raises(LogCorrupt, match="sequence 4") as raised:
            run_checkpointer(recorder, log_stream, tree_file, key, sized(100), every=4)
        assert raised.value.seq == 4


class TestReadingLeaves:
    def test_every_leaf_comes_once_in_order_in_batches_up_to_the_end_asked_for(
        self, ledger: Ledger, recorder: NatsApplicationRecorder
    ) -> None:
        establish(ledger)
        record(ledger, 6)  # 10 in all
        leaves = stream_leaves(recorder)
        batches = list(
            read_leaves(recorder, gt=2, until=9, size=3, subject=f"{recorder.subjects.prefix}.>")
        )
        assert [len(b) for b in batches] == [3, 3, 1]
        assert [leaf for b in batches for leaf in b] == list(
            zip(range(3, 10), leaves[2:9], strict=True)
        )

    def test_following_hands_over_what_lands_with_an_empty_batch_while_quiet_until_stopped(
        self, ledger: Ledger, recorder: NatsApplicationRecorder
    ) -> None:
        establish(ledger)  # 4 events
        stop = threading.Event()
        got: list[list[tuple[int, bytes]]] = []
        reading = read_leaves(
            recorder,
            gt=0,
            until=None,
            size=100,
            subject=f"{recorder.subjects.prefix}.>",
            idle_s=0.01,
            stop=stop,
        )
        for batch in reading:
            got.append(batch)
            if not batch and sum(map(len, got)) == 4:
                record(ledger, 2)  # lands while following
            if sum(map(len, got)) == 6:
                stop.set()
        assert [] in got
        assert [leaf for b in got for leaf in b] == list(
            zip(range(1, 7), stream_leaves(recorder), strict=True)
        )


class TestOnAnAuthenticatedServer:
    def test_the_service_users_checkpointer_reads_over_its_own_connection_and_checkpoints(
        self, tmp_path: Path, key: Ed25519PrivateKey
    ) -> None:
        data = tmp_path / "data"
        settings = Settings(data_dir=data, timeout_s=5.0)
        service = ensure_service_users(data, settings)
        admin = ensure_admin_user(data, settings)
        with EmbeddedNats(data, auth=True) as server:
            initialise_streams(settings, server.url, admin)  # the service may not make them
            env = settings.persistence_env(service.ledger.url(server.url), create_stream=False)
            app = Ledger(env=env)
            try:
                establish(app)
                record(app, 4)  # 8 in all
                rec = app.recorder
                assert isinstance(rec, NatsApplicationRecorder)
                assert rec.pool.reader_wire is not None  # the synchronous read, not nats-py's
                logs = LogStream.of(
                    app, stream=settings.stream, subject_prefix=settings.subject_prefix
                )
                run_checkpointer(rec, logs, tmp_path / "tree", key, sized(8), every=4)
                leaves = stream_leaves(rec)
                assert [cp.root for cp in published(logs, key)] == [
                    root_from_leaves(leaves[:4]),
                    root_from_leaves(leaves[:8]),
                ]
            finally:
                app.close()


class TestCheckpointingOnDemand:
    """``ledger export`` on a data dir no serve runs on checkpoints the stream itself."""

    def test_the_stream_up_to_its_end_is_checkpointed_and_the_tree_released(
        self,
        ledger: Ledger,
        recorder: NatsApplicationRecorder,
        log_stream: LogStream,
        tree_file: Path,
        key: Ed25519PrivateKey,
    ) -> None:
        establish(ledger)
        record(ledger, 3)  # 7 events: no multiple of `every`, no time passed
        end = recorder.max_notification_id() or 0
        checkpointer = Checkpointer(
            recorder, FileTree(tree_file), log_stream, origin=ORIGIN, key=key, every=1000
        )
        checkpointer.checkpoint_to(end)
        [cp] = published(log_stream, key)
        assert cp.size == end == 7
        assert cp.root == root_from_leaves(stream_leaves(recorder))
        FileTree(tree_file).close()  # released: another writer may open it now

    def test_a_tree_held_by_a_running_checkpointer_is_busy(self, tree_file: Path) -> None:
        held = FileTree(tree_file)
        try:
            with pytest.raises(TreeBusy, match="held by another writer"):
                FileTree(tree_file)
        finally:
            held.close()


class TestProofs:
    def test_every_event_has_an_inclusion_proof_that_verifies_against_the_checkpoint(
        self,
        ledger: Ledger,
        recorder: NatsApplicationRecorder,
        log_stream: LogStream,
        tree_file: Path,
        key: Ed25519PrivateKey,
        merkle_log: MerkleLog,
    ) -> None:
        establish(ledger)
        record(ledger, 5)  # 9
        run_checkpointer(recorder, log_stream, tree_file, key, sized(8), every=4)
        cp = open_checkpoint(merkle_log.latest_checkpoint(), ORIGIN, key.public_key())
        assert cp.size == 8
        leaves = stream_leaves(recorder)
        for seq in range(1, 9):
            proof = merkle_log.inclusion_proof(seq)
            assert (proof.seq, proof.index, proof.size) == (seq, seq - 1, 8)
            assert proof.leaf_hash == leaves[seq - 1]
            verify_inclusion(proof.leaf_hash, proof.index, proof.size, proof.proof, cp.root)

    def test_consecutive_checkpoints_are_proven_consistent(
        self,
        ledger: Ledger,
        recorder: NatsApplicationRecorder,
        log_stream: LogStream,
        tree_file: Path,
        key: Ed25519PrivateKey,
        merkle_log: MerkleLog,
    ) -> None:
        establish(ledger)
        record(ledger, 9)  # 13
        run_checkpointer(recorder, log_stream, tree_file, key, sized(12), every=4)
        cps = published(log_stream, key)
        for old, new in itertools.pairwise(cps):
            proof = merkle_log.consistency_proof(old.size, new.size)
            assert (proof.first, proof.to) == (old.size, new.size)
            verify_consistency(old.size, new.size, old.root, new.root, proof.proof)
        assert merkle_log.checkpoint(4).startswith(f"{ORIGIN}\n4\n")

    def test_a_size_beyond_the_latest_checkpoint_has_no_proof(
        self,
        ledger: Ledger,
        recorder: NatsApplicationRecorder,
        log_stream: LogStream,
        tree_file: Path,
        key: Ed25519PrivateKey,
        merkle_log: MerkleLog,
    ) -> None:
        establish(ledger)
        record(ledger, 1)  # 5
        run_checkpointer(recorder, log_stream, tree_file, key, sized(4), every=4)
        with pytest.raises(ProofUnavailable, match="size 5"):
            merkle_log.inclusion_proof(1, 5)
        with pytest.raises(ProofUnavailable, match="seq 5"):
            merkle_log.inclusion_proof(5)
        with pytest.raises(ProofUnavailable, match="size 5"):
            merkle_log.checkpoint(5)


class TestCosignatures:
    @pytest.fixture
    def police_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.generate()

    @pytest.fixture
    def checkpoint(
        self,
        ledger: Ledger,
        recorder: NatsApplicationRecorder,
        log_stream: LogStream,
        tree_file: Path,
        key: Ed25519PrivateKey,
        police_key: Ed25519PrivateKey,
    ) -> Checkpoint:
        establish(ledger)
        ledger.register_agency_key(
            partnership=PARTNERSHIP,
            recorded_by=POLICE,
            agency="police",
            key_id="k1",
            public_key=b64key(police_key),
        )  # 5
        run_checkpointer(recorder, log_stream, tree_file, key, sized(4), every=4)
        [cp] = published(log_stream, key)
        return cp

    def test_a_verified_cosignature_is_stored_and_served_with_the_checkpoint(
        self,
        merkle_log: MerkleLog,
        checkpoint: Checkpoint,
        police_key: Ed25519PrivateKey,
        key: Ed25519PrivateKey,
    ) -> None:
        line = cosign(checkpoint, "police", police_key, 1_700_000_000)
        accepted = merkle_log.add_cosignature("police", f"{checkpoint.body()}\n{line}\n".encode())
        assert (accepted.agency, accepted.size) == ("police", 4)
        note = merkle_log.latest_checkpoint()
        assert open_checkpoint(note, ORIGIN, key.public_key()) == checkpoint
        _, lines = split_checkpoint(note)
        assert line in lines
        assert quorum(checkpoint, lines, {"police": police_key.public_key()}, 1) == ["police"]

    def test_a_witnessed_attestation_is_answered_from_memory_until_its_refresh_is_due(
        self,
        ledger: Ledger,
        recorder: NatsApplicationRecorder,
        log_stream: LogStream,
        tree_file: Path,
        key: Ed25519PrivateKey,
        checkpoint: Checkpoint,
        police_key: Ed25519PrivateKey,
        stream_name: str,
        subject_prefix: str,
    ) -> None:
        health_key = Ed25519PrivateKey.generate()
        ledger.register_agency_key(
            partnership=PARTNERSHIP,
            recorded_by=HEALTH,
            agency="health",
            key_id="h1",
            public_key=b64key(health_key),
        )
        now = [0.0]
        keys = AgencyKeys(recorder.pool, stream=stream_name, subject_prefix=subject_prefix)
        merkle = MerkleLog(
            log_stream,
            keys,
            tree_file,
            origin=ORIGIN,
            log_key=key.public_key(),
            attestation_refresh_s=1.0,
            clock=lambda: now[0],
        )
        try:
            line = cosign(checkpoint, "police", police_key, 1_700_000_000)
            merkle.add_cosignature("police", f"{checkpoint.body()}\n{line}\n".encode())
            assert merkle.attestation(3) == Attestation(size=4, witnesses=("police",))
            # Health's cosignature, sent to another service process: on the log, not here.
            other = cosign(checkpoint, "health", health_key, 1_700_000_001)
            log_stream.publish_cosignature("health", cosigned_note(checkpoint, [other]).encode())
            now[0] = 0.5
            assert merkle.attestation(3) == Attestation(size=4, witnesses=("police",))
            now[0] = 1.0
            assert merkle.attestation(3) == Attestation(size=4, witnesses=("health", "police"))
        finally:
            merkle.close()

    @pytest.mark.parametrize("who", ["another key", "another agency's name"])
    def test_a_cosignature_that_does_not_verify_with_the_registered_key_is_refused(
        self, merkle_log: MerkleLog, checkpoint: Checkpoint, who: str
    ) -> None:
        name = "police" if who == "another key" else "health"
        line = cosign(checkpoint, name, Ed25519PrivateKey.generate(), 1)
        with pytest.raises(CosignatureRefused, match="police") as raised:
            merkle_log.add_cosignature("police", f"{checkpoint.body()}\n{line}\n".encode())
        assert not raised.value.conflict
        _, lines = split_checkpoint(merkle_log.latest_checkpoint())
        assert len(lines) == 1  # the log's own signature, no cosignature

    def test_a_revoked_key_counts_only_for_cosignatures_made_before_its_revocation(
        self,
        ledger: Ledger,
        merkle_log: MerkleLog,
        checkpoint: Checkpoint,
        police_key: Ed25519PrivateKey,
        subject_prefix: str,
    ) -> None:
        revoke_signed(
            ledger, POLICE, "k1", police_key, prefix=subject_prefix
        )  # 6: recorded now, after the tree of size 4
        after = cosign(checkpoint, "police", police_key, int(time.time()) + 1)
        with pytest.raises(CosignatureRefused, match="revoked") as raised:
            merkle_log.add_cosignature("police", f"{checkpoint.body()}\n{after}\n".encode())
        assert not raised.value.conflict
        before = cosign(checkpoint, "police", police_key, 1_700_000_000)
        merkle_log.add_cosignature("police", f"{checkpoint.body()}\n{before}\n".encode())
        _, lines = split_checkpoint(merkle_log.latest_checkpoint())
        assert (before in lines, after in lines) == (True, False)

    @staticmethod
    def plant_key(
        recorder: NatsApplicationRecorder, stream: str, prefix: str, agency: str, key_id: str
    ) -> Ed25519PrivateKey:
        """The operator publishes straight to the stream, unsigned, a registration of a key
        of its own as ``agency``'s ``key_id`` (a copy of police's k1 registration, changed):
        the write path refuses it. Returns the key."""
        msgs, _ = recorder.pool.run(
            lambda nc: direct_get_batch(nc, stream, f"{prefix}.*.partnership.*", 1, 100, 5.0)
        )
        [k1] = [m for m in msgs if m.headers.get("Ledger-Topic") == "AgencyKeyRegistered"]
        intruder = Ed25519PrivateKey.generate()
        payload = msgspec.json.decode(k1.data)
        payload |= {"agency": agency, "key_id": key_id, "public_key": b64key(intruder)}

        async def plant(nc: Client) -> None:
            await nc.jetstream().publish(
                k1.subject,
                msgspec.json.encode(payload),
                stream=stream,
                headers={"Ledger-Topic": "AgencyKeyRegistered"},
            )

        recorder.pool.run(plant)
        return intruder

    def test_a_key_the_operator_published_behind_the_agencys_back_never_counts(
        self,
        merkle_log: MerkleLog,
        recorder: NatsApplicationRecorder,
        checkpoint: Checkpoint,
        stream_name: str,
        subject_prefix: str,
    ) -> None:
        # Police's k1 is live: a k2 registered without its signature never counts.
        intruder = self.plant_key(recorder, stream_name, subject_prefix, "police", "k2")
        line = cosign(checkpoint, "police", intruder, 1_700_000_000)
        with pytest.raises(CosignatureRefused, match="police"):
            merkle_log.add_cosignature("police", f"{checkpoint.body()}\n{line}\n".encode())
        _, lines = split_checkpoint(merkle_log.latest_checkpoint())
        assert line not in lines

    def test_an_unsigned_first_key_after_signatures_are_required_never_counts(
        self,
        ledger: Ledger,
        merkle_log: MerkleLog,
        recorder: NatsApplicationRecorder,
        checkpoint: Checkpoint,
        stream_name: str,
        subject_prefix: str,
    ) -> None:
        # The ring folds SignaturesRequired, so a first key published unsigned after it (the
        # write path refuses that) is left out, as ledger verify leaves it out.
        ledger.require_signatures(
            partnership=PARTNERSHIP, recorded_by=LA, required_from=dt.date(2000, 1, 1)
        )
        intruder = self.plant_key(recorder, stream_name, subject_prefix, "health", "h9")
        line = cosign(checkpoint, "health", intruder, 1_700_000_000)
        with pytest.raises(CosignatureRefused, match="health"):
            merkle_log.add_cosignature("health", f"{checkpoint.body()}\n{line}\n".encode())

    def test_a_cosignature_of_a_checkpoint_the_log_never_published_is_a_conflict(
        self, merkle_log: MerkleLog, checkpoint: Checkpoint, police_key: Ed25519PrivateKey
    ) -> None:
        forged = Checkpoint(checkpoint.origin, checkpoint.size, bytes(32))
        line = cosign(forged, "police", police_key, 1)
        with pytest.raises(CosignatureRefused, match="not one this log") as raised:
            merkle_log.add_cosignature("police", f"{forged.body()}\n{line}\n".encode())
        assert raised.value.conflict

    @pytest.mark.parametrize("note", [b"", b"not a note", b"\xff\xfe", b"x" * 10_000])
    def test_a_malformed_note_is_refused(
        self, merkle_log: MerkleLog, checkpoint: Checkpoint, note: bytes
    ) -> None:
        with pytest.raises(CosignatureRefused) as raised:
            merkle_log.add_cosignature("police", note)
        assert not raised.value.conflict
