"""The composition root: settings, the embedded server, access control, logging, wiring.

:mod:`runtime.settings` reads the environment once into a frozen ``Settings``;
:func:`runtime.service.open_service` turns it into a running ledger, its views and
delivery (:func:`runtime.bootstrap.open_ledger` the ledger alone). The layers below
(:mod:`schemas`, :mod:`ledger`, :mod:`projections`, :mod:`consumers`) are given plain
values and never import this package; :mod:`interfaces` uses it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.bootstrap import Running, open_ledger
    from runtime.embedded import EmbeddedNats
    from runtime.logging import configure_logging
    from runtime.service import Service, open_service
    from runtime.settings import Settings

__all__ = [
    "EmbeddedNats",
    "Running",
    "Service",
    "Settings",
    "configure_logging",
    "open_ledger",
    "open_service",
]

#: Where each name of the face lives. Loaded on first use, so that ``runtime.settings``
#: (read by every CLI command) does not pull in the views and delivery.
_HOMES = {
    "EmbeddedNats": "runtime.embedded",
    "Running": "runtime.bootstrap",
    "Service": "runtime.service",
    "Settings": "runtime.settings",
    "configure_logging": "runtime.logging",
    "open_ledger": "runtime.bootstrap",
    "open_service": "runtime.service",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
