"""Proofs that hold without trusting the server: entries, hash chains, signatures, the Merkle log.

No network, and no I/O but the checkpointer's tree file (:mod:`ledger.proofs.tree`), so that
``python -m ledger.verify`` checks a bundle offline. The byte-exact definitions are in
docs/proofs.md. Its face is its modules: :mod:`~ledger.proofs.entry` (what is hashed and
signed), :mod:`~ledger.proofs.merkle` (RFC 6962 hashing, proofs and their checks),
:mod:`~ledger.proofs.tree` (the persistent tree), :mod:`~ledger.proofs.note` (C2SP signed
notes, checkpoints, cosignatures), :mod:`~ledger.proofs.keys` (the agencies' key registry,
as every verifier folds it), :mod:`~ledger.proofs.ed25519` (the one Ed25519 rule, libsodium's)
and :mod:`~ledger.proofs.errors`.
"""

from ledger.proofs import ed25519, entry, errors, keys, merkle, note, tree

__all__ = ["ed25519", "entry", "errors", "keys", "merkle", "note", "tree"]
