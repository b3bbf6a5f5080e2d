"""An alias of :mod:`ledger.nats`, kept because ``PERSISTENCE_MODULE=ledger.persistence``
is the name issue 8 and the operations guide give; new settings name ``ledger.nats``.

eventsourcing finds the persistence module's factory by scanning the module for it,
so re-exporting :class:`~ledger.nats.Factory` is all an alias needs.
"""

from __future__ import annotations

from ledger.nats import Factory

__all__ = ["Factory"]
