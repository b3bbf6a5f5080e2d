"""The Merkle side of the stream verifier: a frontier of entry hashes, and the roots to meet.

A *witnessed root* is a tree size and root that someone vouches for: the ledger's log key
(a checkpoint note), or an agency's key (a cosignature of a checkpoint). The verifier appends
every entry hash to a :class:`~ledger.proofs.merkle.Frontier` and, as the tree reaches each
witnessed size, compares the roots (docs/proofs.md, "Verifying the stream").

A cosignature is checked against the cosigning agency's keys as the stream registered them
(key name = agency id; :meth:`ledger.proofs.keys.KeyRing.cosigning_key`, the rule every
verifier uses): when its size is reached if it counts with the keys folded by then, else at
the end. A cosigned root is a root in its own right: the log key's holder (the operator) can
sign any checkpoint, only the agencies cannot be made to. A revocation later in the stream
can take a cosignature's count back (a key counts only for cosignatures made before it was
revoked), so a cosigned root that differs is held until a failure or the end shows whether it
still counts, and then named at its size; one that matched and no longer counts is left
uncounted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.proofs.entry import b64
from ledger.proofs.errors import CheckpointInvalid, VerificationFailed
from ledger.proofs.keys import KeyRing
from ledger.proofs.merkle import Frontier
from ledger.proofs.note import (
    Checkpoint,
    note_signatures,
    open_checkpoint,
    split_checkpoint,
)
from ledger.proofs.verifier import RootCheck

__all__ = ["Roots", "WitnessedRoot", "checkpoint_roots", "cosigned_roots"]


@dataclass(frozen=True, slots=True)
class WitnessedRoot:
    """A tree size and root, who vouches for it, and (for a cosignature) what to check.

    ``label`` names it in a failure (``checkpoint at log sequence 7``); ``agency``,
    ``checkpoint`` and ``line`` are set for a cosignature, whose signature is not checked yet.
    """

    size: int
    root: bytes
    label: str
    agency: str | None = None
    checkpoint: Checkpoint | None = None
    line: str = ""


class Roots(RootCheck):
    """Meets every witnessed root as the tree of entries reaches its size."""

    def __init__(self, witnessed: Iterable[WitnessedRoot], keys: KeyRing | None = None) -> None:
        self._tree = Frontier()
        self._due: dict[int, list[WitnessedRoot]] = {}
        for w in witnessed:
            self._due.setdefault(w.size, []).append(w)
        self._keys = keys if keys is not None else KeyRing()
        self._met: list[WitnessedRoot] = []  # cosigned roots met; counted if still counting
        self._differ: list[tuple[WitnessedRoot, bytes]] = []  # cosigned roots that differ
        self._later: list[tuple[WitnessedRoot, bytes]] = []  # cosignatures not counting yet
        self.checkpoints = 0

    def bind(self, keys: KeyRing) -> None:
        """Use ``keys`` (the verifier's ring, as it folds the stream) for cosignatures."""
        self._keys = keys

    def append(self, seq: int, leaf: bytes) -> None:
        tree = self._tree
        tree.append(leaf)
        due = self._due.pop(tree.size, None)
        if due is None:
            return
        root = tree.root()
        for w in due:
            if w.agency is None:
                self._meet(w, root, seq)
            elif not self._counts(w):
                self._later.append((w, root))
            elif root == w.root:
                self._met.append(w)
            else:
                self._differ.append((w, root))

    def pending(self, keys: KeyRing) -> VerificationFailed | None:
        """The failure of the first cosigned root that differs and still counts with
        ``keys``, if any."""
        self._keys = keys
        for w, root in self._differ:
            if self._counts(w):
                return _differs(w, root, w.size)
        return None

    def finish(self, last: int, *, whole: bool, keys: KeyRing) -> tuple[int, int, int]:
        self._keys = keys
        counted = sum(1 for w in self._met if self._counts(w))
        uncounted = len(self._met) - counted + len(self._differ)  # pending() was None
        for w, root in self._later:
            assert w.agency is not None
            assert w.checkpoint is not None
            verdict = keys.cosigning_key(w.agency, w.checkpoint, w.line)
            if verdict.counts:
                self._meet(w, root, w.size)
                counted += 1
            elif verdict.verified:
                uncounted += 1
            else:
                raise VerificationFailed(None, f"{w.label}: {verdict.problem}")
        self._later = []
        if whole and self._due:
            size = min(self._due)
            w = self._due[size][0]
            why = (
                f"the stream ends at sequence {last} but {w.label} is of a tree of {size} "
                f"entries: sequences {last + 1} to {size} are missing"
            )
            raise VerificationFailed(last + 1, why)
        return self.checkpoints, counted, uncounted

    def _counts(self, w: WitnessedRoot) -> bool:
        assert w.agency is not None
        assert w.checkpoint is not None
        return self._keys.cosigning_key(w.agency, w.checkpoint, w.line).counts

    def _meet(self, w: WitnessedRoot, root: bytes, seq: int) -> None:
        if root != w.root:
            raise _differs(w, root, seq)
        if w.agency is None:
            self.checkpoints += 1


def _differs(w: WitnessedRoot, root: bytes, seq: int) -> VerificationFailed:
    why = (
        f"the Merkle tree of the first {w.size} entries has root {b64(root)} where "
        f"{w.label} says {b64(w.root)}: an entry at or before sequence {w.size} was "
        "altered, added or removed"
    )
    return VerificationFailed(seq, why)


def checkpoint_roots(
    label: str, note: str, *, origin: str, log_key: Ed25519PublicKey
) -> list[WitnessedRoot]:
    """The roots a checkpoint note vouches for: the log's (its signature checked now) and
    one per cosignature line on it (checked as the stream's keys allow).

    :class:`VerificationFailed` (no sequence) if the note is not ``origin``'s or not signed
    by ``log_key``.
    """
    try:
        cp = open_checkpoint(note, origin, log_key)
        _, lines = split_checkpoint(note)
        names = [name for name, _ in note_signatures(note)[1]]
    except CheckpointInvalid as e:
        raise VerificationFailed(None, f"{label}: {e}") from e
    out = [WitnessedRoot(cp.size, cp.root, f"{label} (size {cp.size}, signed by the log)")]
    for name, line in zip(names, lines, strict=True):
        if name != origin:
            out.append(_cosigned(cp, label, name, line))
    return out


def cosigned_roots(label: str, agency: str, note: str, *, origin: str) -> list[WitnessedRoot]:
    """The root an agency's cosignature note vouches for (the checkpoint text and its
    cosignature line; docs/proofs.md, "Witnesses"). Its signature is checked against the
    agency's keys as the stream registers them; :class:`VerificationFailed` (no sequence)
    if the note is malformed, of another origin or holds no line by ``agency``."""
    try:
        cp, lines = split_checkpoint(note)
        names = [name for name, _ in note_signatures(note)[1]]
    except CheckpointInvalid as e:
        raise VerificationFailed(None, f"{label}: {e}") from e
    if cp.origin != origin:
        why = f"{label}: is of origin {cp.origin!r} where {origin!r} is expected"
        raise VerificationFailed(None, why)
    mine = [line for name, line in zip(names, lines, strict=True) if name == agency]
    if not mine:
        raise VerificationFailed(None, f"{label}: holds no cosignature by agency '{agency}'")
    return [_cosigned(cp, label, agency, line) for line in mine]


def _cosigned(cp: Checkpoint, label: str, agency: str, line: str) -> WitnessedRoot:
    return WitnessedRoot(
        cp.size,
        cp.root,
        f"{label} (size {cp.size}, cosigned by {agency})",
        agency=agency,
        checkpoint=cp,
        line=line,
    )
