"""The interfaces: the ``ledger`` command today, the HTTP API and web pages later.

The top layer: it may import every package below it (schemas, ledger,
projections, consumers) and nothing imports it.
"""
