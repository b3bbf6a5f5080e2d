"""``ledger serve`` and ``ledger token`` as a person runs them: issue, post, revoke, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

LEDGER = str(Path(sys.executable).with_name("ledger"))
STAGES = [{"stage": 1, "title": "Practitioners", "response_working_days": 5}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ledger(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEDGER, *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


class TestServe:
    def test_a_token_issued_beside_the_running_service_posts_until_revoked_and_sigterm_stops_it(
        self, tmp_path: Path
    ) -> None:
        port = _free_port()
        env = {
            **os.environ,
            "LEDGER_DATA_DIR": str(tmp_path / "data"),
            "LEDGER_HTTP_PORT": str(port),
            "LEDGER_LOG_JSON": "1",
        }
        server = subprocess.Popen(
            [LEDGER, "serve"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, server.communicate()
                assert time.monotonic() < deadline, "ledger serve did not become ready"
                time.sleep(0.2)
            issued = _ledger(
                "token", "issue", "--role", "admin", "--partnership", "northshire",
                "--agency", "la", "--actor", "act_admin-01", env=env,
            )  # fmt: skip
            assert issued.returncode == 0, issued.stderr
            token = issued.stdout.strip()
            assert token.startswith("ldg_")
            headers = {"Authorization": f"Bearer {token}"}
            body = {
                "partnership": "northshire",
                "name": "Northshire",
                "nation": "england",
                "escalation_stages": STAGES,
            }
            posted = httpx.post(
                f"{url}/commands/EstablishPartnership", json=body, headers=headers, timeout=10
            )
            assert posted.status_code == 201, posted.text
            assert posted.json()["sequence"] >= 1

            listed = _ledger("token", "list", env={**env, "COLUMNS": "200"})
            token_id = token.split("_")[1]
            assert token_id in listed.stdout
            assert token not in listed.stdout
            assert _ledger("token", "revoke", token_id, env=env).returncode == 0
            again = httpx.post(
                f"{url}/commands/EstablishPartnership", json=body, headers=headers, timeout=10
            )
            assert again.status_code == 401
            assert again.headers["content-type"].startswith("application/problem+json")
        finally:
            server.send_signal(signal.SIGTERM)
            _, stderr = server.communicate(timeout=30)
        assert server.returncode == 0, stderr
        assert "Traceback" not in stderr
        assert "request_refused" in stderr  # the revoked token's refusal was logged
        assert token not in stderr

    def test_an_inspector_token_with_an_agency_is_not_issued(self, tmp_path: Path) -> None:
        env = {**os.environ, "LEDGER_DATA_DIR": str(tmp_path)}
        result = _ledger(
            "token", "issue", "--role", "inspector", "--partnership", "p", "--agency", "la",
            env=env,
        )  # fmt: skip
        assert result.returncode == 1
        assert "inspector" in result.stderr
        assert result.stdout == ""
