"""The ledger's append-only Merkle tree, in memory (:class:`MemoryTree`) or in one file
(:class:`FileTree`, the checkpointer's ``<data dir>/merkle/<stream>.tree``).

Both keep every complete node of the tree (leaf hashes and every perfect subtree's root) in
*post-order*: appending leaf ``i`` adds the leaf, then each parent it completes, lowest first,
the order of a Merkle mountain range. The node at ``level`` ``l`` and index ``j`` (the root of
leaves ``[j*2^l, (j+1)*2^l)``) therefore sits at a fixed position (:func:`node_position`), and
a root at any size, a leaf, an inclusion proof or a consistency proof costs O(log n) node
reads: each hash the RFC 6962 definitions ask for is a perfect node or, at the right edge of
the requested size, a fold of at most log n of them.

The file is a 32-byte header (``ledger-merkle/v1`` and zeros) followed by 32-byte nodes, read
with ``os.pread``. An append is written with one ``pwrite`` after its nodes are computed, so a
crash leaves at worst a torn tail: on opening for writing, a partial node is cut off, nodes of
a leaf whose parents are missing are dropped, and the last leaves' parents are checked against
their children (a zeroed or half-written block is found there), the tree resuming at the last
leaf that checks. Anything appended after the last :meth:`FileTree.sync` may be lost to a
crash: the checkpointer syncs before it publishes a checkpoint and, on restart, compares the
tree's last leaf with the stream before it appends.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Final, Protocol, Self

from ledger.proofs.errors import ProofInvalid, TreeBusy, TreeError
from ledger.proofs.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    node_hash,
    subtree_consistency,
    subtree_path,
)

__all__ = ["FileTree", "MemoryTree", "Tree", "node_count", "node_position"]

MAGIC: Final = b"ledger-merkle/v1".ljust(HASH_SIZE, b"\x00")
#: How many of the last leaves have their parents checked when a tree file is opened for writing.
TAIL_CHECK: Final = 4096
_ZERO: Final = bytes(HASH_SIZE)


class Tree(Protocol):
    """An append-only Merkle tree over leaf hashes (RFC 6962), at every size it has had."""

    @property
    def size(self) -> int:
        """The number of leaves."""
        ...

    def append(self, leaf_hashes: Iterable[bytes]) -> None:
        """Add ``leaf_hashes`` (32 bytes each) as the next leaves, all or none."""
        ...

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        ...

    def root(self, size: int | None = None) -> bytes:
        """The root at ``size`` leaves (the current size by default)."""
        ...

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The RFC 6962 audit path of leaf ``index`` in the tree of ``size``."""
        ...

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """The RFC 6962 consistency proof from ``size1`` to ``size2`` (the current size)."""
        ...

    def sync(self) -> None:
        """Make every appended leaf durable."""
        ...

    def close(self) -> None:
        """Release the tree's resources; it cannot be used after."""
        ...


def node_count(size: int) -> int:
    """How many complete nodes a tree of ``size`` leaves has: ``2 * size - popcount(size)``."""
    return 2 * size - size.bit_count()


def node_position(level: int, index: int) -> int:
    """The post-order position of the root of leaves ``[index * 2^level, (index + 1) * 2^level)``.

    It is the last node written when leaf ``(index + 1) * 2^level - 1`` is appended, less the
    parents above ``level`` that the same leaf completes.
    """
    end = (index + 1) << level
    completes = (end & -end).bit_length() - 1  # the highest level that leaf completes
    return node_count(end) - 1 - (completes - level)


def size_for_nodes(count: int) -> int:
    """The largest tree size whose nodes all fit in ``count`` nodes."""
    lo, hi = 0, count  # node_count(n) >= n, so the answer is at most count
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if node_count(mid) <= count:
            lo = mid
        else:
            hi = mid - 1
    return lo


class _PostOrderTree:
    """Everything but the storage: subclasses read a node at a position and append bytes."""

    def __init__(self) -> None:
        self._size = 0
        # The right edge: the perfect subtrees' roots of [0, size), largest first.
        self._levels: list[int] = []
        self._hashes: list[bytes] = []

    def _read(self, position: int) -> bytes:
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _current_size(self) -> int:
        return self._size

    @property
    def size(self) -> int:
        return self._current_size()

    def append(self, leaf_hashes: Iterable[bytes]) -> None:
        size, levels, hashes = self._size, list(self._levels), list(self._hashes)
        out = bytearray()
        for h in leaf_hashes:
            if len(h) != HASH_SIZE:
                msg = f"leaf {size}: holds {len(h)} bytes where {HASH_SIZE} are required"
                raise TreeError(msg)
            if h == _ZERO:  # no SHA-256 output; a torn tail reads as zeros (FileTree)
                msg = f"leaf {size}: is all zero bytes, which no leaf hash is"
                raise TreeError(msg)
            out += h
            level = 0
            while levels and levels[-1] == level:
                h = node_hash(hashes.pop(), h)
                levels.pop()
                level += 1
                out += h
            levels.append(level)
            hashes.append(h)
            size += 1
        if out:
            self._write(bytes(out))
        self._size, self._levels, self._hashes = size, levels, hashes

    def _node(self, level: int, index: int) -> bytes:
        return self._read(node_position(level, index))

    def _range_hash(self, lo: int, hi: int) -> bytes:
        """``MTH(D[lo:hi])`` for a range RFC 6962's recursion asks for (``lo`` aligned to the
        largest power of two in ``hi - lo``): a right fold of its perfect subtrees."""
        parts: list[bytes] = []
        while lo < hi:
            by_length = (hi - lo).bit_length() - 1
            level = by_length if lo == 0 else min(by_length, (lo & -lo).bit_length() - 1)
            parts.append(self._node(level, lo >> level))
            lo += 1 << level
        h = parts[-1]
        for left in reversed(parts[:-1]):
            h = node_hash(left, h)
        return h

    def _size_arg(self, size: int | None) -> int:
        current = self._current_size()
        if size is None:
            return current
        if not 0 <= size <= current:
            msg = f"tree size {size}: is beyond the {current} leaves the tree holds"
            raise ProofInvalid(msg)
        return size

    def leaf(self, index: int) -> bytes:
        size = self._current_size()
        if not 0 <= index < size:
            msg = f"leaf {index}: is not below the tree size {size}"
            raise ProofInvalid(msg)
        return self._node(0, index)

    def root(self, size: int | None = None) -> bytes:
        n = self._size_arg(size)
        if n == 0:
            return EMPTY_ROOT
        if n == self._size and self._hashes:  # the right edge is at hand
            h = self._hashes[-1]
            for left in reversed(self._hashes[:-1]):
                h = node_hash(left, h)
            return h
        return self._range_hash(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        n = self._size_arg(size)
        if not 0 <= index < n:
            msg = f"inclusion proof: leaf index {index} is not below the tree size {n}"
            raise ProofInvalid(msg)
        return subtree_path(index, 0, n, self._range_hash)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        n2 = self._size_arg(size2)
        if not 0 <= size1 <= n2:
            msg = f"consistency proof: size {size1} is not between 0 and size {n2}"
            raise ProofInvalid(msg)
        return subtree_consistency(size1, n2, self._range_hash)

    def _load_edge(self) -> None:
        """The right edge of ``[0, size)`` from the stored nodes."""
        self._levels, self._hashes = [], []
        lo = 0
        for level in range(self._size.bit_length() - 1, -1, -1):
            if self._size >> level & 1:
                self._levels.append(level)
                self._hashes.append(self._node(level, lo >> level))
                lo += 1 << level


class MemoryTree(_PostOrderTree):
    """The tree in memory (tests, a verifier's scratch tree): 64 bytes a leaf."""

    def __init__(self) -> None:
        super().__init__()
        self._nodes = bytearray()

    def _read(self, position: int) -> bytes:
        at = position * HASH_SIZE
        return bytes(self._nodes[at : at + HASH_SIZE])

    def _write(self, data: bytes) -> None:
        self._nodes += data

    def sync(self) -> None:
        """Nothing to make durable."""

    def close(self) -> None:
        """Nothing to release."""


class FileTree(_PostOrderTree):
    """The tree in one file (mode 0600, its directory 0700 when created here).

    Opened for writing (the default) it holds an exclusive ``flock`` on the file, so a second
    checkpointer on the same file is refused, and it repairs a torn tail (module docstring).
    ``readonly=True`` takes no lock, repairs nothing, and reads the size from the file's
    length at every call, so another process may serve proofs while the writer appends.
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        super().__init__()
        self.path = path
        self._readonly = readonly
        self._fd = -1
        if readonly:
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            self._check_header(writing=False)
            self._size = self._current_size()
            return
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True)
            path.parent.chmod(0o700)
        created = not path.exists()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(self._fd, 0o600)
            import fcntl  # here, so the offline verifier imports this module on any OS

            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                msg = f"{path}: is held by another writer (a second checkpointer?)"
                raise TreeBusy(msg) from e
            self._check_header(writing=True)
            if created:
                _fsync_dir(path.parent)
            self._recover()
        except BaseException:
            os.close(self._fd)
            self._fd = -1
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- storage ----------------------------------------------------------------------------

    def _read(self, position: int) -> bytes:
        data = os.pread(self._fd, HASH_SIZE, (position + 1) * HASH_SIZE)
        if len(data) != HASH_SIZE:
            msg = f"{self.path}: node {position} is beyond the end of the file"
            raise TreeError(msg)
        return data

    def _write(self, data: bytes) -> None:
        if self._readonly:
            msg = f"{self.path}: is open read-only; only its writer appends"
            raise TreeError(msg)
        offset = (node_count(self._size) + 1) * HASH_SIZE
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, offset)
            view, offset = view[written:], offset + written

    def _current_size(self) -> int:
        if not self._readonly:
            return self._size
        length = os.fstat(self._fd).st_size
        self._size = size_for_nodes(max(0, length // HASH_SIZE - 1))
        return self._size

    def sync(self) -> None:
        """``fsync`` the file: every leaf appended so far survives a crash."""
        if not self._readonly:
            os.fsync(self._fd)

    def close(self) -> None:
        """Close the file and release the writer's lock (again is harmless)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # -- opening ----------------------------------------------------------------------------

    def _check_header(self, *, writing: bool) -> None:
        head = os.pread(self._fd, HASH_SIZE, 0)
        if head == MAGIC:
            return
        if len(head) < HASH_SIZE and MAGIC.startswith(head):
            # A new file, or a crash while it was being created.
            if writing:
                os.ftruncate(self._fd, 0)
                os.pwrite(self._fd, MAGIC, 0)
                os.fsync(self._fd)
            return
        msg = f"{self.path}: is not a ledger Merkle tree file (header {head[:16]!r})"
        raise TreeError(msg)

    def _recover(self) -> None:
        """Resume at the last leaf whose nodes are all there and check against their children."""
        length = os.fstat(self._fd).st_size
        size = size_for_nodes(max(0, length // HASH_SIZE - 1))
        size = self._last_good(size)
        keep = (node_count(size) + 1) * HASH_SIZE
        if keep != length:
            os.ftruncate(self._fd, keep)
            os.fsync(self._fd)
        self._size = size
        self._load_edge()

    def _last_good(self, size: int) -> int:
        """The largest size ``<= size`` whose last :data:`TAIL_CHECK` leaves are non-zero and
        whose parents hash from their children."""
        for i in range(max(0, size - TAIL_CHECK), size):
            if self._node(0, i) == _ZERO or not self._parents_check(i):
                return i
        return size

    def _parents_check(self, i: int) -> bool:
        """Whether every parent that leaf ``i`` completes hashes from its two children."""
        end = i + 1
        for level in range(1, (end & -end).bit_length()):
            j = i >> level
            left = self._node(level - 1, 2 * j)
            right = self._node(level - 1, 2 * j + 1)
            if self._node(level, j) != node_hash(left, right):
                return False
        return True


def _fsync_dir(path: Path) -> None:
    """Make a new directory entry durable (no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
