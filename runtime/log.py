"""The Merkle log's read side: checkpoints with their cosignatures, and proofs, for any process.

Checkpoints are read from the log stream (:mod:`runtime.log_stream`), proofs from the tree
file the data dir's checkpointer writes (:class:`~ledger.proofs.tree.FileTree` opened
read-only: no lock, its size read at every call), so every ``ledger serve`` process on the
data dir answers, ``--no-workers`` ones included. A proof is served for a tree size no larger
than the last published checkpoint's: each is checked against a signed checkpoint.

Cosignatures are read from ``<prefix>-log.cosignature.*`` and counted only once they verify
(:func:`ledger.proofs.note.verify_cosignature`) over a checkpoint the log published, with a
key that counts for it (:meth:`ledger.proofs.keys.KeyRing.cosigning_key`: registered by the
agency, not revoked before the cosignature was made; the ring read by
:class:`runtime._agency_keys.AgencyKeys`). The latest checkpoint
is served with every cosignature counted for its size appended as further signature lines.
An agency sends one with :meth:`MerkleLog.add_cosignature` (``POST /log/cosignatures``): it is
checked the same way before it is published to the agency's cosignature subject.

:meth:`MerkleLog.attestation` says what vouches for the events up to a sequence (the case
page's and the chronology downloads' "verified against checkpoint N, witnessed by X, Y"):
two binary searches over what has been read already, after reading what is new.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import msgspec
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.application import Ledger
from ledger.nats import NatsAggregateRecorder
from ledger.proofs.errors import CheckpointInvalid, CosignatureRefused, ProofUnavailable
from ledger.proofs.note import (
    Checkpoint,
    cosigned_note,
    open_checkpoint,
    split_checkpoint,
)
from ledger.proofs.tree import FileTree
from runtime._agency_keys import AgencyKeys
from runtime.log_stream import LogStream
from schemas.log import ConsistencyProof, CosignatureAccepted, InclusionProof
from schemas.wire import is_identifier

__all__ = ["Attestation", "MerkleLog", "tree_path"]

log = structlog.get_logger()

#: The longest note a cosignature may be (a checkpoint and a few signature lines).
MAX_NOTE: Final = 8192


class Attestation(msgspec.Struct, frozen=True, kw_only=True):
    """What vouches for the events up to a sequence: the checkpoint of tree size ``size``
    (``None``: no published checkpoint covers it yet) and the agencies whose cosignatures of
    it verify (:attr:`witnesses`, sorted)."""

    size: int | None
    witnesses: tuple[str, ...] = ()

    def sentence(self) -> str:
        """``verified against checkpoint N, witnessed by X, Y`` (``ledger.verify``'s words),
        ``..., not witnessed``, or ``not yet covered by a checkpoint``."""
        if self.size is None:
            return "not yet covered by a checkpoint"
        who = ", ".join(self.witnesses)
        return f"verified against checkpoint {self.size}, " + (
            f"witnessed by {who}" if who else "not witnessed"
        )


def tree_path(data_dir: Path, stream: str) -> Path:
    """The checkpointer's tree file: ``<data dir>/merkle/<stream>.tree``."""
    return Path(data_dir) / "merkle" / f"{stream}.tree"


class MerkleLog:
    """Checkpoints, cosignatures and proofs of one ledger stream's Merkle log."""

    def __init__(
        self,
        log_stream: LogStream,
        keys: AgencyKeys,
        tree_file: Path,
        *,
        origin: str,
        log_key: Ed25519PublicKey,
        attestation_refresh_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log_stream
        self._keys = keys
        self._tree_file = tree_file
        self._tree: FileTree | None = None
        self.origin = origin
        self.log_key = log_key
        self._lock = threading.Lock()
        self._checkpoints: dict[int, tuple[Checkpoint, str]] = {}  # size -> (cp, note)
        self._checkpoints_seen = 0  # the last checkpoint message read
        self._latest: tuple[Checkpoint, str] | None = None
        self._cosignatures: dict[int, dict[str, str]] = {}  # size -> line -> agency
        self._cosignatures_seen = 0
        self._sizes: list[int] = []  # every published checkpoint's size, sorted
        self._witnessed: list[int] = []  # the sizes with a counted cosignature, sorted
        # attestation() answers a covered sequence from memory for this long
        # (it is on every chronology read); a cosignature accepted here reads again at once.
        self._refresh_s = attestation_refresh_s
        self._clock = clock
        self._read_at: float | None = None

    @classmethod
    def of(
        cls,
        ledger: Ledger,
        *,
        stream: str,
        subject_prefix: str,
        tree_file: Path,
        origin: str,
        log_key: Ed25519PublicKey,
        timeout: float = 5.0,
    ) -> MerkleLog:
        """The Merkle log of ``ledger``'s stream, on the ledger's own NATS connections."""
        log_stream = LogStream.of(ledger, stream=stream, subject_prefix=subject_prefix)
        recorder = ledger.recorder
        assert isinstance(recorder, NatsAggregateRecorder)  # LogStream.of checked it
        keys = AgencyKeys(
            recorder.pool, stream=stream, subject_prefix=subject_prefix, timeout=timeout
        )
        return cls(log_stream, keys, tree_file, origin=origin, log_key=log_key)

    @property
    def stream(self) -> LogStream:
        return self._log

    def close(self) -> None:
        with self._lock:
            if self._tree is not None:
                self._tree.close()
                self._tree = None

    # -- checkpoints -------------------------------------------------------------------

    def latest_checkpoint(self) -> str:
        """The latest signed checkpoint note, with every cosignature counted for its size.

        Raises :class:`~ledger.proofs.errors.ProofUnavailable` before the first checkpoint.
        """
        with self._lock:
            self._read_checkpoints()
            if self._latest is None:
                msg = "the log has published no checkpoint yet; rule: one comes every N events"
                raise ProofUnavailable(msg)
            cp, note = self._latest
            self._read_cosignatures()
            return self._with_cosignatures(cp, note)

    def checkpoint(self, size: int) -> str:
        """The signed checkpoint of tree size ``size``, with its cosignatures."""
        with self._lock:
            found = self._published(size)
            self._read_cosignatures()
            return self._with_cosignatures(*found)

    def attestation(self, seq: int) -> Attestation:
        """What vouches for stream sequences ``1..seq``: the smallest published checkpoint
        whose tree holds ``seq`` and that an agency cosigned, else the smallest one that holds
        it (as :func:`ledger.proofs.bundle.select_checkpoint` chooses a bundle's), with the
        agencies whose cosignatures of it verify.

        Asked on every chronology read: a sequence that a checkpoint already read covers
        (witnessed or not) is answered from memory if the log was read less than
        ``attestation_refresh_s`` ago (a cosignature sent elsewhere shows that much later);
        a sequence no checkpoint read so far covers reads the log first."""
        with self._lock:
            now = self._clock()
            fresh = self._read_at is not None and now - self._read_at < self._refresh_s
            if not fresh or not self._sizes or self._sizes[-1] < seq:
                self._read_checkpoints()
                self._read_cosignatures()
                self._read_at = now
            i = bisect.bisect_left(self._witnessed, seq)
            if i < len(self._witnessed):
                size = self._witnessed[i]
                agencies = tuple(sorted(set(self._cosignatures[size].values())))
                return Attestation(size=size, witnesses=agencies)
            j = bisect.bisect_left(self._sizes, seq)
            return Attestation(size=self._sizes[j] if j < len(self._sizes) else None)

    def _with_cosignatures(self, cp: Checkpoint, note: str) -> str:
        lines = list(self._cosignatures.get(cp.size, {}))
        if not lines:
            return note
        _, own = split_checkpoint(note)
        return cosigned_note(cp, own + lines)

    def _published(self, size: int) -> tuple[Checkpoint, str]:
        self._read_checkpoints()
        found = self._checkpoints.get(size)
        if found is None:
            msg = f"size {size}: the log published no checkpoint of this tree size"
            raise ProofUnavailable(msg)
        return found

    def _read_checkpoints(self) -> None:
        while msgs := self._log.checkpoints(self._checkpoints_seen):
            for msg in msgs:
                self._checkpoints_seen = msg.seq
                note = msg.data.decode("utf-8", errors="replace")
                try:
                    cp = open_checkpoint(note, self.origin, self.log_key)
                except CheckpointInvalid:
                    # Only the checkpointer publishes here; the checkpointer itself stops on
                    # one its key did not sign (LogCorrupt). Never served.
                    log.critical("checkpoint_unsigned", log_seq=msg.seq)
                    continue
                if cp.size not in self._checkpoints:
                    self._checkpoints[cp.size] = (cp, note)
                    bisect.insort(self._sizes, cp.size)
                if self._latest is None or cp.size > self._latest[0].size:
                    self._latest = (cp, note)

    def _read_cosignatures(self) -> None:
        while msgs := self._log.cosignature_messages(self._cosignatures_seen):
            for msg in msgs:
                self._cosignatures_seen = msg.seq
                agency = msg.subject.rsplit(".", 1)[-1]
                try:
                    cp, lines = self._verified_now(agency, msg.data)
                except CosignatureRefused:
                    log.warning("cosignature_not_counted", agency=agency, log_seq=msg.seq)
                    continue
                if cp.size not in self._cosignatures:
                    bisect.insort(self._witnessed, cp.size)
                counted = self._cosignatures.setdefault(cp.size, {})
                for line in lines:
                    counted[line] = agency

    def _verified_now(self, agency: str, note: bytes) -> tuple[Checkpoint, list[str]]:
        """:meth:`_verified`, reading the checkpoints again once if the note's is not known:
        it may have been published after they were last read and cosigned since."""
        try:
            return self._verified(agency, note)
        except CosignatureRefused as error:
            if not error.conflict:
                raise
        self._read_checkpoints()
        return self._verified(agency, note)

    # -- cosignatures ------------------------------------------------------------------

    def add_cosignature(self, agency: str, note: bytes) -> CosignatureAccepted:
        """Publish ``agency``'s cosigned ``note`` once it verifies; see the module's doc.

        Raises :class:`~ledger.proofs.errors.CosignatureRefused` (``conflict`` set for a
        checkpoint the log never published) and nothing is published.
        """
        with self._lock:
            self._read_checkpoints()
            cp, lines = self._verified(agency, note)
        stored = cosigned_note(cp, lines).encode()
        seq = self._log.publish_cosignature(agency, stored)
        with self._lock:
            self._read_at = None  # the next attestation reads it
        log.info("cosignature_accepted", agency=agency, size=cp.size, log_seq=seq)
        return CosignatureAccepted(agency=agency, size=cp.size, sequence=seq)

    def _verified(self, agency: str, note: bytes) -> tuple[Checkpoint, list[str]]:
        """The published checkpoint ``note`` is for, and ``agency``'s lines that verify."""
        if not is_identifier(agency):
            msg = "agency: is not an identifier; rule: 1-64 of a-z, 0-9, '-', '_'"
            raise CosignatureRefused(msg)
        if len(note) > MAX_NOTE:
            msg = f"note: is longer than {MAX_NOTE} bytes; rule: a checkpoint and its signatures"
            raise CosignatureRefused(msg)
        try:
            cp, lines = split_checkpoint(note.decode("utf-8"))
        except (UnicodeDecodeError, CheckpointInvalid) as error:
            msg = f"note: {error}; rule: a C2SP checkpoint note with a cosignature line"
            raise CosignatureRefused(msg) from error
        published = self._checkpoints.get(cp.size)
        if cp.origin != self.origin or published is None or published[0] != cp:
            msg = (
                f"checkpoint of size {cp.size} from {cp.origin!r}: is not one this log"
                f" ({self.origin}) published; rule: a witness cosigns the log's own checkpoints"
            )
            raise CosignatureRefused(msg, conflict=True)
        ring = self._keys.ring()
        verdicts = [ring.cosigning_key(agency, cp, line) for line in lines]
        good = [line for line, v in zip(lines, verdicts, strict=True) if v.counts]
        if not good:
            first = verdicts[0].problem if verdicts else "it has no signature line"
            why = next((v.problem for v in verdicts if v.verified), first)
            msg = (
                f"cosignature of size {cp.size}: no line by {agency!r} counts ({why}); rule:"
                " cosignature/v1 by a key the agency registered, made before any revocation"
            )
            raise CosignatureRefused(msg)
        return cp, good

    # -- proofs ------------------------------------------------------------------------

    def inclusion_proof(self, seq: int, size: int | None = None) -> InclusionProof:
        """That stream sequence ``seq`` is in the tree of ``size`` (the latest checkpoint's
        by default), whose checkpoint the log published."""
        with self._lock:
            n = self._checked_size(size)
            if not 1 <= seq <= n:
                msg = f"seq {seq}: is not in the tree of size {n}; rule: 1 <= seq <= size"
                raise ProofUnavailable(msg)
            tree = self._open_tree(n)
            return InclusionProof(
                seq=seq,
                index=seq - 1,
                size=n,
                leaf_hash=tree.leaf(seq - 1),
                proof=tree.inclusion_proof(seq - 1, n),
            )

    def consistency_proof(self, size1: int, size2: int | None = None) -> ConsistencyProof:
        """That the tree of ``size1`` is a prefix of the tree of ``size2`` (the latest
        checkpoint's by default)."""
        with self._lock:
            n2 = self._checked_size(size2)
            if not 0 <= size1 <= n2:
                msg = f"from {size1}: is not between 0 and {n2}; rule: 0 <= from <= to"
                raise ProofUnavailable(msg)
            proof = self._open_tree(n2).consistency_proof(size1, n2)
            return ConsistencyProof(first=size1, to=n2, proof=proof)

    def _checked_size(self, size: int | None) -> int:
        self._read_checkpoints()
        latest = 0 if self._latest is None else self._latest[0].size
        if size is None:
            if latest == 0:
                msg = "the log has published no checkpoint yet; rule: one comes every N events"
                raise ProofUnavailable(msg)
            return latest
        if not 1 <= size <= latest:
            msg = (
                f"size {size}: no checkpoint covers it (the latest is of size {latest});"
                " rule: a proof is for a size no larger than the latest checkpoint's"
            )
            raise ProofUnavailable(msg)
        return size

    def _open_tree(self, size: int) -> FileTree:
        """The tree file, read-only, holding at least ``size`` leaves."""
        if self._tree is None:
            try:
                self._tree = FileTree(self._tree_file, readonly=True)
            except FileNotFoundError as error:
                msg = f"{self._tree_file}: no tree file here; rule: the checkpointer writes it"
                raise ProofUnavailable(msg) from error
        if self._tree.size < size:
            msg = (
                f"size {size}: the tree file holds {self._tree.size} leaves; rule: proofs are"
                " served where the data dir's checkpointer runs"
            )
            raise ProofUnavailable(msg)
        return self._tree
