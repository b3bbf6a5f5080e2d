"""The views' and delivery workers of ``ledger serve`` in a process of their own.

``ledger serve`` answers HTTP and runs its workers (:mod:`runtime.workers`). In one
process they share one GIL: measured under 16 concurrent writers, the views worker
(applying each new event) and delivery (publishing it to the agencies) held about a
third of the service's GIL time, time the requests waited for. So ``ledger serve``
starts them in a child process (``multiprocessing``'s spawn: a fresh interpreter), which
opens the same service its own way: the same stream (the data dir's embedded server,
found and logged in to as any second ledger process does, or ``NATS_URL``) and the same
view store, which the HTTP process reads and ``/ready`` measures as before.

The parent is told of a worker that stopped on an error (its name and the error's type,
as :meth:`runtime.workers.Workers.failed` says it), and a child that exited on its own
makes every one of its workers failed (``WorkerProcessExited``): ``/ready`` answers 503
naming them, and commands are still recorded. The child ignores SIGINT (a Ctrl-C reaches
the whole process group: the parent decides), stops on SIGTERM or when the parent asks
(:meth:`WorkerProcess.stop`), and when the parent is gone (its pipe closes).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Final

import structlog

from runtime.settings import Settings

__all__ = ["EXITED", "WorkerProcess"]

log = structlog.get_logger()

#: The failure named for each worker of a child process that exited without being asked.
EXITED: Final = "WorkerProcessExited"
#: How long :meth:`WorkerProcess.start` waits for the child to open the service.
_START_S: Final = 120.0
_POLL_S: Final = 0.2
_STOP: Final = "stop"


class WorkerProcess:
    """Named workers (``views``, ``delivery``) of ``settings``' service in a child process."""

    def __init__(self, settings: Settings, names: Sequence[str]) -> None:
        self.names = tuple(names)
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_main, args=(settings, self.names, child), name="ledger-workers"
        )
        self._child_conn = child
        self._failed: dict[str, str] = {}
        self._stopping = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the child and wait until its workers run (or it fails to open the service)."""
        self._process.start()
        self._child_conn.close()  # the child's end: ours closes when the child exits
        if not self._conn.poll(_START_S):
            log.error("worker_process_start_timed_out", workers=list(self.names))
            return
        try:
            self._conn.recv()  # its first message, {}: the workers run
        except (EOFError, OSError):  # it ended without opening the service: failed() says so
            log.error("worker_process_failed_to_start", workers=list(self.names))
            return
        self._receive()
        log.info("worker_process_started", workers=list(self.names), pid=self._process.pid)

    def failed(self) -> dict[str, str]:
        """Each worker that stopped on an error, with the error's type (every one, as
        :data:`EXITED`, when the child is gone unasked)."""
        with self._lock:
            self._receive()
            if not self._stopping and not self._process.is_alive():
                for name in self.names:
                    self._failed.setdefault(name, EXITED)
            return dict(self._failed)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the child to stop its workers (each finishes its batch) and wait for it."""
        with self._lock:
            self._stopping = True
        if self._process.pid is None:
            return  # never started
        with contextlib.suppress(OSError, ValueError):  # it is gone already
            self._conn.send(_STOP)
        self._process.join(timeout + 5)
        if self._process.is_alive():
            log.warning("worker_process_stop_timed_out", timeout=timeout)
            self._process.terminate()
            self._process.join(5)
        self._conn.close()
        log.info("worker_process_stopped", exitcode=self._process.exitcode)

    def _receive(self) -> None:
        try:
            while self._conn.poll():
                message = self._conn.recv()
                if isinstance(message, dict):
                    self._failed.update(message)
        except (EOFError, OSError):
            pass  # the child is gone: failed() says so


def _main(settings: Settings, names: tuple[str, ...], conn: Connection) -> None:
    """The child: open the service, run the workers, stop when asked or orphaned."""
    from runtime.service import open_service
    from runtime.workers import Worker, Workers

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    with open_service(settings) as service:
        runners = {
            "views": lambda: service.views.runner(service.ledger),
            "delivery": service.delivery,
        }
        running = Workers([Worker(name, runners[name]()) for name in names])
        running.start()
        told: dict[str, str] = {}
        try:
            conn.send({})  # started (the parent may be gone already: stop then)
            while not stop.is_set():
                if conn.poll(_POLL_S):
                    conn.recv()  # the parent's stop
                    break
                failed = running.failed()
                if failed != told:
                    conn.send({k: v for k, v in failed.items() if told.get(k) != v})
                    told = failed
        except (EOFError, OSError):
            pass  # the parent is gone
        finally:
            running.stop()
