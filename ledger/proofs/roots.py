"""The Merkle side of the stream verifier: a frontier of entry hashes, and the roots to meet.

A *witnessed root* is a tree size and root that someone vouches for: the ledger's log key
(a checkpoint note), or an agency's key (a cosignature of a checkpoint). The verifier appends
every entry hash to a :class:`~ledger.proofs.merkle.Frontier` and, as the tree reaches each
witnessed size, compares the roots (docs/proofs.md, "Verifying the stream").

A cosignature is checked against the cosigning agency's keys as the stream registered them
(key name = agency id): when its size is reached if the agency has a key by then, else at the
end, with every key the stream registered. A cosigned root is a root in its own right: the
log key's holder (the operator) can sign any checkpoint, only the agencies cannot be made to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.proofs._keyring import KeyRing
from ledger.proofs.entry import b64
from ledger.proofs.errors import CheckpointInvalid, VerificationFailed
from ledger.proofs.merkle import Frontier
from ledger.proofs.note import (
    Checkpoint,
    note_signatures,
    open_checkpoint,
    split_checkpoint,
    verify_cosignature,
)
from ledger.proofs.verifier import RootCheck

__all__ = ["CosignatureCheck", "Roots", "WitnessedRoot", "checkpoint_roots", "cosigned_roots"]

#: Checks a cosignature with one of the agency's public keys; raises CheckpointInvalid.
CosignatureCheck = Callable[[Ed25519PublicKey], object]


@dataclass(frozen=True, slots=True)
class WitnessedRoot:
    """A tree size and root, who vouches for it, and (for a cosignature) how to check it.

    ``label`` names it in a failure (``checkpoint at log sequence 7``); ``agency`` and
    ``check`` are set for a cosignature, whose signature is not checked yet.
    """

    size: int
    root: bytes
    label: str
    agency: str | None = None
    check: CosignatureCheck | None = None


class Roots(RootCheck):
    """Meets every witnessed root as the tree of entries reaches its size."""

    def __init__(self, witnessed: Iterable[WitnessedRoot], keys: KeyRing | None = None) -> None:
        self._tree = Frontier()
        self._due: dict[int, list[WitnessedRoot]] = {}
        for w in witnessed:
            self._due.setdefault(w.size, []).append(w)
        self._keys = keys
        self._later: list[tuple[WitnessedRoot, bytes]] = []
        self.checkpoints = 0
        self.cosignatures = 0

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
            if w.check is None:
                self._meet(w, root, seq)
            elif not self._cosigned(w, final=False):
                self._later.append((w, root))
            else:
                self._meet(w, root, seq)

    def finish(self, last: int, *, whole: bool, keys: KeyRing) -> tuple[int, int]:
        self._keys = keys
        for w, root in self._later:
            self._cosigned(w, final=True)
            self._meet(w, root, w.size)
        self._later = []
        if whole and self._due:
            size = min(self._due)
            w = self._due[size][0]
            why = (
                f"the stream ends at sequence {last} but {w.label} is of a tree of {size} "
                f"entries: sequences {last + 1} to {size} are missing"
            )
            raise VerificationFailed(last + 1, why)
        return self.checkpoints, self.cosignatures

    def _meet(self, w: WitnessedRoot, root: bytes, seq: int) -> None:
        if root != w.root:
            why = (
                f"the Merkle tree of the first {w.size} entries has root {b64(root)} where "
                f"{w.label} says {b64(w.root)}: an entry at or before sequence {w.size} was "
                "altered, added or removed"
            )
            raise VerificationFailed(seq, why)
        if w.check is None:
            self.checkpoints += 1
        else:
            self.cosignatures += 1

    def _cosigned(self, w: WitnessedRoot, *, final: bool) -> bool:
        """Whether ``w``'s cosignature verifies; False if its agency has no key yet (and
        ``final`` is not set); :class:`VerificationFailed` if it does not verify."""
        agency, check = w.agency, w.check
        if agency is None or check is None:  # a checkpoint's root: its signature was checked
            return True
        keys = self._keys.agency_keys(agency) if self._keys is not None else []
        if not keys:
            if not final:
                return False
            why = f"{w.label}: agency '{agency}' registered no key on the stream"
            raise VerificationFailed(None, why)
        problems: list[str] = []
        for _, public_key in keys:
            try:
                check(public_key)
            except CheckpointInvalid as e:
                problems.append(str(e))
            else:
                return True
        why = f"{w.label}: verifies with none of agency '{agency}' keys ({problems[0]})"
        raise VerificationFailed(None, why)


def _cosignature(cp: Checkpoint, line: str, agency: str) -> CosignatureCheck:
    def check(public_key: Ed25519PublicKey) -> object:
        return verify_cosignature(cp, line, agency, public_key)

    return check


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
        check=_cosignature(cp, line, agency),
    )
