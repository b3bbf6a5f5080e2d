"""No module over 500 lines without a line in docs/architecture.md saying why."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["schemas", "ledger", "projections", "consumers", "runtime", "interfaces", "bench"]
LIMIT = 500
#: The section of the architecture document that names each longer module.
SECTION = re.compile(r"^### Modules over 500 lines\n(.*?)^#", re.S | re.M)


def long_modules(root: Path) -> set[str]:
    """The package modules over :data:`LIMIT` lines, as paths from ``root``."""
    return {
        str(path.relative_to(root))
        for package in PACKAGES
        for path in (root / package).rglob("*.py")
        if len(path.read_text().splitlines()) > LIMIT
    }


def explained(document: str) -> set[str]:
    """The modules the architecture document's section names in its table's first column."""
    found = SECTION.search(document)
    assert found is not None, "docs/architecture.md has no '### Modules over 500 lines'"
    return set(re.findall(r"^\| `([\w/]+\.py)` \|", found.group(1), re.M))


class TestModuleSize:
    def test_every_module_over_500_lines_is_explained_and_every_explanation_is_needed(
        self,
    ) -> None:
        listed = explained((ROOT / "docs" / "architecture.md").read_text())
        assert long_modules(ROOT) - listed == set(), "explain these in docs/architecture.md"
        assert listed - long_modules(ROOT) == set(), "these are no longer over 500 lines"

    def test_the_check_sees_a_long_module_and_reads_the_table(self, tmp_path: Path) -> None:
        (tmp_path / "ledger").mkdir()
        (tmp_path / "ledger" / "big.py").write_text("x = 1\n" * (LIMIT + 1))
        (tmp_path / "ledger" / "small.py").write_text("x = 1\n" * LIMIT)
        assert long_modules(tmp_path) == {"ledger/big.py"}
        document = (
            "### Modules over 500 lines\n\n| module | why |\n|---|---|\n"
            "| `ledger/big.py` | a reason |\n\n## Next\n| `ledger/other.py` | elsewhere |\n"
        )
        assert explained(document) == {"ledger/big.py"}
