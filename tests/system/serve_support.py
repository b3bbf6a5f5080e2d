"""Running ``ledger serve`` as a subprocess on a free port, as a person or a supervisor does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

LEDGER = str(Path(sys.executable).with_name("ledger"))
#: How long a serve may take to answer /health (a --demo load included).
START_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def ledger_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``ledger`` command on ``data_dir`` (JSON logs, on stderr)."""
    return {
        **os.environ,
        "LEDGER_DATA_DIR": str(data_dir),
        "LEDGER_LOG_JSON": "1",
        **extra,
    }


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class Served:
    """One ``ledger serve`` process and its base URL."""

    def __init__(
        self,
        env: dict[str, str],
        *args: str,
        port: int | None = None,
        own_group: bool = False,
        output: Path | None = None,
    ) -> None:
        """``own_group`` starts it as a terminal's foreground job would be: a process group
        of its own, which :meth:`interrupt` signals whole, as Ctrl-C does. With ``output``
        (a directory), its stdout and stderr go to files there instead of pipes: a serve
        that logs more than a pipe holds (64 KiB) before :meth:`stop` would block on it."""
        self.port = port or free_port()
        self.env = {**env, "LEDGER_HTTP_PORT": str(self.port)}
        self.url = f"http://127.0.0.1:{self.port}"
        self._files = None
        if output is not None:
            self._files = (
                (output / "serve.stdout").open("w+"),
                (output / "serve.stderr").open("w+"),
            )
        self.process = subprocess.Popen(
            [LEDGER, "serve", *args],
            stdout=subprocess.PIPE if self._files is None else self._files[0],
            stderr=subprocess.PIPE if self._files is None else self._files[1],
            text=True,
            env=self.env,
            process_group=0 if own_group else None,
        )
        self.stdout = ""
        self.stderr = ""

    def get(self, path: str) -> httpx.Response | None:
        try:
            return httpx.get(f"{self.url}{path}", timeout=5)
        except httpx.TransportError:
            return None

    def wait_live(self, timeout: float = START_S) -> None:
        """Until /health answers (the process exits early: its output in the failure)."""

        def live() -> bool:
            if self.process.poll() is not None:
                self.stop()
                raise AssertionError(f"ledger serve exited early:\n{self.stderr[-4000:]}")
            response = self.get("/health")
            return response is not None and response.status_code == 200

        wait_for(live, "ledger serve to answer /health", timeout)

    def wait_ready(self, timeout: float = START_S) -> dict[str, Any]:
        """Until /ready answers 200; its body."""
        self.wait_live(timeout)
        answers: list[httpx.Response] = []

        def ready() -> bool:
            response = self.get("/ready")
            if response is not None:
                answers.append(response)
            return response is not None and response.status_code == 200

        wait_for(ready, "ledger serve to be ready", timeout)
        body: dict[str, Any] = answers[-1].json()
        return body

    def post(self, tag: str, token: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{self.url}/commands/{tag}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the whole process group; the exit status."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.stop(0)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig``, wait for the exit, keep the output; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        if self._files is None:
            self.stdout, self.stderr = self.process.communicate(timeout=60)
            return self.process.returncode
        self.process.wait(timeout=60)
        for file in self._files:
            file.seek(0)
        self.stdout, self.stderr = (file.read() for file in self._files)
        for file in self._files:
            file.close()
        return self.process.returncode
