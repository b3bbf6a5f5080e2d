"""The proofs' errors, under the ledger's one root (:class:`~schemas.errors.LedgerError`).

Each message names what failed (the field, the sequence, the checkpoint) and the rule.
"""

from __future__ import annotations

from schemas.errors import LedgerError

__all__ = [
    "CheckpointInvalid",
    "KeyFileInvalid",
    "ProofError",
    "ProofInvalid",
    "SignatureInvalid",
    "SignatureRefused",
    "VerificationFailed",
]


class ProofError(LedgerError):
    """Base of every error about signatures, chains, checkpoints and proofs."""


class SignatureInvalid(ProofError, ValueError):
    """Raised when a signature, a key or a signature header is malformed or does not verify."""


class SignatureRefused(ProofError, PermissionError):
    """Raised when the ledger refuses a command for its signature (missing, forged, revoked)."""


class KeyFileInvalid(ProofError, ValueError):
    """Raised when a private key file is missing, readable by others, or not an Ed25519 key."""


class ProofInvalid(ProofError, ValueError):
    """Raised when an inclusion or consistency proof does not prove what it claims."""


class CheckpointInvalid(ProofError, ValueError):
    """Raised when a checkpoint or cosignature is malformed, unsigned or from another origin."""


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
