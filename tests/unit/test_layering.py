"""Dependencies point one way: schemas <- ledger <- projections, consumers <- interfaces."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["schemas", "ledger", "projections", "consumers", "runtime", "interfaces"]
#: What each package may import from the project (itself included).
ALLOWED = {
    "schemas": {"schemas"},
    "ledger": {"schemas", "ledger"},
    "projections": {"schemas", "ledger", "projections"},
    "consumers": {"schemas", "ledger", "consumers", "projections"},
    "runtime": {"schemas", "ledger", "projections", "consumers", "runtime"},
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


#: The agency client: what an agency installs to read its events, without the server.
CLIENT_ENTRY = "consumers/client.py"
#: What the client (and every module of consumers/ it imports) may import from the project.
CLIENT_ALLOWED = {"schemas", "consumers"}


def _module_path(root: Path, module: str) -> Path | None:
    """The file of a project module, if it is one (``a.b`` -> ``a/b.py`` or ``a/b/__init__.py``)."""
    base = root.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_modules(path: Path, package: str) -> set[str]:
    """The dotted names a module imports, ``from a import b`` as ``a`` and ``a.b``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: only within the package
                module = f"{package}.{module}".rstrip(".")
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def client_imports(root: Path) -> tuple[set[str], dict[str, list[str]]]:
    """The modules of ``consumers/`` the agency client loads (walked transitively from
    ``consumers/client.py``, with the package's ``__init__``), and each one's imports of
    the project outside :data:`CLIENT_ALLOWED`."""
    todo = [root / CLIENT_ENTRY, root / "consumers" / "__init__.py"]
    seen: set[Path] = set()
    offenders: dict[str, list[str]] = {}
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_modules(path, "consumers"):
            top = name.split(".")[0]
            if top in LAYERS and top not in CLIENT_ALLOWED:
                offenders.setdefault(str(path.relative_to(root)), []).append(name)
            elif top == "consumers" and (found := _module_path(root, name)) is not None:
                todo.append(found)
    return {str(p.relative_to(root)) for p in seen}, {k: sorted(v) for k, v in offenders.items()}


class TestAgencyClient:
    def test_the_agency_client_imports_nothing_from_the_ledger_or_the_views(self) -> None:
        loaded, offenders = client_imports(ROOT)
        assert offenders == {}
        helpers = ("_connection", "_deadletters", "_delivery_types", "_ordering")
        assert {f"consumers/{m}.py" for m in (*helpers, "_pulling", "_settling")} <= loaded

    def test_the_walk_finds_a_server_import_in_a_helper_of_a_helper(self, tmp_path: Path) -> None:
        package = tmp_path / "consumers"
        package.mkdir()
        (package / "__init__.py").write_text('"""The package."""\n')
        (package / "client.py").write_text("from consumers import _a\nimport schemas\n")
        (package / "_a.py").write_text("from . import _b\n")
        (package / "_b.py").write_text("from ledger._stream import HDR_TOPIC\n")
        (package / "delivery.py").write_text("import projections\n")  # not the client's
        loaded, offenders = client_imports(tmp_path)
        assert offenders == {"consumers/_b.py": ["ledger._stream", "ledger._stream.HDR_TOPIC"]}
        assert "consumers/delivery.py" not in loaded
