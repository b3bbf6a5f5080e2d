"""The interfaces: the ``ledger`` command today, the HTTP API and web pages later.

The top layer: it may import every package below it (schemas, ledger,
projections, consumers) and nothing imports it.
"""

#: Nothing imports the interfaces; the ``ledger`` command is reached by its entry point
#: (``interfaces.entry:main`` in pyproject.toml, which runs ``interfaces.cli:app``).
__all__: list[str] = []
