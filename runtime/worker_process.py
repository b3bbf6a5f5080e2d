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
naming them (``WorkerProcessStarting`` while a new child opens the service), and commands
are still recorded. The parent then starts a new child (the
views resume from their tracking positions, delivery from its durable consumer): after
1 s, then twice as long after each restart up to 60 s, back to 1 s once a child has run
60 s without failing; a child with a failed worker is asked to stop first, and one that
has not started its workers 120 s after it was started is stopped and replaced too. ``/ready``
stays 503 until the new child's workers run. The child ignores SIGINT (a Ctrl-C reaches
the whole process group: the parent decides), stops on SIGTERM or when the parent asks
(:meth:`WorkerProcess.stop`), and when the parent is gone (its pipe closes).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Final

import structlog

from runtime.settings import Settings

__all__ = ["EXITED", "STARTING", "WorkerProcess"]

log = structlog.get_logger()

#: The failure named for each worker of a child process that exited without being asked.
EXITED: Final = "WorkerProcessExited"
#: The state named for each worker of a child that has not started its workers yet.
STARTING: Final = "WorkerProcessStarting"
#: How long a child is given to open the service and start its workers.
_START_S: Final = 120.0
_POLL_S: Final = 0.2
_STOP: Final = "stop"
#: Seconds before the first restart of a failed child, doubled each time up to the last;
#: a child that has run ``_HEALTHY_S`` without failing resets it.
_RESTART_FIRST_S: Final = 1.0
_RESTART_MAX_S: Final = 60.0
_HEALTHY_S: Final = 60.0


class _Child:
    """One child process and its pipe."""

    def __init__(self, settings: Settings, names: tuple[str, ...]) -> None:
        self.names = names
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(
            target=_main, args=(settings, names, child), name="ledger-workers"
        )
        self._child_conn = child
        self.failed: dict[str, str] = {}
        self.started_at = 0.0
        #: Its workers run (its first message came).
        self.running = False
        self._lock = threading.Lock()

    def start(self, stopping: threading.Event) -> None:
        """Start it and wait until its workers run, it fails to open the service, ``_START_S``
        pass, or ``stopping`` is set. Its pipe is read by :meth:`receive` alone, under a lock:
        ``/ready`` may ask while it starts."""
        self.started_at = time.monotonic()
        self.process.start()
        self._child_conn.close()  # the child's end: ours closes when the child exits
        deadline = self.started_at + _START_S
        while not (self.running or self.exited() or stopping.is_set()):
            if time.monotonic() >= deadline:
                log.error("worker_process_start_timed_out", workers=list(self.names))
                return
            stopping.wait(_POLL_S)
            self.receive()
        if self.running:
            log.info("worker_process_started", workers=list(self.names), pid=self.process.pid)
        elif self.exited():  # it ended without opening the service: failed() says so
            log.error("worker_process_failed_to_start", workers=list(self.names))

    def receive(self) -> None:
        """Take what the child said: its first message (``{}``) says its workers run, each
        later one names workers that failed."""
        with self._lock:
            try:
                while self._conn.poll():
                    message = self._conn.recv()
                    self.running = True
                    if isinstance(message, dict):
                        self.failed.update(message)
            except (EOFError, OSError):
                pass  # the child is gone (or its pipe closed by stop): failed() says so

    def hung(self) -> bool:
        """Started ``_START_S`` ago and its workers do not run, though it is alive."""
        return (
            not self.running
            and self.started_at > 0
            and time.monotonic() - self.started_at > _START_S
            and not self.exited()
        )

    def exited(self) -> bool:
        return self.process.pid is not None and not self.process.is_alive()

    def stop(self, timeout: float) -> None:
        if self.process.pid is None:
            return  # never started
        with contextlib.suppress(OSError, ValueError):  # it is gone already
            self._conn.send(_STOP)
        self.process.join(timeout + 5)
        if self.process.is_alive():
            log.warning("worker_process_stop_timed_out", timeout=timeout)
            self.process.terminate()
            self.process.join(5)
        with self._lock:
            self._conn.close()
        log.info("worker_process_stopped", exitcode=self.process.exitcode)


class WorkerProcess:
    """Named workers (``views``, ``delivery``) of ``settings``' service in a child process,
    started again when it fails (see the module's doc)."""

    def __init__(self, settings: Settings, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self._settings = settings
        self._child = _Child(settings, self.names)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor = threading.Thread(
            target=self._supervise, name="ledger-worker-supervisor", daemon=True
        )

    def start(self) -> None:
        """Start the child, wait until its workers run (or it fails to open the service),
        then watch it."""
        self._child.start(self._stopping)
        self._supervisor.start()

    def failed(self) -> dict[str, str]:
        """Each worker that stopped on an error, with the error's type (every one, as
        :data:`EXITED`, when the child is gone unasked, and as :data:`STARTING` while a
        child opens the service)."""
        with self._lock:
            return self._failed(self._child)

    def _failed(self, child: _Child) -> dict[str, str]:
        child.receive()
        failed = dict(child.failed)
        if self._stopping.is_set():
            return failed
        state = EXITED if child.exited() else None if child.running else STARTING
        if state is not None:
            for name in self.names:
                failed.setdefault(name, state)
        return failed

    def _supervise(self) -> None:
        delay = _RESTART_FIRST_S
        while not self._stopping.wait(_POLL_S):
            with self._lock:
                child = self._child
                failed = self._failed(child)
            if not (child.exited() or child.failed or child.hung()):  # running, or starting
                if child.running and time.monotonic() - child.started_at >= _HEALTHY_S:
                    delay = _RESTART_FIRST_S
                continue
            log.warning(
                "worker_process_restarting",
                failed_workers=failed,
                exitcode=child.process.exitcode,
                in_s=delay,
            )
            if self._stopping.wait(delay):
                return
            child.stop(timeout=30.0)
            new = _Child(self._settings, self.names)
            with self._lock:
                if self._stopping.is_set():
                    return
                self._child = new  # STARTING until it says its workers run
            new.start(self._stopping)
            delay = min(delay * 2, _RESTART_MAX_S)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the child to stop its workers (each finishes its batch) and wait for it."""
        self._stopping.set()
        if self._supervisor.is_alive():  # a child it is starting stops waiting at once
            self._supervisor.join(timeout + 10)
        with self._lock:
            child = self._child
        child.stop(timeout)


def _main(settings: Settings, names: tuple[str, ...], conn: Connection) -> None:
    """The child: open the service, run the workers, stop when asked or orphaned."""
    from runtime.logging import configure_logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    configure_logging(json=settings.log_json, level=settings.log_level)
    try:
        _run(settings, names, conn, stop)
    except Exception as error:  # noqa: BLE001 - said as a log line; the parent replaces it
        # Its type and words (the ledger's own messages name fields and rules, never
        # personal data), not a traceback on the service's stderr; exit 1: the parent's
        # supervisor sees it gone and starts another.
        log.error("worker_process_failed", error=type(error).__name__, detail=str(error)[:300])
        raise SystemExit(1) from None


def _run(
    settings: Settings, names: tuple[str, ...], conn: Connection, stop: threading.Event
) -> None:
    """Open the service and run its workers until ``stop``, the parent's word, or its end."""
    from runtime.service import open_service
    from runtime.workers import Worker, Workers

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
