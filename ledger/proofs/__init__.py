"""Proofs that hold without trusting the server: entries, hash chains, signatures, the Merkle log.

Pure code (no I/O, no network), so that ``python -m ledger.verify`` checks a bundle offline.
The byte-exact definitions are in docs/proofs.md.
"""

from __future__ import annotations

#: The modules are the face: :mod:`ledger.proofs.entry`, :mod:`ledger.proofs.errors`.
__all__: list[str] = []
