"""The Merkle log's proofs as the API and the CLI answer them (docs/proofs.md).

Hashes are bytes, which msgspec writes as standard base64 with padding, as the checkpoint
notes do. A proof is checked against a signed checkpoint of the same ``size``:
:func:`ledger.proofs.merkle.verify_inclusion` and :func:`~ledger.proofs.merkle.verify_consistency`.
"""

from __future__ import annotations

import msgspec

__all__ = ["ConsistencyProof", "CosignatureAccepted", "InclusionProof"]


class InclusionProof(msgspec.Struct, frozen=True, kw_only=True):
    """That the message at stream sequence ``seq`` is leaf ``index`` (``seq - 1``) of the tree
    of ``size`` leaves: its ``leaf_hash`` and the RFC 9162 audit path ``proof``."""

    seq: int
    index: int
    size: int
    leaf_hash: bytes
    proof: list[bytes]


class ConsistencyProof(msgspec.Struct, frozen=True, kw_only=True, rename={"first": "from"}):
    """That the tree of ``from`` leaves is a prefix of the tree of ``to`` leaves (RFC 9162)."""

    first: int
    to: int
    proof: list[bytes]


class CosignatureAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """A cosignature stored on the log stream: whose, for which tree size, at which sequence."""

    agency: str
    size: int
    sequence: int
