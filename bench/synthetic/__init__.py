"""``python -m bench.synthetic``: the generator now lives in :mod:`runtime.synthetic`.

It moved into an installed package so that ``ledger serve --demo`` can load a synthetic
partnership; this name keeps the command the docs and benchmarks use working.
"""

from runtime.synthetic import main

__all__ = ["main"]
