"""Only the composition root reads settings: the layers below it are given plain values.

No module of the layers below :mod:`runtime` reads the process environment
(``os.environ``, ``os.getenv``) or imports :mod:`runtime`.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The layers below the composition root.
BELOW = ("schemas", "ledger", "projections", "consumers")
_ENV_NAMES = frozenset({"environ", "environb", "getenv", "getenvb"})


def _offences(path: Path) -> list[str]:
    """What ``path`` does that only the composition root may: env reads, runtime imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    os_names = {"os"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_names.update(a.asname for a in node.names if a.name == "os" and a.asname)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] == "runtime"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "runtime":
                found.append(f"from {node.module} import")
            elif node.module == "os":
                found += [f"from os import {a.name}" for a in node.names if a.name in _ENV_NAMES]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
            and node.attr in _ENV_NAMES
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return sorted(set(found))


def offenders(root: Path) -> dict[str, list[str]]:
    """Each module below the composition root under ``root`` and what it may not do."""
    return {
        str(path.relative_to(root)): found
        for package in BELOW
        for path in sorted((root / package).rglob("*.py"))
        if (found := _offences(path))
    }


class TestCompositionRoot:
    def test_no_layer_below_runtime_reads_the_environment_or_imports_runtime(self) -> None:
        assert offenders(ROOT) == {}

    def test_the_check_finds_env_reads_and_runtime_imports_in_a_bad_module(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / "ledger").mkdir()
        (tmp_path / "ledger" / "bad.py").write_text(
            "import os\n"
            "import os as system\n"
            "from os import getenv\n"
            "from runtime.settings import Settings\n"
            "URL = os.environ.get('NATS_URL')\n"
            "LEVEL = system.getenv('LEDGER_LOG_LEVEL')\n"
        )
        (tmp_path / "projections" / "deep").mkdir(parents=True)
        (tmp_path / "projections" / "deep" / "worse.py").write_text("import runtime.service\n")
        (tmp_path / "consumers").mkdir()
        (tmp_path / "consumers" / "fine.py").write_text(
            '"""Mentions os.environ in prose only."""\nimport os\nSEP = os.sep\n'
        )
        (tmp_path / "runtime").mkdir()  # the root itself may read the environment
        (tmp_path / "runtime" / "settings.py").write_text("import os\nENV = os.environ\n")
        assert offenders(tmp_path) == {
            "ledger/bad.py": [
                "from os import getenv",
                "from runtime.settings import",
                "os.environ",
                "system.getenv",
            ],
            "projections/deep/worse.py": ["import runtime.service"],
        }
