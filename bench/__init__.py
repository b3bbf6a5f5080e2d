"""Benchmarks of the ledger's write path: ``make bench`` (``python -m bench``)."""
