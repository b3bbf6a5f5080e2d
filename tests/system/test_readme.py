"""The README's Python runs as written on what ``make run`` (``ledger serve --demo``) leaves."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from serve_support import Served, ledger_env

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
SHELL = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


@pytest.mark.slow
class TestReadme:
    def test_the_readmes_python_runs_as_written_after_the_demo_was_served(
        self, tmp_path: Path
    ) -> None:
        blocks = BLOCK.findall((ROOT / "README.md").read_text())
        assert len(blocks) >= 3
        env = ledger_env(tmp_path / "data", LEDGER_LOG_LEVEL="WARNING")
        served = Served(env, "--demo")
        try:
            served.wait_ready()
        finally:
            served.stop()
        assert served.process.returncode == 0, served.stderr[-4000:]
        # As a person would after Ctrl-C: in a fresh shell, on the same data dir.
        result = subprocess.run(
            [sys.executable, "-c", "\n".join(blocks)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        first, *_ = result.stdout.split()
        assert int(first) > 3000  # the action was recorded after the demo's events

        # The shell tour, as written (``.venv/bin/ledger`` from the project's root).
        (tmp_path / ".venv").symlink_to(ROOT / ".venv")
        tour = [b for b in SHELL.findall((ROOT / "README.md").read_text()) if "make " not in b]
        assert len(tour) == 1
        shell = subprocess.run(
            ["/bin/bash", "-euo", "pipefail", "-c", tour[0]],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=env,
            cwd=tmp_path,
        )
        assert shell.returncode == 0, shell.stderr[-4000:]
        assert '"sequence"' in shell.stdout  # the receipts
        review = (tmp_path / "c-1042.csv").read_text(encoding="utf-8-sig").splitlines()
        assert review[0] == "date,time,sequence,source,agency,event,action taken"
        assert len(review) == 3  # the case opened and the child seen
