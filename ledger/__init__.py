"""The ledger: eventsourcing aggregates, the application service, and the NATS persistence.

Depends on :mod:`schemas` only; :mod:`projections`, :mod:`consumers` and the
interfaces depend on it, never the other way round.
"""
