"""Views rebuilt from the ledger stream (opt-out register, timeliness, challenge history,
case chronology, recommendations, key moments). Empty until the projections issue lands.

Depends on :mod:`schemas` and :mod:`ledger`; nothing below imports it.
"""
