"""Proofs that hold without trusting the server: entries, hash chains, signatures, the Merkle log.

Pure code (no I/O, no network), so that ``python -m ledger.verify`` checks a bundle offline.
The byte-exact definitions are in docs/proofs.md.
"""
