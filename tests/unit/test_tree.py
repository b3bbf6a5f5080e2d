"""The persistent Merkle tree: in memory and in its file, against the reference definitions
(:mod:`ledger.proofs.merkle`, themselves checked against RFC 6962's vectors), across reopens,
torn tails and a second process reading while the writer appends."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.proofs.errors import ProofInvalid, TreeError
from ledger.proofs.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaves,
)
from ledger.proofs.tree import FileTree, MemoryTree, Tree, node_count, node_position


def distinct_leaves(n: int, salt: int = 0) -> list[bytes]:
    return [leaf_hash(f"{salt}:{i}".encode()) for i in range(n)]


def chunks(leaves: list[bytes], sizes: list[int]) -> Iterator[list[bytes]]:
    at = 0
    for n in sizes:
        yield leaves[at : at + n]
        at += n


def assert_tree_matches(tree: Tree, leaves: list[bytes]) -> None:
    """Every leaf, root, inclusion and consistency proof of ``tree`` is the reference's."""
    assert tree.size == len(leaves)
    assert tree.root() == root_from_leaves(leaves)
    for i, leaf in enumerate(leaves):
        assert tree.leaf(i) == leaf
    for size in range(len(leaves) + 1):
        assert tree.root(size) == root_from_leaves(leaves[:size])
        for i in range(size):
            assert tree.inclusion_proof(i, size) == inclusion_proof(leaves, i, size)
        for size1 in range(size + 1):
            assert tree.consistency_proof(size1, size) == consistency_proof(leaves, size1, size)


def file_length(size: int) -> int:
    return (node_count(size) + 1) * HASH_SIZE


class TestPostOrderLayout:
    def test_positions_are_the_order_in_which_appends_complete_the_nodes(self) -> None:
        # leaves 0..3: a, b, (a b), c, d, (c d), ((a b) (c d)), then leaf 4
        order = [(0, 0), (0, 1), (1, 0), (0, 2), (0, 3), (1, 1), (2, 0), (0, 4)]
        assert [node_position(level, j) for level, j in order] == list(range(len(order)))

    def test_a_tree_of_n_leaves_has_two_n_less_popcount_nodes(self) -> None:
        assert [node_count(n) for n in range(9)] == [0, 1, 3, 4, 7, 8, 10, 11, 15]


class TestMemoryTree:
    @settings(max_examples=40, deadline=None)  # timing is not what this tests
    @given(st.lists(st.integers(0, 9), min_size=1, max_size=12))
    def test_the_tree_answers_every_question_as_the_definitions_do(
        self, batches: list[int]
    ) -> None:
        leaves = distinct_leaves(sum(batches))
        tree = MemoryTree()
        for chunk in chunks(leaves, batches):
            tree.append(chunk)
        assert_tree_matches(tree, leaves)

    def test_the_empty_tree_has_the_empty_root_and_no_leaves(self) -> None:
        tree = MemoryTree()
        assert (tree.size, tree.root(), tree.consistency_proof(0)) == (0, EMPTY_ROOT, [])
        with pytest.raises(ProofInvalid, match="leaf 0: is not below the tree size 0"):
            tree.leaf(0)

    def test_sizes_beyond_the_tree_are_refused_naming_the_size(self) -> None:
        tree = MemoryTree()
        tree.append(distinct_leaves(5))
        with pytest.raises(ProofInvalid, match="tree size 6"):
            tree.root(6)
        with pytest.raises(ProofInvalid, match="tree size 9"):
            tree.inclusion_proof(0, 9)
        with pytest.raises(ProofInvalid, match="tree size 7"):
            tree.consistency_proof(2, 7)
        with pytest.raises(ProofInvalid, match="size 4 is not between 0 and size 3"):
            tree.consistency_proof(4, 3)
        with pytest.raises(ProofInvalid, match="leaf index 5"):
            tree.inclusion_proof(5)

    @pytest.mark.parametrize(("bad", "rule"), [(b"x" * 31, "holds 31 bytes"), (bytes(32), "zero")])
    def test_a_batch_with_a_bad_leaf_hash_appends_nothing(self, bad: bytes, rule: str) -> None:
        tree = MemoryTree()
        tree.append(distinct_leaves(3))
        with pytest.raises(TreeError, match=rule):
            tree.append([*distinct_leaves(2, salt=1), bad])
        assert tree.size == 3
        tree.append(distinct_leaves(2, salt=2))
        assert_tree_matches(tree, distinct_leaves(3) + distinct_leaves(2, salt=2))


class TestFileTree:
    @settings(max_examples=25, deadline=None)
    @given(st.lists(st.integers(0, 9), min_size=1, max_size=10), st.integers(0, 10))
    def test_the_file_tree_answers_as_the_memory_tree_across_reopens(
        self, batches: list[int], close_after: int
    ) -> None:
        leaves = distinct_leaves(sum(batches))
        memory = MemoryTree()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "merkle" / "LEDGER.tree"
            tree = FileTree(path)
            for k, chunk in enumerate(chunks(leaves, batches)):
                tree.append(chunk)
                memory.append(chunk)
                if k == close_after:  # a restart of the checkpointer
                    tree.close()
                    tree = FileTree(path)
                    assert (tree.size, tree.root()) == (memory.size, memory.root())
            with tree:
                assert_tree_matches(tree, leaves)
                assert path.stat().st_size == file_length(len(leaves))

    def test_the_file_is_0600_in_a_0700_directory(self, tmp_path: Path) -> None:
        path = tmp_path / "data" / "merkle" / "LEDGER.tree"
        with FileTree(path) as tree:
            tree.append(distinct_leaves(3))
            tree.sync()
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700

    def test_reopening_resumes_at_the_stored_size(self, tmp_path: Path) -> None:
        path = tmp_path / "t.tree"
        leaves = distinct_leaves(1000)
        with FileTree(path) as tree:
            tree.append(leaves[:600])
            tree.sync()
        with FileTree(path) as tree:
            assert (tree.size, tree.root()) == (600, root_from_leaves(leaves[:600]))
            tree.append(leaves[600:])
            assert tree.root() == root_from_leaves(leaves)
            assert tree.inclusion_proof(599, 777) == inclusion_proof(leaves, 599, 777)

    @pytest.mark.parametrize("extra", [1, 17, 31])
    def test_a_torn_last_node_is_cut_off_on_open(self, tmp_path: Path, extra: int) -> None:
        path = tmp_path / "t.tree"
        leaves = distinct_leaves(10)
        with FileTree(path) as tree:
            tree.append(leaves)
        with path.open("ab") as f:
            f.write(b"\xab" * extra)
        with FileTree(path) as tree:
            assert (tree.size, tree.root()) == (10, root_from_leaves(leaves))
        assert path.stat().st_size == file_length(10)

    def test_a_leaf_whose_parents_were_not_written_is_dropped(self, tmp_path: Path) -> None:
        path = tmp_path / "t.tree"
        leaves = distinct_leaves(8)
        with FileTree(path) as tree:
            tree.append(leaves)  # leaf 7 completes three parents after it
        os.truncate(path, file_length(7) + 2 * HASH_SIZE)  # leaf 7 and one parent
        with FileTree(path) as tree:
            assert (tree.size, tree.root()) == (7, root_from_leaves(leaves[:7]))
            tree.append(leaves[7:])
            assert_tree_matches(tree, leaves)

    def test_a_zeroed_tail_is_found_and_the_tree_resumes_before_it(self, tmp_path: Path) -> None:
        path = tmp_path / "t.tree"
        leaves = distinct_leaves(500)
        with FileTree(path) as tree:
            tree.append(leaves)
        length = path.stat().st_size
        with path.open("r+b") as f:  # a crash after the size grew but before the data landed
            f.seek(length - 4096)
            f.write(bytes(4096))
        with FileTree(path) as tree:
            size = tree.size
            assert 0 < size < 500
            assert file_length(size) <= length - 4096
            assert tree.root() == root_from_leaves(leaves[:size])
            tree.append(leaves[size:])
            assert tree.root() == root_from_leaves(leaves)

    def test_a_zeroed_last_leaf_that_completes_no_parent_is_dropped(self, tmp_path: Path) -> None:
        path = tmp_path / "t.tree"
        leaves = distinct_leaves(5)
        with FileTree(path) as tree:
            tree.append(leaves)  # leaf 4 is the last node: no parent to check it against
        with path.open("r+b") as f:
            f.seek(file_length(5) - HASH_SIZE)
            f.write(bytes(HASH_SIZE))
        with FileTree(path) as tree:
            assert (tree.size, tree.root()) == (4, root_from_leaves(leaves[:4]))

    def test_a_corrupted_parent_drops_the_leaf_that_completed_it(self, tmp_path: Path) -> None:
        path = tmp_path / "t.tree"
        leaves = distinct_leaves(16)
        with FileTree(path) as tree:
            tree.append(leaves)
        with path.open("r+b") as f:  # the parent of leaves 12 and 13
            f.seek((node_position(1, 6) + 1) * HASH_SIZE)
            f.write(b"\x01" * HASH_SIZE)
        with FileTree(path) as tree:
            assert (tree.size, tree.root()) == (13, root_from_leaves(leaves[:13]))

    def test_a_file_that_is_not_a_tree_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "t.tree"
        path.write_bytes(b"SQLite format 3\x00" + bytes(100))
        with pytest.raises(TreeError, match="is not a ledger Merkle tree file"):
            FileTree(path)

    def test_a_header_torn_at_creation_starts_an_empty_tree(self, tmp_path: Path) -> None:
        path = tmp_path / "t.tree"
        path.write_bytes(b"ledger-me")
        with FileTree(path) as tree:
            assert (tree.size, tree.root()) == (0, EMPTY_ROOT)
            tree.append(distinct_leaves(2))
        with FileTree(path) as tree:
            assert tree.root() == root_from_leaves(distinct_leaves(2))

    def test_a_second_writer_is_refused_until_the_first_closes(self, tmp_path: Path) -> None:
        path = tmp_path / "t.tree"
        first = FileTree(path)
        with pytest.raises(TreeError, match="held by another writer"):
            FileTree(path)
        first.close()
        FileTree(path).close()

    def test_a_reader_sees_the_writers_appends_and_cannot_append(self, tmp_path: Path) -> None:
        path = tmp_path / "t.tree"
        leaves = distinct_leaves(40)
        with FileTree(path) as writer, FileTree(path, readonly=True) as reader:
            assert reader.size == 0
            writer.append(leaves[:25])
            assert (reader.size, reader.root()) == (25, root_from_leaves(leaves[:25]))
            writer.append(leaves[25:])
            assert reader.inclusion_proof(30) == inclusion_proof(leaves, 30, 40)
            assert reader.consistency_proof(25) == consistency_proof(leaves, 25, 40)
            with pytest.raises(TreeError, match="read-only"):
                reader.append(leaves[:1])

    def test_sizes_beyond_the_file_tree_are_refused_naming_the_size(self, tmp_path: Path) -> None:
        with FileTree(tmp_path / "t.tree") as tree:
            tree.append(distinct_leaves(4))
            with pytest.raises(ProofInvalid, match="tree size 5: is beyond the 4 leaves"):
                tree.inclusion_proof(0, 5)
