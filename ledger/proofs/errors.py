"""The proofs' errors, under the ledger's one root (:class:`~schemas.errors.LedgerError`).

Each message names what failed (the field, the sequence, the checkpoint) and the rule.
"""

from __future__ import annotations

from schemas.errors import LedgerError

__all__ = [
    "CheckpointInvalid",
    "CosignatureRefused",
    "KeyEventUnauthorised",
    "KeyFileInvalid",
    "LogCorrupt",
    "ProofError",
    "ProofInvalid",
    "ProofUnavailable",
    "SignatureInvalid",
    "SignatureRefused",
    "SplitView",
    "TreeBusy",
    "TreeError",
    "VerificationFailed",
]


class ProofError(LedgerError):
    """Base of every error about signatures, chains, checkpoints and proofs."""


class SignatureInvalid(ProofError, ValueError):
    """Raised when a signature, a key or a signature header is malformed or does not verify."""


class SignatureRefused(ProofError, PermissionError):
    """Raised when the ledger refuses a command for its signature (missing, forged, revoked)."""


class KeyEventUnauthorised(SignatureRefused):
    """Raised when an agency's key is registered or revoked without a signature by one of
    that agency's live keys, where it has one (rule ``key_events_signed_by_live_key``)."""

    rule = "key_events_signed_by_live_key"


class KeyFileInvalid(ProofError, ValueError):
    """Raised when a private key file is missing, readable by others, or not an Ed25519 key."""


class ProofInvalid(ProofError, ValueError):
    """Raised when an inclusion or consistency proof does not prove what it claims."""


class CheckpointInvalid(ProofError, ValueError):
    """Raised when a checkpoint or cosignature is malformed, unsigned or from another origin."""


class SplitView(CheckpointInvalid):
    """Raised when a witness is shown a checkpoint the log cannot prove follows the one it cosigned.

    A smaller tree, another root at the same size, or a consistency proof that fails: the
    log shows (or has shown) someone another history. ``evidence`` is the file the witness
    kept with both checkpoints and the proof.
    """

    def __init__(self, message: str, evidence: str | None = None) -> None:
        self.evidence = evidence
        super().__init__(message)


class TreeError(ProofError, ValueError):
    """Raised when a tree file is foreign, locked or read-only, or a leaf hash is not 32 bytes."""


class TreeBusy(TreeError):
    """Raised when the tree file is held by another writer (a running checkpointer)."""


class VerificationFailed(ProofError):
    """Raised when a verified range of the stream fails; names the first failing sequence.

    ``seq`` is that sequence (``None`` when the failure is not one message's, e.g. a
    checkpoint larger than the stream), ``reason`` the rule it broke.
    """

    def __init__(self, seq: int | None, reason: str) -> None:
        self.seq = seq
        self.reason = reason
        where = f"sequence {seq}" if seq is not None else "the stream"
        super().__init__(f"{where}: {reason}")


class LogCorrupt(ProofError):
    """Raised when the Merkle log disagrees with the stream or with itself: a sequence gap,
    a tree whose root differs from a checkpoint the log published, a checkpoint the log's key
    did not sign, or a second checkpointer publishing on the same log.

    ``seq`` is the stream sequence at fault and ``size`` the tree size, when one is.
    """

    def __init__(self, message: str, *, seq: int | None = None, size: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq
        self.size = size


class ProofUnavailable(ProofError, LookupError):
    """Raised when a checkpoint or proof is asked for a size or sequence that no checkpoint
    the log published covers."""


class CosignatureRefused(ProofError, ValueError):
    """Raised when a cosignature is malformed or does not verify with a key the agency has
    registered (``conflict`` is set when it is for a checkpoint the log never published)."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict
