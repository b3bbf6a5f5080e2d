"""Finding the ``ledger serve`` that runs on a data dir: ``<data dir>/service.json``.

While ``ledger serve`` runs it holds an exclusive ``flock`` on ``<data dir>/service.lock``
(for exactly as long as the process lives: the kernel releases it when the process ends,
however it ends) and keeps ``<data dir>/service.json`` (mode 0600): the service's base URL,
its pid, when it started and whether it runs the workers. A clean exit removes the file.

A file is **stale** when nobody holds the lock (the process is gone: killed, or crashed),
when its pid is not alive, or when its URL's ``/health`` does not answer 200: then
:func:`find_service` answers None, and a new ``ledger serve`` replaces the file.

For another ``ledger`` command (the command line's queries)::

    from runtime.discovery import find_service
    url = find_service(Settings.from_env())  # "http://127.0.0.1:8080", or None
    if url is None:
        ...  # no live service on this data dir: start the embedded one, or say so

A second ``ledger serve`` on the same data dir is refused by :meth:`ServiceClaim.acquire`
with :class:`ServiceRunning`, whose message names the running one's URL and pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import msgspec

from ledger.private_files import write_private
from runtime.access import private_data_dir
from runtime.settings import Settings
from schemas.errors import LedgerError

__all__ = [
    "SERVICE_FILE",
    "ServiceClaim",
    "ServiceInfo",
    "ServiceRunning",
    "find_service",
    "read_service",
    "service_url",
]

#: The file a running service keeps in its data dir.
SERVICE_FILE: Final = "service.json"
_LOCK_FILE: Final = "service.lock"
#: How long a starting service retries the lock that another process's check holds briefly.
_ACQUIRE_S: Final = 1.0
#: Straight to the service: an HTTP_PROXY in the environment is not for loopback.
_DIRECT: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServiceInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What ``service.json`` holds: where the service listens and which process it is."""

    url: str
    pid: int
    started_at: datetime
    workers: bool


class ServiceRunning(LedgerError, RuntimeError):
    """Raised when ``ledger serve`` is started on a data dir whose service runs already."""

    def __init__(self, message: str, *, url: str | None, pid: int | None) -> None:
        super().__init__(message)
        self.url = url
        self.pid = pid


_decoder: Final = msgspec.json.Decoder(ServiceInfo)
_encoder: Final = msgspec.json.Encoder()


def service_url(host: str, port: int) -> str:
    """The base URL a client uses for a service listening on ``host``:``port``
    (the loopback address for a wildcard host)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def read_service(data_dir: Path) -> ServiceInfo | None:
    """``service.json`` when the process that wrote it still holds the data dir's service
    lock and is alive, else None (no file, unreadable, or stale). Does not ask ``/health``."""
    data_dir = Path(data_dir)
    if not _held(data_dir / _LOCK_FILE):
        return None
    try:
        info = _decoder.decode((data_dir / SERVICE_FILE).read_bytes())
    except (OSError, msgspec.DecodeError):
        return None  # not written yet, or being replaced
    return info if _alive(info.pid) else None


def find_service(settings: Settings, *, timeout: float = 2.0) -> str | None:
    """The base URL (``http://127.0.0.1:8080``) of the live ``ledger serve`` on
    ``settings.data_dir``, or None when none runs there.

    Live means: ``service.json`` is there, its process holds the service lock and is
    alive, and ``GET <url>/health`` answers 200 within ``timeout`` seconds. A service
    that is still starting (loading ``--demo`` data, catching up) is not live yet.
    """
    info = read_service(settings.data_dir)
    if info is None or not _healthy(info.url, timeout):
        return None
    return info.url


class ServiceClaim:
    """A serving process's claim on its data dir: the lock, then ``service.json``.

    ``acquire()`` takes the lock or raises :class:`ServiceRunning`; ``publish()`` writes
    the file; ``release()`` (or leaving the ``with`` block) removes the file and unlocks.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self.data_dir / SERVICE_FILE

    def acquire(self) -> None:
        """Take the data dir's service lock; :class:`ServiceRunning` when a service holds it."""
        private_data_dir(self.data_dir)
        fd = os.open(self.data_dir / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + _ACQUIRE_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:  # perhaps another process's brief check
                    time.sleep(0.05)
                    continue
                os.close(fd)
                raise self._running() from None
        self._fd = fd
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # stale: its process is gone (it held the lock otherwise)

    def publish(self, url: str, *, workers: bool) -> ServiceInfo:
        """Write ``service.json`` (mode 0600) for this process, listening at ``url``."""
        info = ServiceInfo(url=url, pid=os.getpid(), started_at=datetime.now(UTC), workers=workers)
        write_private(self.path, _encoder.encode(info))
        return info

    def release(self) -> None:
        """Remove ``service.json`` and unlock (does nothing when not acquired)."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _running(self) -> ServiceRunning:
        try:
            info: ServiceInfo | None = _decoder.decode(self.path.read_bytes())
        except (OSError, msgspec.DecodeError):
            info = None
        if info is None:
            return ServiceRunning(
                f"a ledger service is starting on data dir {self.data_dir};"
                " rule: one ledger serve per data dir (use it, or stop it first)",
                url=None,
                pid=None,
            )
        state = "running" if _healthy(info.url, 2.0) else "starting"
        return ServiceRunning(
            f"a ledger service is {state} on data dir {self.data_dir} at {info.url}"
            f" (pid {info.pid}); rule: one ledger serve per data dir (use it, or stop it"
            " first)",
            url=info.url,
            pid=info.pid,
        )


def _held(lock: Path) -> bool:
    """True when some process holds ``lock`` exclusively (a shared lock cannot be taken)."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the shared lock, if it was taken
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def _healthy(url: str, timeout: float) -> bool:
    """True when ``GET <url>/health`` answers 200 within ``timeout`` seconds."""
    try:
        with _DIRECT.open(f"{url}/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False
