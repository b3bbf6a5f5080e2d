"""The checkpointer: the Merkle tree over the ledger stream, and its signed checkpoints.

A worker of ``ledger serve`` (:mod:`runtime.workers`; one per data dir: the tree file is
locked by its writer). It reads the ledger stream in sequence order (every message, tracking
positions included: :func:`ledger.nats.read_leaves`, which hands it each message's
sequence and leaf hash, :func:`ledger.proofs.entry.entry_hash`, and nothing else: it shares
its process, and so the GIL, with the write path), appends each leaf hash
to the tree file ``<data dir>/merkle/<stream>.tree``
(:class:`ledger.proofs.tree.FileTree`), and publishes a checkpoint signed by the log key
(:mod:`runtime.log_key`) to ``<prefix>-log.checkpoint`` on the log stream
(:mod:`runtime.log_stream`) at every multiple of ``every`` leaves, and after ``seconds``
without one when the tree has grown (docs/proofs.md, "Checkpoints").

Restartable: it resumes at the tree file's size. Before it appends, it checks the tree
against what it can see (:meth:`Checkpointer.catch_up`): the tree's last leaf is the hash
of the stream's message at that sequence, and the tree's root at the last published
checkpoint's size is that checkpoint's root (a tree behind the checkpoint catches up first
and is checked when it gets there; nothing at or below a published size is published
again). Any disagreement, a sequence missing from the stream, or a checkpoint on the log
that the log's key did not sign, raises :class:`~ledger.proofs.errors.LogCorrupt` naming the
sequence or size, logged as ``log_corrupt`` (critical): the worker stops (``/ready`` names
it), and nothing is overwritten. An operator compares the tree file with the stream
(``ledger verify``) before moving the file aside.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import LedgerUnavailable
from ledger.nats import NatsApplicationRecorder, direct_get, read_leaves
from ledger.proofs.entry import b64, entry_hash
from ledger.proofs.errors import CheckpointInvalid, LogCorrupt
from ledger.proofs.note import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.proofs.tree import FileTree
from runtime.log_stream import LogStream

__all__ = ["Checkpointer"]

log = structlog.get_logger()

#: Stored messages read per batch.
_BATCH: Final = 1000
#: How long a reader that has caught up waits before asking the stream again.
_IDLE_S: Final = 0.2


class Checkpointer:
    """The tree's writer and the checkpoints' publisher (a :class:`runtime.workers.Runner`)."""

    def __init__(
        self,
        recorder: NatsApplicationRecorder,
        tree: FileTree,
        log_stream: LogStream,
        *,
        origin: str,
        key: Ed25519PrivateKey,
        every: int = 1000,
        seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if every < 1 or seconds <= 0:
            msg = "a checkpoint comes every 1 or more events and after more than 0 seconds"
            raise ValueError(msg)
        self._recorder = recorder
        self._tree = tree
        self._log = log_stream
        self._origin = origin
        self._key = key
        self._every = every
        self._seconds = seconds
        self._clock = clock
        self._subject = f"{recorder.subjects.prefix}.>"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._latest: tuple[Checkpoint, str] | None = None  # the last published, and its note
        self._latest_seq = 0  # its sequence in the log stream (0: none)
        self._pending: Checkpoint | None = None  # published beyond the tree: check on the way
        self._published_at = clock()

    # -- what the process may ask ------------------------------------------------------

    @property
    def latest(self) -> Checkpoint | None:
        """The last checkpoint published on the log (by this process or before it)."""
        with self._lock:
            return None if self._latest is None else self._latest[0]

    @property
    def latest_note(self) -> str | None:
        """The last checkpoint's signed note."""
        with self._lock:
            return None if self._latest is None else self._latest[1]

    @property
    def size(self) -> int:
        """The tree's size: the leaves appended so far."""
        return self._tree.size

    # -- the runner's face -------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def catch_up(self) -> None:
        """Check the tree against the stream and the last published checkpoint."""
        try:
            self._resume()
        except LogCorrupt as error:
            log.critical("log_corrupt", seq=error.seq, size=error.size, reason=str(error))
            raise

    def checkpoint_to(self, end: int) -> None:
        """Append the stream up to sequence ``end``, publish a checkpoint of it and release
        the tree: what ``ledger export`` does on a data dir that no ``ledger serve`` runs on
        (no other checkpointer would, and the bundle must hold the case's last event)."""
        try:
            self.catch_up()
            if end > self._tree.size:
                for batch in read_leaves(
                    self._recorder,
                    gt=self._tree.size,
                    until=end,
                    size=_BATCH,
                    subject=self._subject,
                    idle_s=_IDLE_S,
                ):
                    self._take(batch)
            self._publish()
        finally:
            self._tree.close()

    def follow(self) -> None:
        """Read the stream from the tree's size on, append, and publish, until :meth:`stop`."""
        if self._tree.size and self._tree.size % self._every == 0:
            self._publish()  # a checkpoint whose publication failed before a retry
        batches = read_leaves(
            self._recorder,
            gt=self._tree.size,
            until=None,
            size=_BATCH,
            subject=self._subject,
            idle_s=_IDLE_S,
            stop=self._stop,
        )
        try:
            for batch in batches:
                self._take(batch)
                if self._due():
                    self._publish()
        except LogCorrupt as error:
            log.critical("log_corrupt", seq=error.seq, size=error.size, reason=str(error))
            raise
        finally:
            if self._stop.is_set():
                self._tree.close()  # stopped for good: release the writer's lock

    # -- resuming ----------------------------------------------------------------------

    def _resume(self) -> None:
        size = self._tree.size
        if size > 0:
            self._check_last_leaf(size)
        self._pending = None
        stored = self._log.last_checkpoint()
        if stored is None:
            self._set_latest(None, 0)
        else:
            note = stored.data.decode("utf-8", errors="replace")
            try:
                cp = open_checkpoint(note, self._origin, self._key.public_key())
            except CheckpointInvalid as error:
                msg = (
                    f"checkpoint at log sequence {stored.seq}: {error}; rule: every checkpoint"
                    " on the log is signed by this log's key under its origin"
                )
                raise LogCorrupt(msg) from error
            self._set_latest((cp, note), stored.seq)
            if cp.size <= size:
                self._check_root(cp)
            else:
                self._pending = cp
                log.info("checkpointer_behind", tree_size=size, checkpoint_size=cp.size)
        self._published_at = self._clock()
        log.info("checkpointer_resumed", tree_size=size, origin=self._origin)

    def _check_last_leaf(self, size: int) -> None:
        stream = self._recorder.stream
        msg = self._recorder.pool.run(
            lambda nc: direct_get(nc, stream, {"seq": size}, self._recorder.timeout)
        )
        if msg is None or msg.seq != size:
            text = (
                f"sequence {size}: the tree file holds {size} leaves but the stream has no"
                f" message {size}; rule: the stream refuses deletion, so a leaf's message stays"
            )
            raise LogCorrupt(text, seq=size)
        if entry_hash(msg.subject, msg.headers, msg.data) != self._tree.leaf(size - 1):
            text = (
                f"sequence {size}: the stream's message does not hash to the tree's leaf"
                f" {size - 1}; rule: a stored message never changes"
            )
            raise LogCorrupt(text, seq=size)

    def _check_root(self, cp: Checkpoint) -> None:
        root = self._tree.root(cp.size)
        if root != cp.root:
            text = (
                f"tree size {cp.size}: the tree's root {b64(root)} is not the published"
                f" checkpoint's root {b64(cp.root)}; rule: the log never rewrites a"
                " published checkpoint"
            )
            raise LogCorrupt(text, size=cp.size)

    # -- appending ---------------------------------------------------------------------

    def _take(self, batch: Sequence[tuple[int, bytes]]) -> None:
        """Append ``batch``'s leaves (sequence, leaf hash), publishing at each multiple of
        ``every`` on the way."""
        hashes: list[bytes] = []
        size = self._tree.size
        for seq, leaf in batch:
            if seq != size + 1:
                text = (
                    f"sequence {size + 1}: is missing from the stream (the next message is"
                    f" {seq}); rule: the stream refuses deletion, so sequences have no gaps"
                )
                raise LogCorrupt(text, seq=size + 1)
            hashes.append(leaf)
            size += 1
            pending = self._pending is not None and size == self._pending.size
            if size % self._every == 0 or pending:
                self._tree.append(hashes)
                hashes = []
                if pending and self._pending is not None:
                    self._check_root(self._pending)
                    self._pending = None
                    log.info("checkpointer_caught_up", size=size)
                if size % self._every == 0:
                    self._publish()
        if hashes:
            self._tree.append(hashes)

    def _due(self) -> bool:
        latest = self.latest
        published = 0 if latest is None else latest.size
        return self._tree.size > published and (self._clock() - self._published_at >= self._seconds)

    def _publish(self) -> None:
        size = self._tree.size
        latest = self.latest
        if latest is not None and size <= latest.size:
            return  # published before (a tree catching up): never again, never different
        self._tree.sync()
        cp = Checkpoint(self._origin, size, self._tree.root())
        note = sign_checkpoint(cp, self._origin, self._key)
        try:
            seq = self._log.publish_checkpoint(note.encode(), size, after=self._latest_seq)
        except LedgerUnavailable:
            log.warning("checkpoint_not_published", size=size)
            raise
        self._set_latest((cp, note), seq)
        self._published_at = self._clock()
        log.info("checkpoint_published", size=size, seq=seq, root=b64(cp.root))

    def _set_latest(self, latest: tuple[Checkpoint, str] | None, seq: int) -> None:
        with self._lock:
            self._latest, self._latest_seq = latest, seq
