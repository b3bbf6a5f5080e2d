"""The Merkle tree: RFC 6962's published test vectors, RFC 9162's checks against every tampered
proof, and the persistent tree against the reference definitions.

The vectors are transparency-dev/merkle's (the successor of certificate-transparency-go's
``merkle`` package): ``rfc6962/rfc6962_test.go`` (leaf and node hashes) and
``proof/verify_test.go`` (the eight leaf inputs, the roots of sizes 1 to 8, inclusion and
consistency proofs, and the corruptions its ``corruptInclusionProof`` and
``corruptConsistencyProof`` apply).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.proofs.errors import ProofInvalid
from ledger.proofs.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)


def dh(text: str) -> bytes:
    return bytes.fromhex(text)


# -- transparency-dev/merkle proof/verify_test.go --------------------------------------------

INPUTS = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
LEAVES = [leaf_hash(d) for d in INPUTS]
ROOTS = [
    dh("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    dh("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    dh("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    dh("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    dh("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    dh("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    dh("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    dh("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
# (leaf number counted from 1, as in the Go table; tree size; proof)
INCLUSION = [
    (1, 1, []),
    (
        1,
        8,
        [
            dh("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            dh("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            dh("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            dh("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            dh("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (3, 3, [dh("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        2,
        5,
        [
            dh("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            dh("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            dh("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            dh("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            dh("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            dh("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            dh("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            dh("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            dh("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            dh("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            dh("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]
SOME_HASH = dh("abacaba000000000000000000000000000000000000000000060061e00123456")


def rejects(check: Callable[[], None]) -> bool:
    try:
        check()
    except ProofInvalid:
        return True
    return False


def flipped(proof: list[bytes], i: int, byte: int = 0, bit: int = 3) -> list[bytes]:
    out = list(proof)
    out[i] = out[i][:byte] + bytes([out[i][byte] ^ (1 << bit)]) + out[i][byte + 1 :]
    return out


class TestRFC6962Hashing:
    def test_the_empty_root_leaf_and_node_hashes_are_the_published_ones(self) -> None:
        empty = dh("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        assert root_from_leaves([]) == empty
        assert leaf_hash(b"") == dh(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        )
        assert leaf_hash(b"L123456") == dh(
            "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
        )
        assert node_hash(b"N123", b"N456") == dh(
            "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
        )

    def test_a_node_is_not_the_leaf_of_its_childrens_concatenation(self) -> None:
        a, b = leaf_hash(b"Hello"), leaf_hash(b"World")
        assert node_hash(a, b) != leaf_hash(a + b)
        assert node_hash(a, b) != node_hash(b, a)


class TestPublishedVectors:
    @pytest.mark.parametrize("size", range(1, 9))
    def test_the_root_of_each_size_is_the_published_one(self, size: int) -> None:
        assert root_from_leaves(LEAVES[:size]) == ROOTS[size - 1]

    def test_the_empty_tree_has_the_empty_root(self) -> None:
        assert root_from_leaves([]) == EMPTY_ROOT

    @pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
    def test_inclusion_proofs_are_the_published_ones_and_verify(
        self, leaf: int, size: int, proof: list[bytes]
    ) -> None:
        assert inclusion_proof(LEAVES, leaf - 1, size) == proof
        verify_inclusion(LEAVES[leaf - 1], leaf - 1, size, proof, ROOTS[size - 1])

    @pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY)
    def test_consistency_proofs_are_the_published_ones_and_verify(
        self, size1: int, size2: int, proof: list[bytes]
    ) -> None:
        assert consistency_proof(LEAVES, size1, size2) == proof
        verify_consistency(size1, size2, ROOTS[size1 - 1], ROOTS[size2 - 1], proof)

    @pytest.mark.parametrize(("leaf", "size", "proof"), [v for v in INCLUSION if v[2]])
    def test_every_corruption_of_a_published_inclusion_proof_is_rejected(
        self, leaf: int, size: int, proof: list[bytes]
    ) -> None:
        i, root, lh = leaf - 1, ROOTS[size - 1], LEAVES[leaf - 1]
        probes: dict[str, Callable[[], None]] = {
            "index - 1": lambda: verify_inclusion(lh, i - 1, size, proof, root),
            "index + 1": lambda: verify_inclusion(lh, i + 1, size, proof, root),
            "index ^ 2": lambda: verify_inclusion(lh, i ^ 2, size, proof, root),
            "size * 2": lambda: verify_inclusion(lh, i, size * 2, proof, root),
            "size / 2": lambda: verify_inclusion(lh, i, size // 2, proof, root),
            "wrong leaf": lambda: verify_inclusion(b"WrongLeaf", i, size, proof, root),
            "empty root": lambda: verify_inclusion(lh, i, size, proof, EMPTY_ROOT),
            "random root": lambda: verify_inclusion(lh, i, size, proof, SOME_HASH),
            "trailing garbage": lambda: verify_inclusion(lh, i, size, [*proof, b""], root),
            "trailing root": lambda: verify_inclusion(lh, i, size, [*proof, root], root),
            "preceding garbage": lambda: verify_inclusion(lh, i, size, [b"", *proof], root),
            "preceding root": lambda: verify_inclusion(lh, i, size, [root, *proof], root),
            "removed component": lambda: verify_inclusion(lh, i, size, proof[:-1], root),
            "inserted component": lambda: verify_inclusion(
                lh, i, size, [proof[0], SOME_HASH, *proof[1:]], root
            ),
        }
        for k in range(len(proof)):
            probes[f"proof[{k}] bit 3"] = lambda k=k: verify_inclusion(  # type: ignore[misc]
                lh, i, size, flipped(proof, k), root
            )
        accepted = [name for name, probe in probes.items() if not rejects(probe)]
        assert accepted == []

    @pytest.mark.parametrize(("size1", "size2", "proof"), [v for v in CONSISTENCY if v[2]])
    def test_every_corruption_of_a_published_consistency_proof_is_rejected(
        self, size1: int, size2: int, proof: list[bytes]
    ) -> None:
        r1, r2 = ROOTS[size1 - 1], ROOTS[size2 - 1]

        def probe(s1: int, s2: int, a: bytes, b: bytes, p: list[bytes]) -> Callable[[], None]:
            return lambda: verify_consistency(s1, s2, a, b, p)

        probes = {
            "size1 - 1": probe(size1 - 1, size2, r1, r2, proof),
            "size1 + 1": probe(size1 + 1, size2, r1, r2, proof),
            "size1 ^ 2": probe(size1 ^ 2, size2, r1, r2, proof),
            "size2 * 2": probe(size1, size2 * 2, r1, r2, proof),
            "size2 / 2": probe(size1, size2 // 2, r1, r2, proof),
            "wrong root1": probe(size1, size2, b"WrongRoot", r2, proof),
            "wrong root2": probe(size1, size2, r1, b"WrongRoot", proof),
            "swapped roots": probe(size1, size2, r2, r1, proof),
            "empty proof": probe(size1, size2, r1, r2, []),
            "trailing garbage": probe(size1, size2, r1, r2, [*proof, b""]),
            "trailing root1": probe(size1, size2, r1, r2, [*proof, r1]),
            "trailing root2": probe(size1, size2, r1, r2, [*proof, r2]),
            "preceding garbage": probe(size1, size2, r1, r2, [b"", *proof]),
            "preceding root1": probe(size1, size2, r1, r2, [r1, *proof]),
            "preceding root2": probe(size1, size2, r1, r2, [r2, *proof]),
            "preceding proof[0]": probe(size1, size2, r1, r2, [proof[0], *proof]),
            "truncated proof": probe(size1, size2, r1, r2, proof[:-1]),
        }
        for k in range(len(proof)):
            probes[f"proof[{k}] bit 4"] = probe(size1, size2, r1, r2, flipped(proof, k, bit=4))
        accepted = [name for name, p in probes.items() if not rejects(p)]
        assert accepted == []


class TestConsistencyEdges:
    """transparency-dev's ``TestVerifyConsistency`` table, with the empty tree's root required
    wherever a size is 0 (a checkpoint of size 0 carries that root)."""

    @pytest.mark.parametrize(
        ("size1", "size2", "root1", "root2"),
        [(0, 0, EMPTY_ROOT, EMPTY_ROOT), (0, 1, EMPTY_ROOT, ROOTS[0]), (1, 1, ROOTS[0], ROOTS[0])],
    )
    def test_sizes_that_are_always_consistent_need_an_empty_proof(
        self, size1: int, size2: int, root1: bytes, root2: bytes
    ) -> None:
        verify_consistency(size1, size2, root1, root2, [])
        with pytest.raises(ProofInvalid, match="too long"):
            verify_consistency(size1, size2, root1, root2, [EMPTY_ROOT])

    @pytest.mark.parametrize(
        ("size1", "size2", "root1", "root2", "rule"),
        [
            (1, 0, ROOTS[0], EMPTY_ROOT, "cannot shrink"),
            (2, 1, ROOTS[1], ROOTS[0], "cannot shrink"),
            (1, 2, ROOTS[0], ROOTS[1], "too short"),
            (0, 0, EMPTY_ROOT, ROOTS[0], "not the empty tree's"),
            (0, 3, ROOTS[0], ROOTS[2], "not the empty tree's"),
            (1, 1, ROOTS[0], ROOTS[1], "roots differ"),
            (-1, 1, ROOTS[0], ROOTS[1], "negative"),
        ],
    )
    def test_impossible_claims_are_rejected_with_the_rule_they_break(
        self, size1: int, size2: int, root1: bytes, root2: bytes, rule: str
    ) -> None:
        with pytest.raises(ProofInvalid, match=rule):
            verify_consistency(size1, size2, root1, root2, [])

    @pytest.mark.parametrize(("index", "size"), [(0, 0), (0, -1), (1, 0), (2, 1), (-1, 3)])
    def test_an_index_outside_the_tree_is_rejected(self, index: int, size: int) -> None:
        with pytest.raises(ProofInvalid, match="not below the tree size"):
            verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)

    def test_hashes_that_are_not_32_bytes_are_rejected(self) -> None:
        with pytest.raises(ProofInvalid, match="leaf hash: holds 9 bytes"):
            verify_inclusion(b"WrongLeaf", 0, 1, [], ROOTS[0])
        with pytest.raises(ProofInvalid, match="root: holds 0 bytes"):
            verify_inclusion(LEAVES[0], 0, 1, [], b"")
        with pytest.raises(ProofInvalid, match="element 0: holds 31 bytes"):
            verify_inclusion(LEAVES[0], 0, 2, [LEAVES[1][:31]], ROOTS[1])


# -- properties over random trees -----------------------------------------------------------


def distinct_leaves(n: int, salt: int = 0) -> list[bytes]:
    return [leaf_hash(f"{salt}:{i}".encode()) for i in range(n)]


class TestEveryProofVerifies:
    def test_every_inclusion_and_consistency_proof_of_trees_up_to_33_leaves_verifies(
        self,
    ) -> None:
        leaves = distinct_leaves(33)
        roots = [root_from_leaves(leaves[:n]) for n in range(34)]
        for size in range(1, 34):
            tree_proofs = [inclusion_proof(leaves, i, size) for i in range(size)]
            for i, proof in enumerate(tree_proofs):
                verify_inclusion(leaves[i], i, size, proof, roots[size])
            for size1 in range(size + 1):
                proof = consistency_proof(leaves, size1, size)
                verify_consistency(size1, size, roots[size1], roots[size], proof)

    @given(st.integers(1, 300), st.data())
    def test_an_inclusion_proof_verifies_for_any_leaf_of_any_size(
        self, n: int, data: st.DataObject
    ) -> None:
        leaves = distinct_leaves(n)
        size = data.draw(st.integers(1, n))
        index = data.draw(st.integers(0, size - 1))
        proof = inclusion_proof(leaves, index, size)
        verify_inclusion(leaves[index], index, size, proof, root_from_leaves(leaves[:size]))


Tamper = Callable[[list[bytes], random.Random], list[bytes]]


def _flip_any(proof: list[bytes], rng: random.Random) -> list[bytes]:
    return flipped(proof, rng.randrange(len(proof)), rng.randrange(32), rng.randrange(8))


def _drop_any(proof: list[bytes], rng: random.Random) -> list[bytes]:
    k = rng.randrange(len(proof))
    return proof[:k] + proof[k + 1 :]


def _add_any(proof: list[bytes], rng: random.Random) -> list[bytes]:
    k = rng.randrange(len(proof) + 1)
    return [*proof[:k], rng.randbytes(32), *proof[k:]]


def _swap_two(proof: list[bytes], rng: random.Random) -> list[bytes]:
    a, b = rng.sample(range(len(proof)), 2)
    out = list(proof)
    out[a], out[b] = out[b], out[a]
    return out


class TestEveryTamperedProofFails:
    @given(st.integers(2, 200), st.data(), st.randoms(use_true_random=False))
    def test_a_tampered_inclusion_proof_fails(
        self, n: int, data: st.DataObject, rng: random.Random
    ) -> None:
        leaves = distinct_leaves(n)
        size = data.draw(st.integers(2, n))
        index = data.draw(st.integers(0, size - 1))
        proof = inclusion_proof(leaves, index, size)
        root = root_from_leaves(leaves[:size])
        tampers: list[Tamper] = [_flip_any, _drop_any, _add_any]
        if len(proof) >= 2 and len(set(proof)) == len(proof):
            tampers.append(_swap_two)
        for tamper in tampers:
            bad = tamper(proof, rng)
            assert rejects(lambda b=bad: verify_inclusion(leaves[index], index, size, b, root))
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
        others = inclusion_proof(leaves, other, size)
        # the proof of another leaf; another leaf with this proof; this proof at another index
        assert rejects(lambda: verify_inclusion(leaves[index], index, size, others, root))
        assert rejects(lambda: verify_inclusion(leaves[other], index, size, proof, root))
        assert rejects(lambda: verify_inclusion(leaves[index], other, size, proof, root))
        # this proof against another size of the same log, with that size's root
        size2 = data.draw(st.integers(index + 1, n).filter(lambda s: s != size))
        root2 = root_from_leaves(leaves[:size2])
        assert rejects(lambda: verify_inclusion(leaves[index], index, size2, proof, root2))

    @given(st.integers(3, 200), st.data(), st.randoms(use_true_random=False))
    def test_a_tampered_consistency_proof_fails(
        self, n: int, data: st.DataObject, rng: random.Random
    ) -> None:
        leaves = distinct_leaves(n)
        size2 = data.draw(st.integers(2, n))
        size1 = data.draw(st.integers(1, size2 - 1))
        proof = consistency_proof(leaves, size1, size2)
        r1, r2 = root_from_leaves(leaves[:size1]), root_from_leaves(leaves[:size2])
        for tamper in (_flip_any, _drop_any, _add_any):
            bad = tamper(proof, rng)
            assert rejects(lambda b=bad: verify_consistency(size1, size2, r1, r2, b))
        other1 = data.draw(st.integers(1, size2).filter(lambda s: s != size1))
        r_other = root_from_leaves(leaves[:other1])
        assert rejects(lambda: verify_consistency(other1, size2, r_other, r2, proof))
        assert rejects(lambda: verify_consistency(size1, size2, r2, r1, proof))

    @given(st.integers(2, 120), st.data())
    def test_a_fork_after_a_shared_prefix_has_no_consistency_proof(
        self, n: int, data: st.DataObject
    ) -> None:
        """The split view: two trees that share a prefix and then differ."""
        ours = distinct_leaves(n)
        differs_at = data.draw(st.integers(0, n - 1))
        theirs = ours[:differs_at] + distinct_leaves(n - differs_at, salt=1)
        size1 = data.draw(st.integers(differs_at + 1, n))
        size2 = data.draw(st.integers(size1, n))
        ours_root1 = root_from_leaves(ours[:size1])
        their_root2 = root_from_leaves(theirs[:size2])
        their_proof = consistency_proof(theirs, size1, size2)
        our_proof = consistency_proof(ours, size1, size2)
        assert rejects(
            lambda: verify_consistency(size1, size2, ours_root1, their_root2, their_proof)
        )
        assert rejects(lambda: verify_consistency(size1, size2, ours_root1, their_root2, our_proof))


class TestFrontier:
    @given(st.integers(0, 600))
    def test_the_frontier_has_the_root_of_every_size_in_log_memory(self, n: int) -> None:
        leaves = distinct_leaves(n)
        frontier = Frontier()
        assert frontier.root() == EMPTY_ROOT
        for i, leaf in enumerate(leaves):
            frontier.append(leaf)
            assert frontier.size == i + 1
            assert len(frontier.hashes) == (i + 1).bit_count()
        assert frontier.root() == root_from_leaves(leaves)

    def test_a_leaf_hash_that_is_not_32_bytes_is_refused(self) -> None:
        frontier = Frontier()
        with pytest.raises(ProofInvalid, match="leaf 0: holds 3 bytes"):
            frontier.append(b"abc")
        assert frontier.size == 0
