"""The composition root: settings, the embedded server, access control, logging, wiring.

:mod:`runtime.settings` reads the environment once into a frozen ``Settings``;
:func:`runtime.service.open_service` turns it into a running ledger, its views and
delivery (:func:`runtime.bootstrap.open_ledger` the ledger alone). The layers below
(:mod:`schemas`, :mod:`ledger`, :mod:`projections`, :mod:`consumers`) are given plain
values and never import this package; :mod:`interfaces` uses it.
"""
