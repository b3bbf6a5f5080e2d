"""The background work of ``ledger serve``: each runner on a thread of its own.

``ledger serve`` runs workers beside the HTTP API: ``views`` (the query views'
:class:`~projections.runner.ViewRunner`: catch up, then follow) and ``delivery`` (the
runner that fans case events out to the agencies' consumers) in a child process of their
own (:mod:`runtime.worker_process`), the checkpointer in the serving process. Each is a
:class:`Worker`; :class:`Workers` starts them together and stops them together.

A worker whose stream or view store does not answer (:class:`LedgerUnavailable`,
:class:`ViewStoreError`) logs ``worker_retrying`` and tries again after a pause that
doubles up to :data:`MAX_RETRY_S`: an outage passes by itself. Any other error (a view
that fails on an event, an event type this version does not know) would fail the same
way again, so the worker stops, logs ``worker_failed`` with the error's type (and, for a
:class:`ViewFailed`, the view, sequence and event type: never an event's content), and
:attr:`Worker.failure` names it. The process keeps serving: commands are still recorded
on the stream (the source of truth, which a fixed version's views catch up on), while
``/ready`` answers 503 naming the worker, so that a balancer stops sending reads here and
an operator is told. Exiting instead would stop the writes too, and a supervisor restarting
the process would meet the same event and fail again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Final, Protocol

import structlog

from ledger.errors import LedgerUnavailable
from projections.errors import ViewFailed, ViewStoreError

__all__ = ["MAX_RETRY_S", "Runner", "Worker", "Workers"]

log = structlog.get_logger()

#: The longest pause between two attempts of a worker whose stream or store is away.
MAX_RETRY_S: Final = 30.0
_FIRST_RETRY_S: Final = 0.5
#: How often :meth:`Worker.stop` repeats its request while the runner finishes its batch.
_STOP_POLL_S: Final = 0.1


class Runner(Protocol):
    """What a worker runs: a :class:`~projections.runner.ViewRunner`'s face."""

    def catch_up(self) -> object: ...
    def follow(self) -> None: ...
    def stop(self) -> None: ...


class Worker:
    """One runner on a daemon thread: catch up, then follow until :meth:`stop`."""

    def __init__(self, name: str, runner: Runner) -> None:
        self.name = name
        self.runner = runner
        #: The type of the error that stopped the worker, or None while it is well.
        self.failure: str | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"worker-{name}", daemon=True)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()
        log.info("worker_started", worker=self.name)

    def stop(self, timeout: float = 30.0) -> bool:
        """Ask the runner to stop after its current batch and wait up to ``timeout`` s.

        The request is repeated until the thread ends: a runner that was between its
        catch-up and its follow when first asked would otherwise not hear it. Returns
        False when the worker did not stop in time (it is a daemon thread: it does not
        hold the process).
        """
        self._stopping.set()
        if not self._thread.is_alive() and self._thread.ident is None:
            return True  # never started
        waited = 0.0
        while self._thread.is_alive() and waited < timeout:
            self.runner.stop()
            self._thread.join(_STOP_POLL_S)
            waited += _STOP_POLL_S
        if self._thread.is_alive():
            log.warning("worker_stop_timed_out", worker=self.name, timeout=timeout)
            return False
        log.info("worker_stopped", worker=self.name)
        return True

    def _run(self) -> None:
        delay = _FIRST_RETRY_S
        while not self._stopping.is_set():
            try:
                self.runner.catch_up()
                if not self._stopping.is_set():
                    self.runner.follow()
                return
            except (LedgerUnavailable, ViewStoreError) as error:
                log.warning(
                    "worker_retrying", worker=self.name, error=type(error).__name__, in_s=delay
                )
                self._stopping.wait(delay)
                delay = min(delay * 2, MAX_RETRY_S)
            except Exception as error:  # noqa: BLE001 - recorded, logged, shown by /ready
                self.failure = type(error).__name__
                where = (
                    {"view": error.view, "seq": error.seq, "event_type": error.event_type}
                    if isinstance(error, ViewFailed)
                    else {}
                )
                # The error's type and where, never its message or traceback (they may
                # quote an event's content).
                log.error("worker_failed", worker=self.name, error=self.failure, **where)
                return


class Workers:
    """The workers of one process, started and stopped together."""

    def __init__(self, workers: Sequence[Worker]) -> None:
        self.workers = tuple(workers)

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every worker (each finishes its batch), in the reverse order of starting."""
        for worker in reversed(self.workers):
            worker.stop(timeout)

    def failed(self) -> dict[str, str]:
        """Each worker that stopped on an error, with the error's type."""
        return {w.name: w.failure for w in self.workers if w.failure is not None}
