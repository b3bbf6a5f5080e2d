"""Whether this process should be sent requests: what ``GET /ready`` answers.

Ready means the stream answers, the query views are caught up within ``max_lag`` events
(``LEDGER_READY_MAX_LAG``) of the stream's last sequence, and no worker of this process
stopped on an error. The views' positions are read from the view store (their tracking
rows), not from this process's memory, so a ``ledger serve --no-workers`` process behind a
balancer answers for the views that another process (``ledger serve`` or ``ledger views
follow``) keeps current in PostgreSQL: no per-process state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import msgspec

from ledger.errors import LedgerUnavailable
from projections.errors import ViewStoreError

__all__ = ["Readiness", "ReadyState"]


class ReadyState(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One readiness check: ``ready``, and the figures it was decided on.

    ``stream_position`` is the stream's last sequence (None when the stream did not
    answer); ``views_position`` the lowest position of the query views and ``positions``
    each one's; ``lag`` how many events the slowest view is behind; ``failed_workers``
    each worker that stopped on an error, with the error's type; ``reason`` says why it
    is not ready (empty when it is).
    """

    ready: bool
    reason: str = ""
    stream_position: int | None = None
    views_position: int | None = None
    lag: int | None = None
    max_lag: int
    positions: dict[str, int] = msgspec.field(default_factory=dict)
    failed_workers: dict[str, str] = msgspec.field(default_factory=dict)


class Readiness:
    """A readiness check, called by ``/ready`` on each request (from a worker thread).

    ``stream_position`` reads the stream's last sequence (raising
    :class:`LedgerUnavailable` when it does not answer); ``view_positions`` reads each
    query view's tracking position from the store; ``failed_workers`` names the workers
    that stopped on an error (none with ``--no-workers``).
    """

    def __init__(
        self,
        stream_position: Callable[[], int],
        view_positions: Callable[[], Mapping[str, int]],
        *,
        max_lag: int,
        failed_workers: Callable[[], Mapping[str, str]] = dict,
    ) -> None:
        self._stream_position = stream_position
        self._view_positions = view_positions
        self._failed_workers = failed_workers
        self.max_lag = max_lag

    def __call__(self) -> ReadyState:
        failed = dict(self._failed_workers())
        try:
            stream = self._stream_position()
        except LedgerUnavailable:
            return ReadyState(
                ready=False,
                reason="the stream does not answer",
                max_lag=self.max_lag,
                failed_workers=failed,
            )
        try:
            positions = dict(self._view_positions())
        except ViewStoreError:
            return ReadyState(
                ready=False,
                reason="the view store does not answer",
                stream_position=stream,
                max_lag=self.max_lag,
                failed_workers=failed,
            )
        lowest = min(positions.values(), default=stream)
        lag = max(stream - lowest, 0)
        reasons = [f"worker {name} stopped ({error})" for name, error in sorted(failed.items())]
        if lag > self.max_lag:
            reasons.append(
                f"the views are {lag} events behind the stream, more than {self.max_lag}"
                " (LEDGER_READY_MAX_LAG)"
            )
        return ReadyState(
            ready=not reasons,
            reason="; ".join(reasons),
            stream_position=stream,
            views_position=lowest,
            lag=lag,
            max_lag=self.max_lag,
            positions=positions,
            failed_workers=failed,
        )
