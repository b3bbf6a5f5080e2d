"""The witness: cosigns a checkpoint only when the log proves it extends the last one it
cosigned; refuses a split view or a rewritten history loudly and keeps the evidence."""

from __future__ import annotations

import stat
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from proofs_support import ORIGIN, MemoryLog, Message, sample_log, subject

from ledger.proofs.errors import CheckpointInvalid, SplitView
from ledger.proofs.note import open_checkpoint, verify_cosignature
from ledger.proofs.witness import STATE_FILE, Evidence, Witness


def witness_of(log: MemoryLog, agency: str, state: Path) -> Witness:
    key = log.agency_keys[agency]
    return Witness(agency, key, log.origin, log.log_key.public_key(), state, clock=lambda: 1_700)


def consider_at(witness: Witness, log: MemoryLog, size: int | None = None) -> str:
    """Show ``witness`` ``log``'s checkpoint at ``size`` with the log's own proof from its last."""
    n = log.size if size is None else size
    return witness.consider(log.note(n), log.tree.consistency_proof(witness.size, n))


def diverge(log: MemoryLog, case: str, tag: str) -> None:
    log.append(subject("case", case), tag, "la")


class TestCosigning:
    def test_the_first_checkpoint_is_cosigned_and_the_line_verifies_with_the_agencys_key(
        self, tmp_path: Path
    ) -> None:
        log = sample_log()
        witness = witness_of(log, "police", tmp_path / "w")
        line = consider_at(witness, log)
        public = log.agency_keys["police"].public_key()
        assert verify_cosignature(log.checkpoint(), line, "police", public) == 1_700
        assert witness.size == log.size

    def test_the_state_is_kept_in_a_private_file_and_survives_a_restart(
        self, tmp_path: Path
    ) -> None:
        log = sample_log()
        consider_at(witness_of(log, "police", tmp_path / "w"), log, 5)
        assert stat.S_IMODE((tmp_path / "w").stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "w" / STATE_FILE).stat().st_mode) == 0o600
        again = witness_of(log, "police", tmp_path / "w")
        assert again.size == 5
        consider_at(again, log)  # the proof is from 5, which only the kept state knows
        assert again.size == log.size

    def test_a_growing_log_is_cosigned_at_each_checkpoint(self, tmp_path: Path) -> None:
        log = sample_log()
        witness = witness_of(log, "health", tmp_path / "w")
        for size in (1, 2, 3, 7, 8, log.size):
            consider_at(witness, log, size)
        assert witness.size == log.size
        assert witness.evidence() == []

    def test_the_same_checkpoint_shown_again_is_cosigned_again(self, tmp_path: Path) -> None:
        log = sample_log()
        witness = witness_of(log, "health", tmp_path / "w")
        consider_at(witness, log)
        consider_at(witness, log)
        assert witness.size == log.size

    def test_a_state_dir_of_another_agency_is_refused(self, tmp_path: Path) -> None:
        log = sample_log()
        consider_at(witness_of(log, "police", tmp_path / "w"), log)
        with pytest.raises(CheckpointInvalid, match="one state directory per agency"):
            witness_of(log, "health", tmp_path / "w")


class TestRefusingWhatIsNotTheLogs:
    def test_a_checkpoint_signed_by_another_key_is_refused_without_evidence(
        self, tmp_path: Path
    ) -> None:
        log = sample_log()
        witness = witness_of(log, "police", tmp_path / "w")
        consider_at(witness, log, 5)
        impostor = log.fork()
        impostor.log_key = Ed25519PrivateKey.generate()
        with pytest.raises(CheckpointInvalid, match="no signature by key") as caught:
            witness.consider(impostor.note(), log.tree.consistency_proof(5, log.size))
        assert not isinstance(caught.value, SplitView)
        assert witness.size == 5
        assert witness.evidence() == []

    def test_a_checkpoint_of_another_origin_is_refused(self, tmp_path: Path) -> None:
        log = sample_log()
        witness = witness_of(log, "police", tmp_path / "w")
        other = log.fork()
        other.origin = "elsewhere.test/LEDGER"
        with pytest.raises(CheckpointInvalid, match="origin"):
            witness.consider(other.note(), [])
        assert witness.last is None


class TestSplitView:
    def test_a_smaller_checkpoint_is_refused_and_both_are_kept_as_evidence(
        self, tmp_path: Path
    ) -> None:
        log = sample_log()
        witness = witness_of(log, "police", tmp_path / "w")
        consider_at(witness, log)
        with pytest.raises(SplitView, match="smaller") as caught:
            witness.consider(log.note(4), [])
        evidence = msgspec.json.decode(
            Path(caught.value.evidence or "").read_bytes(), type=Evidence
        )
        assert open_checkpoint(evidence.cosigned, ORIGIN, log.log_key.public_key()).size == log.size
        assert open_checkpoint(evidence.presented, ORIGIN, log.log_key.public_key()).size == 4
        assert witness.size == log.size

    def test_two_ledgers_from_one_prefix_are_caught_by_the_witnesses_each_was_shown(
        self, tmp_path: Path
    ) -> None:
        shown_police = sample_log()
        shown_health = shown_police.fork()  # the same prefix, then two histories
        diverge(shown_police, "c1", "ActionRecorded")
        diverge(shown_health, "c1", "CaseClosed")
        police = witness_of(shown_police, "police", tmp_path / "police")
        health = witness_of(shown_health, "health", tmp_path / "health")
        consider_at(police, shown_police)
        consider_at(health, shown_health)
        for log in (shown_police, shown_health):
            diverge(log, "c2", "ActionRecorded")
        # Each witness is then shown the other history's next checkpoint, with its proof.
        with pytest.raises(SplitView, match="not proven to extend"):
            consider_at(police, shown_health)
        with pytest.raises(SplitView, match="not proven to extend"):
            consider_at(health, shown_police)
        for witness, kept in ((police, shown_police), (health, shown_health)):
            assert witness.size == kept.size - 1  # still the checkpoint it cosigned
            (path,) = witness.evidence()
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            evidence = msgspec.json.decode(path.read_bytes(), type=Evidence)
            assert evidence.cosigned == kept.note(kept.size - 1)
            assert evidence.proof  # the proof the log gave, which does not hold

    def test_another_root_at_the_same_size_is_refused(self, tmp_path: Path) -> None:
        one = sample_log()
        other = one.fork()
        diverge(one, "c1", "ActionRecorded")
        diverge(other, "c1", "CaseClosed")
        witness = witness_of(one, "police", tmp_path / "w")
        consider_at(witness, one)
        with pytest.raises(SplitView, match="another root"):
            witness.consider(other.note(), [])
        assert len(witness.evidence()) == 1


class TestOperatorsRewrite:
    def test_a_rewritten_history_is_refused_by_every_witness(self, tmp_path: Path) -> None:
        log = sample_log()
        witnesses = [witness_of(log, a, tmp_path / a) for a in ("la", "police", "health")]
        for witness in witnesses:
            consider_at(witness, log)
        cosigned_size = log.size
        # The stream deleted and republished: one fact altered, one refusal removed,
        # sequences kept (what follows the removed event moves up), then business as usual.
        rewritten = MemoryLog(log_key=log.log_key, agency_keys=dict(log.agency_keys))
        for m in log.messages:
            if m.headers.get("Ledger-Topic") == "CooperationRefused":
                continue
            payload = m.payload.replace(b'"ActionRecorded"', b'"ActionRecorded","seen":true')
            rewritten.store(Message(rewritten.size + 1, m.subject, dict(m.headers), payload))
        for _ in range(3):
            diverge(rewritten, "c2", "ActionRecorded")
        assert rewritten.size > cosigned_size
        for witness in witnesses:
            with pytest.raises(SplitView):
                consider_at(witness, rewritten)
            assert witness.size == cosigned_size
            assert len(witness.evidence()) == 1
