"""Views rebuilt from the ledger stream: who opted out, who was late, who was challenged and
what came of it, what happened to this child and when.

Each view is an eventsourcing projection over the ledger's notification log (the
stream), kept in SQLite (default) or PostgreSQL by the same code, with its
tracking position committed in the same transaction as its rows:

========================  ===================================================
``optouts``               refusals, non-attendance, unanswered requests, rejected
                          recommendations; counts per quarter; repeat patterns
``timeliness``            statutory clocks from ``rules.toml`` (and a partnership's
                          own file): on time, late by how much, open, overdue
``challenges``            raised and received per agency, stages and response times
``chronology``            every event of a case in ``occurred_at`` order, as of any instant
``recommendations``       per review: owner, due date, RAG status; recurring themes
``key_moments``           concern to first protective action; seen alone before decisions
``directory``             partnerships, agencies, cases, their state and parties (now and past)
========================  ===================================================

Start with :class:`~projections.catalogue.Views` (the query API) and
:class:`~projections.runner.ViewRunner` (rebuild, catch up, follow);
:class:`~projections.as_of.PastViews` answers every view as of a past instant. Other packages
(delivery's membership view, the composition root, the bench) build on :class:`View`,
:class:`Envelope`, :class:`ViewStore` and :class:`Tx` from here: the ``_store`` and
``_view`` modules are private to this package.

Depends on :mod:`schemas` and :mod:`ledger`; nothing below imports it.
"""

from projections._store import TrackingConflict, Tx, ViewStore, from_micros, to_micros
from projections._view import Envelope, View
from projections.catalogue import VIEW_NAMES, Views, open_store
from projections.runner import RunStats, ViewRunner

__all__ = [
    "VIEW_NAMES",
    "Envelope",
    "RunStats",
    "TrackingConflict",
    "Tx",
    "View",
    "ViewRunner",
    "ViewStore",
    "Views",
    "from_micros",
    "open_store",
    "to_micros",
]
