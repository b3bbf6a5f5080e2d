"""Dependencies point one way: schemas <- ledger <- projections, consumers <- interfaces."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["schemas", "ledger", "projections", "consumers", "interfaces"]
#: What each package may import from the project (itself included).
ALLOWED = {
    "schemas": {"schemas"},
    "ledger": {"schemas", "ledger"},
    "projections": {"schemas", "ledger", "projections"},
    "consumers": {"schemas", "ledger", "consumers", "projections"},
    "interfaces": set(LAYERS),
}


def _project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


class TestLayering:
    @pytest.mark.parametrize("package", LAYERS)
    def test_a_package_imports_nothing_from_a_layer_above_it(self, package: str) -> None:
        offenders = {
            str(path.relative_to(ROOT)): sorted(_project_imports(path) - ALLOWED[package])
            for path in (ROOT / package).rglob("*.py")
            if _project_imports(path) - ALLOWED[package]
        }
        assert offenders == {}
