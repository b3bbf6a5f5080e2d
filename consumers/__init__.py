"""Agency subscriptions and projection workers on the ledger stream. Empty until the
consumers issue lands.

Depends on :mod:`schemas` and :mod:`ledger`; nothing below imports it.
"""
