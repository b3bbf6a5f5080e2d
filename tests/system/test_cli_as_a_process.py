"""The ``ledger`` command as its own process: Ctrl-C as a person presses it (one line, exit
130), and an error that escapes every command printed literally (exit 1)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

LEDGER = str(Path(sys.executable).with_name("ledger"))


class TestInterrupt:
    def test_ctrl_c_while_waiting_for_a_service_prints_one_line_and_exits_130(
        self, tmp_path: Path
    ) -> None:
        # A service that takes the connection and never answers: the command is waiting
        # for it once the connection is accepted, which is when Ctrl-C comes.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            silent.settimeout(60)
            port = silent.getsockname()[1]
            env = {
                **os.environ,
                "LEDGER_DATA_DIR": str(tmp_path),
                "LEDGER_URL": f"http://127.0.0.1:{port}",
                "LEDGER_TOKEN": "ldg_x",
            }
            command = subprocess.Popen(
                [LEDGER, "chronology", "c1", "--partnership", "p", "--format", "json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            try:
                connection, _ = silent.accept()
                with connection:
                    command.send_signal(signal.SIGINT)
                    out, err = command.communicate(timeout=60)
            finally:
                if command.poll() is None:
                    command.kill()
                    command.communicate()
        assert command.returncode == 130
        assert err == "interrupted\n"
        assert out == ""


class TestUncaughtLedgerErrors:
    def test_an_error_no_command_caught_is_printed_literally_and_exits_1(
        self, tmp_path: Path
    ) -> None:
        env = {**os.environ, "LEDGER_DATA_DIR": str(tmp_path)}
        done = subprocess.run(
            [LEDGER, "views", "rebuild", "--view", "[bold]gossip[/bold]"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
        )
        assert done.returncode == 1
        assert "view '[bold]gossip[/bold]' does not exist" in done.stderr
        assert "Traceback" not in done.stderr
