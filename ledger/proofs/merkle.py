"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs over a list of leaf hashes, and their checks.

- Hashing: RFC 6962 section 2.1 (RFC 9162 section 2.1.1): ``leaf_hash(d) = SHA-256(0x00 || d)``,
  ``node_hash(l, r) = SHA-256(0x01 || l || r)``, the empty tree's root ``SHA-256()``.
- Proofs over a list (:func:`root_from_leaves`, :func:`inclusion_proof`,
  :func:`consistency_proof`): the literal recursive definitions of RFC 6962 section 2.1
  (``MTH``, ``PATH``, ``PROOF``/``SUBPROOF``); the reference the persistent tree
  (:mod:`ledger.proofs.tree`) is tested against.
- Checks (:func:`verify_inclusion`, :func:`verify_consistency`): the algorithms of RFC 9162
  sections 2.1.3.2 and 2.1.4.2, after a check of every size and of the proof's exact length
  (the lengths follow transparency-dev/merkle's ``proof/verify.go``), so that a message says
  what failed.
- :class:`Frontier`: the compact range of an append-only tree (its perfect subtrees' roots,
  largest first), for a verifier that streams millions of leaves in O(log n) memory.

Every function takes and returns *leaf hashes* (32 bytes), never entries. Pure: ``hashlib``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Final

from ledger.proofs.errors import ProofInvalid

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaves",
    "subtree_consistency",
    "subtree_path",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
_LEAF: Final = b"\x00"
_NODE: Final = b"\x01"
#: The root of the empty tree: SHA-256 of nothing (RFC 6962 section 2.1).
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of a leaf whose input is ``data``."""
    return hashlib.sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node."""
    return hashlib.sha256(_NODE + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``): RFC 6962's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


# -- reference proofs over a list (RFC 6962 section 2.1) ------------------------------------


def _mth(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """``MTH(D[lo:hi])`` for ``hi > lo``."""
    if hi - lo == 1:
        return leaves[lo]
    k = _split(hi - lo)
    return node_hash(_mth(leaves, lo, lo + k), _mth(leaves, lo + k, hi))


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """The root of the tree whose leaf hashes are ``leaves`` (``EMPTY_ROOT`` for none)."""
    return _mth(leaves, 0, len(leaves)) if leaves else EMPTY_ROOT


def _check_sizes(what: str, index: int, size: int, available: int) -> None:
    if size > available:
        msg = f"{what}: tree size {size} is beyond the {available} leaves there are"
        raise ProofInvalid(msg)
    if not 0 <= index < size:
        msg = f"{what}: leaf index {index} is not below the tree size {size}"
        raise ProofInvalid(msg)


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """``PATH(index, D[0:size])``: the audit path of leaf ``index`` in the tree of ``size``."""
    _check_sizes("inclusion proof", index, size, len(leaves))
    return subtree_path(index, 0, size, lambda lo, hi: _mth(leaves, lo, hi))


def subtree_path(m: int, lo: int, hi: int, mth: Callable[[int, int], bytes]) -> list[bytes]:
    """``PATH(m, D[lo:hi])`` with the subtree hashes from ``mth(lo, hi)``, leaf first."""
    path: list[bytes] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(mth(lo + k, hi))
            hi = lo + k
        else:
            path.append(mth(lo, lo + k))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def consistency_proof(leaves: Sequence[bytes], size1: int, size2: int) -> list[bytes]:
    """``PROOF(size1, D[0:size2])``: empty when ``size1`` is 0 or equals ``size2``."""
    if size2 > len(leaves):
        msg = f"consistency proof: tree size {size2} is beyond the {len(leaves)} leaves there are"
        raise ProofInvalid(msg)
    return subtree_consistency(size1, size2, lambda lo, hi: _mth(leaves, lo, hi))


def subtree_consistency(size1: int, size2: int, mth: Callable[[int, int], bytes]) -> list[bytes]:
    """``PROOF(size1, D[0:size2])`` with the subtree hashes from ``mth(lo, hi)``."""
    if not 0 <= size1 <= size2:
        msg = f"consistency proof: size {size1} is larger than size {size2}"
        raise ProofInvalid(msg)
    if size1 in (0, size2):
        return []
    # SUBPROOF(m, D[lo:hi], b), unrolled: each step adds one sibling, the deepest last.
    proof: list[bytes] = []
    m, lo, hi, whole = size1, 0, size2, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(mth(lo + k, hi))
            hi = lo + k
        else:
            proof.append(mth(lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        proof.append(mth(lo, hi))
    proof.reverse()
    return proof


# -- checks (RFC 9162 sections 2.1.3.2 and 2.1.4.2) ------------------------------------------


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        msg = f"{what}: holds {len(value)} bytes where {HASH_SIZE} are required"
        raise ProofInvalid(msg)


def _check_proof(what: str, proof: Sequence[bytes], required: int) -> None:
    if len(proof) != required:
        kind = "too long" if len(proof) > required else "too short"
        msg = f"{what}: is {kind}: {len(proof)} hashes where {required} are required"
        raise ProofInvalid(msg)
    for i, p in enumerate(proof):
        _check_hash(f"{what}: element {i}", p)


def _lsb(n: int) -> int:
    return n & 1


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Return if ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``size`` with
    ``root``; raise :class:`ProofInvalid` naming what failed otherwise."""
    what = f"inclusion proof of leaf {index} in tree size {size}"
    if size < 0 or not 0 <= index < size:
        msg = f"{what}: the leaf index is not below the tree size"
        raise ProofInvalid(msg)
    _check_hash(f"{what}: leaf hash", leaf)
    _check_hash(f"{what}: root", root)
    inner = (index ^ (size - 1)).bit_length()
    _check_proof(what, proof, inner + (index >> inner).bit_count())
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:  # unreachable after the length check; RFC 9162 step 4a all the same
            msg = f"{what}: is too long"
            raise ProofInvalid(msg)
        if _lsb(fn) or fn == sn:
            r = node_hash(p, r)
            if not _lsb(fn):
                while not _lsb(fn) and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        msg = f"{what}: is too short"
        raise ProofInvalid(msg)
    if r != root:
        msg = f"{what}: the root it leads to does not match the tree's root"
        raise ProofInvalid(msg)


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Return if ``proof`` shows the tree of ``size1`` with ``root1`` is a prefix of the tree of
    ``size2`` with ``root2``; raise :class:`ProofInvalid` naming what failed otherwise.

    Equal sizes need equal roots and an empty proof; a tree of size 0 (root
    :data:`EMPTY_ROOT`) is a prefix of every tree, with an empty proof.
    """
    what = f"consistency proof from tree size {size1} to {size2}"
    if size1 < 0 or size2 < 0:
        msg = f"{what}: a tree size is negative"
        raise ProofInvalid(msg)
    if size1 > size2:
        msg = f"{what}: the first size is larger than the second (a tree cannot shrink)"
        raise ProofInvalid(msg)
    _check_hash(f"{what}: first root", root1)
    _check_hash(f"{what}: second root", root2)
    if size1 == 0:
        _check_proof(what, proof, 0)
        if root1 != EMPTY_ROOT:
            msg = f"{what}: the first root is not the empty tree's"
            raise ProofInvalid(msg)
        if size2 == 0 and root2 != EMPTY_ROOT:
            msg = f"{what}: the second root is not the empty tree's"
            raise ProofInvalid(msg)
        return
    if size1 == size2:
        _check_proof(what, proof, 0)
        if root1 != root2:
            msg = f"{what}: the sizes are equal but the roots differ"
            raise ProofInvalid(msg)
        return
    level = (size1 & -size1).bit_length() - 1  # size1 = 2^level * odd
    index, last = (size1 - 1) >> level, (size2 - 1) >> level
    inner = (index ^ last).bit_length()
    seeded = 0 if index == 0 else 1  # a power-of-two size1 is its own first hash
    _check_proof(what, proof, seeded + inner + (index >> inner).bit_count())
    path = list(proof) if seeded else [root1, *proof]
    # RFC 9162 section 2.1.4.2, steps 3 to 7.
    fn, sn = size1 - 1, size2 - 1
    while _lsb(fn):
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:  # unreachable after the length check; RFC 9162 step 6a all the same
            msg = f"{what}: is too long"
            raise ProofInvalid(msg)
        if _lsb(fn) or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not _lsb(fn):
                while not _lsb(fn) and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        msg = f"{what}: is too short"
        raise ProofInvalid(msg)
    if fr != root1:
        msg = f"{what}: the first root it leads to does not match the first tree's root"
        raise ProofInvalid(msg)
    if sr != root2:
        msg = f"{what}: the second root it leads to does not match the second tree's root"
        raise ProofInvalid(msg)


# -- the compact range of an append-only tree ------------------------------------------------


class Frontier:
    """The roots of the perfect subtrees an append-only tree of :attr:`size` leaves splits into,
    largest (leftmost) first: one per set bit of the size, so O(log n) memory.

    ``root()`` at any moment is the tree's root at the current size, so a streaming verifier
    can check every checkpoint as its size goes by.
    """

    __slots__ = ("_hashes", "_levels", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []
        self._levels: list[int] = []

    @property
    def size(self) -> int:
        """The number of leaves appended."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The perfect subtrees' roots, largest first (the compact range ``[0, size)``)."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> None:
        """Add leaf hash ``leaf_hash`` as leaf number :attr:`size`."""
        if len(leaf_hash) != HASH_SIZE:
            msg = f"leaf {self._size}: holds {len(leaf_hash)} bytes where {HASH_SIZE} are required"
            raise ProofInvalid(msg)
        h, level = leaf_hash, 0
        hashes, levels = self._hashes, self._levels
        while levels and levels[-1] == level:
            h = node_hash(hashes.pop(), h)
            levels.pop()
            level += 1
        hashes.append(h)
        levels.append(level)
        self._size += 1

    def root(self) -> bytes:
        """The tree's root at the current size (:data:`EMPTY_ROOT` when empty)."""
        if not self._hashes:
            return EMPTY_ROOT
        h = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            h = node_hash(left, h)
        return h
