"""A stored history that skips a version: named, logged loudly, never served.

The recorder refuses to write a gap (a save names the subject's last sequence and
its versions run on), so a gap on the stream means the stream was altered or
damaged (a message removed, a subject republished). Serving an aggregate rebuilt
from such a history would serve a different case than the one recorded, so loading
it raises :class:`~ledger.errors.HistoryGap`, which names the subject and the
missing version, and logs it at ``critical``: ids and versions only, never content.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog

from ledger._aggregate import Opened, Recorded
from ledger.errors import HistoryGap

__all__ = ["history_gap", "project_without_gaps"]

log = structlog.get_logger()


def history_gap(where: str, missing: int, found: int | None, **context: Any) -> HistoryGap:
    """The error for ``where`` (a subject or aggregate id) missing version ``missing``
    (``found`` is the version found in its place), logged at ``critical``."""
    log.critical(
        "ledger_history_gap", where=where, missing_version=missing, found_version=found, **context
    )
    if found is None:
        shown = ""
    elif missing == 1:
        shown = f" (it starts at version {found})"
    else:
        shown = f" (version {found} follows {missing - 1})"
    msg = (
        f"the stored history of {where!r} has no version {missing}{shown}: an aggregate's "
        "versions run on from 1 without a gap, so the stream was altered or damaged; "
        "the aggregate is not served"
    )
    return HistoryGap(msg, subject=where, missing_version=missing)


def project_without_gaps(aggregate: Any, events: Iterable[Any]) -> Any:
    """eventsourcing's ``project_aggregate``, refusing a history that skips a version.

    The library would raise its own ``OriginatorVersionError`` for a gap inside a
    history and a bare ``AssertionError`` for one that does not start with the
    aggregate's first event; the ledger raises :class:`~ledger.errors.HistoryGap`.
    """
    for event in events:
        if aggregate is None:
            if isinstance(event, Opened | Recorded) and event.originator_version != 1:
                raise history_gap(str(event.originator_id), 1, event.originator_version)
        elif event.originator_version != aggregate.version + 1:
            missing = aggregate.version + 1
            raise history_gap(str(aggregate.id), missing, event.originator_version)
        aggregate = event.mutate(aggregate)
    return aggregate
