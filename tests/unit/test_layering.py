"""Dependencies point one way: schemas <- ledger <- projections, consumers <- interfaces."""

from __future__ import annotations

import ast
import importlib
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


#: Packages that import the layers' faces: the layers themselves and the bench.
#: Tests are white-box and may import a private module of the package they test.
CLIENTS = [*LAYERS, "bench"]
#: Modules outside the tests that may look inside another package, each with its reason.
WHITE_BOX = {
    # Measures the NATS adapter's own sync/asyncio crossings against their alternatives
    # (docs/architecture.md, "Sync meets asyncio"): its subject is the private modules.
    "bench/crossings.py",
}


def _dotted_imports(path: Path) -> set[str]:
    """Every absolute dotted name a module imports: ``from a.b import c`` gives ``a.b.c``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def private_imports(root: Path, package: str) -> dict[str, list[str]]:
    """Each module of ``package`` that imports another layer's private module or name
    (a ``_``-prefixed part anywhere after the package's own name), with those imports."""
    offenders: dict[str, list[str]] = {}
    for path in sorted((root / package).rglob("*.py")):
        if str(path.relative_to(root)) in WHITE_BOX:
            continue
        bad = sorted(
            name
            for name in _dotted_imports(path)
            if (parts := name.split("."))[0] in LAYERS
            and parts[0] != package
            and any(_is_private(part) for part in parts[1:])
        )
        if bad:
            offenders[str(path.relative_to(root))] = bad
    return offenders


def faces(root: Path) -> dict[str, list[str] | None]:
    """Every public package's ``__all__`` (``None`` when it has none)."""
    found: dict[str, list[str] | None] = {}
    for package in LAYERS:
        for init in sorted((root / package).rglob("__init__.py")):
            parts = init.parent.relative_to(root).parts
            if any(_is_private(part) for part in parts):
                continue
            tree = ast.parse(init.read_text(), filename=str(init))
            names: list[str] | None = None
            for node in tree.body:
                if isinstance(node, ast.Assign | ast.AnnAssign):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                        assert node.value is not None
                        names = list(ast.literal_eval(node.value))
            found[".".join(parts)] = names
    return found


class TestPublicFaces:
    @pytest.mark.parametrize("package", CLIENTS)
    def test_a_package_imports_no_private_module_or_name_of_another(self, package: str) -> None:
        assert private_imports(ROOT, package) == {}

    def test_every_public_package_declares_its_face_and_every_name_in_it_exists(self) -> None:
        declared = faces(ROOT)
        assert {name for name, face in declared.items() if face is None} == set()
        for name, face in declared.items():
            module = importlib.import_module(name)
            assert face is not None
            assert [n for n in face if not hasattr(module, n)] == [], name

    def test_the_check_finds_private_imports_in_every_form(self, tmp_path: Path) -> None:
        package = tmp_path / "consumers"
        (package / "sub").mkdir(parents=True)
        (package / "delivery.py").write_text(
            "from ledger.nats import _stream\n"
            "import projections._store\n"
            "from projections._view import View\n"
            "from schemas import _hidden_name\n"
            "from consumers import _own\n"  # its own private module: allowed
            "from schemas import wire, Event\n"  # public faces: allowed
            "from ledger.nats import __all__ as names\n"  # a dunder is not private
        )
        (package / "sub" / "deep.py").write_text("from runtime.access import _checked_names\n")
        assert private_imports(tmp_path, "consumers") == {
            "consumers/delivery.py": [
                "ledger.nats._stream",
                "projections._store",
                "projections._view",
                "projections._view.View",
                "schemas._hidden_name",
            ],
            "consumers/sub/deep.py": ["runtime.access._checked_names"],
        }

    def test_the_check_finds_a_package_without_a_face(self, tmp_path: Path) -> None:
        (tmp_path / "ledger" / "nats").mkdir(parents=True)
        (tmp_path / "ledger" / "__init__.py").write_text('__all__ = ["Ledger"]\n')
        (tmp_path / "ledger" / "nats" / "__init__.py").write_text('"""No face."""\n')
        (tmp_path / "ledger" / "_commands").mkdir()
        (tmp_path / "ledger" / "_commands" / "__init__.py").write_text("")  # private: exempt
        declared = faces(tmp_path)
        assert declared["ledger"] == ["Ledger"]
        assert declared["ledger.nats"] is None
        assert "ledger._commands" not in declared
