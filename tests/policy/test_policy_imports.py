"""The policy is pure: its modules import only the standard library and `zdr.catalog`."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import zdr.policy

POLICY = Path(zdr.policy.__file__).parent
# I/O the pure core must not do, even though it is in the standard library
FORBIDDEN_STDLIB = {"os", "io", "socket", "subprocess", "logging", "time", "random", "sqlite3",
                    "pathlib", "multiprocessing", "threading", "asyncio", "urllib", "http"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            names.add(node.module or "")
    return names


def test_every_policy_module_imports_only_stdlib_and_catalog():
    """Parse each module's AST: every import is stdlib (minus I/O), zdr.catalog or zdr.policy."""
    modules = sorted(POLICY.glob("*.py"))
    assert len(modules) >= 8
    for path in modules:
        for name in imported_modules(path):
            top = name.split(".")[0]
            if name.startswith(("zdr.catalog", "zdr.policy")):
                continue
            assert top != "zdr", f"{path.name} imports {name}"
            assert top in sys.stdlib_module_names, f"{path.name} imports non-stdlib {name}"
            assert top not in FORBIDDEN_STDLIB, f"{path.name} imports {name} (I/O or clock)"


def test_catalog_imports_only_stdlib():
    """The catalog package needs nothing but the standard library."""
    for path in sorted((POLICY.parent / "catalog").glob("*.py")):
        for name in imported_modules(path):
            top = name.split(".")[0]
            assert name.startswith("zdr.catalog") or (
                top in sys.stdlib_module_names and top != "zdr"), f"{path.name} imports {name}"
