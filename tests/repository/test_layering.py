"""The code keeps the import contract docs/ARCHITECTURE.md states: every module of `src/zdr`
imports only what its row of the "Packages" table allows in its "may import" column.

The table is read from the document itself, so the document and the code cannot drift apart.

A row names a package (`store/`), a module (`ports.py`) or a module inside a package
(`proof/verify.py`); a module is governed by the most specific row that holds it. A "may import"
cell is a comma-separated list of:

- `stdlib` — the Python standard library (`sys.stdlib_module_names`);
- `zdr.NAME` (or `zdr.NAME.SUB`) — that package or module and everything under it;
- `every zdr package` — any module of `zdr` (composition roots only: `cli/`, `wiring.py`);
- a third-party distribution as pip names it (`sqlalchemy`, `python-multipart`,
  `opentelemetry-sdk`) — every module that distribution installs;
- `nothing` — no import at all (an empty cell is an error, so a forgotten cell cannot pass).

Beyond the cell, a module may always import its own row's package and `zdr` itself (the root
`__init__.py`, which holds only `__version__`).

Every import counts wherever it is written: at the top of the module, inside a function (a lazy
import is still a dependency), `importlib.import_module` with a literal name, and under
`if TYPE_CHECKING:` — a name used in an annotation
couples the modules as much as a call does; only when it is loaded differs.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).parents[2]
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
SOURCE = ROOT / "src"
TABLE_TITLE = "## Packages (src/zdr)"
EVERY_ZDR = "every zdr package"
NOTHING = "nothing"


# ------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Contract:
    """One row of the table: what the modules under `owner` may import."""

    owner: str                      # dotted: "zdr.store", "zdr.ports", "zdr.proof.verify"
    stdlib: bool
    every_zdr: bool
    zdr: frozenset[str]             # dotted zdr names allowed (with everything under them)
    distributions: frozenset[str]   # normalized distribution names


def normalized(distribution: str) -> str:
    """A distribution's name as PEP 503 compares them (`Python_Multipart` → `python-multipart`)."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def owner_of_cell(cell: str) -> str:
    """`store/` → `zdr.store`; `ports.py` → `zdr.ports`; `proof/verify.py` → `zdr.proof.verify`."""
    path = cell.strip().strip("`").strip()
    if not re.fullmatch(r"[a-z_]+(/[a-z_]+)*(/|\.py)", path):
        raise ValueError(f"a package row names `name/` or `name.py`, not {cell!r}")
    return "zdr." + path.removesuffix("/").removesuffix(".py").replace("/", ".")


def contract_of(owner: str, cell: str) -> Contract:
    entries = [entry.strip().strip("`").strip() for entry in cell.split(",")]
    if entries == [""]:
        raise ValueError(f"{owner}: the may-import cell is empty (write `{NOTHING}`)")
    if entries == [NOTHING]:
        entries = []
    zdr: set[str] = set()
    distributions: set[str] = set()
    stdlib = every = False
    for entry in entries:
        if entry == "stdlib":
            stdlib = True
        elif entry == EVERY_ZDR:
            every = True
        elif re.fullmatch(r"zdr(\.[a-z_]+)+", entry):
            zdr.add(entry)
        elif re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", entry) and entry != "zdr":
            distributions.add(normalized(entry))
        else:
            raise ValueError(f"{owner}: cannot read may-import entry {entry!r}")
    return Contract(owner, stdlib, every, frozenset(zdr), frozenset(distributions))


def parse_table(markdown: str) -> dict[str, Contract]:
    """The rows of the "Packages (src/zdr)" table: owner → contract."""
    section = markdown.split(TABLE_TITLE, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header[0] == "package" and header[-1] == "may import", header
    contracts: dict[str, Contract] = {}
    for row in rows[2:]:                       # after the header and the |---| line
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        owner = owner_of_cell(cells[0])
        assert owner not in contracts, f"two rows for {cells[0]}"
        contracts[owner] = contract_of(owner, cells[-1])
    return contracts


def governing(module: str, contracts: dict[str, Contract]) -> Contract | None:
    """The most specific row that holds `module`."""
    parts = module.split(".")
    for depth in range(len(parts), 0, -1):
        prefix = ".".join(parts[:depth])
        if prefix in contracts:
            return contracts[prefix]
    return None


# ------------------------------------------------------------------------------- the code
@dataclass(frozen=True)
class Import:
    module: str          # the importing module, dotted
    path: str            # its file, for the message
    line: int
    name: str            # the imported module, dotted and absolute
    type_checking: bool


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def module_name(path: Path, source_root: Path) -> str:
    parts = list(path.relative_to(source_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(node: ast.AST, package: str) -> list[str]:
    """The absolute module names one node imports: `import a.b`, `from . import c`, and
    `importlib.import_module("a.b")` with a literal name. `from zdr.proof import merkle` names
    `zdr.proof.merkle`, which may be a module of its own."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            parent = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
            target = f"{parent}.{node.module}" if node.module else parent
        else:
            target = node.module or ""
        if target == "zdr" or target.startswith("zdr."):
            return [f"{target}.{alias.name}" for alias in node.names]
        return [target]
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str) and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id in ("import_module",
                                                                          "__import__"))):
        return [node.args[0].value]
    return []


def imports_of(source: str, module: str, path: str, is_package: bool) -> Iterator[Import]:
    """Every import in `source`, wherever it is written, with relative names made absolute."""
    tree = ast.parse(source, filename=path)
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and is_type_checking(node.test):
            guarded.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        for name in imported_names(node, package):
            yield Import(module, path, getattr(node, "lineno", 0), name, id(node) in guarded)


def source_imports(source_root: Path) -> Iterator[Import]:
    for path in sorted((source_root / "zdr").rglob("*.py")):
        yield from imports_of(path.read_text(encoding="utf-8"), module_name(path, source_root),
                              str(path.relative_to(source_root.parent)),
                              path.name == "__init__.py")


@cache
def distribution_files() -> dict[str, list[tuple[str, PurePosixPath]]]:
    """Top-level import name → [(distribution, file)] for every installed distribution."""
    index: dict[str, list[tuple[str, PurePosixPath]]] = {}
    for dist in metadata.distributions():
        name = normalized(dist.metadata["Name"] or "")
        for file in dist.files or []:
            posix = PurePosixPath(str(file))
            if posix.suffix in (".py", ".so", ".pyd", ".pyi") and posix.parts and \
                    not posix.parts[0].endswith((".dist-info", ".data")) and posix.parts[0] != "..":
                top = posix.parts[0].split(".")[0] if len(posix.parts) == 1 else posix.parts[0]
                index.setdefault(top, []).append((name, posix))
    return index


@cache
def distributions_of(name: str) -> frozenset[str]:
    """The distributions that install module `name`: for a namespace package shared by several
    (`opentelemetry`), the ones holding the deepest part of its path."""
    parts = name.split(".")
    candidates = distribution_files().get(parts[0], [])
    best: dict[str, int] = {}
    for dist, file in candidates:
        file_parts = file.with_suffix("").parts
        file_parts = file_parts[:-1] if file_parts[-1] == "__init__" else file_parts
        depth = 0
        for mine, theirs in zip(parts, file_parts, strict=False):
            if mine.split(".")[0] != theirs.split(".")[0]:
                break
            depth += 1
        best[dist] = max(best.get(dist, 0), depth)
    deepest = max(best.values(), default=0)
    return frozenset(dist for dist, depth in best.items() if depth == deepest and depth)


def under(name: str, allowed: Iterable[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in allowed)


def violation(item: Import, contracts: dict[str, Contract]) -> str | None:
    """Why `item` breaks its module's contract, or None."""
    where = f"{item.path}:{item.line}: {item.module} imports {item.name}"
    where += " (under TYPE_CHECKING)" if item.type_checking else ""
    contract = governing(item.module, contracts)
    if contract is None:
        return f"{where}, but no row of the table holds {item.module}"
    top = item.name.split(".")[0]
    if top == "zdr":
        if item.name == "zdr" or item.name == "zdr.__version__" or \
                under(item.name, [contract.owner]) or contract.every_zdr or \
                under(item.name, contract.zdr):
            return None
        return f"{where}; the row of {contract.owner} does not allow it"
    if top in sys.stdlib_module_names:
        return None if contract.stdlib else f"{where}; the row of {contract.owner} allows no stdlib"
    owners = distributions_of(item.name)
    if owners & contract.distributions:
        return None
    which = ", ".join(sorted(owners)) or "no installed distribution"
    return f"{where} (from {which}); the row of {contract.owner} does not allow it"


def violations(imports: Iterable[Import], contracts: dict[str, Contract]) -> list[str]:
    return [found for item in imports if (found := violation(item, contracts)) is not None]


def contracts_of_document() -> dict[str, Contract]:
    return parse_table(ARCHITECTURE.read_text(encoding="utf-8"))


@cache
def imports_in_source() -> tuple[Import, ...]:
    return tuple(source_imports(SOURCE))


# ------------------------------------------------------------------------------- the tests
def test_every_module_imports_only_what_its_row_allows() -> None:
    contracts = contracts_of_document()
    imports = imports_in_source()
    assert len({item.module for item in imports}) > 150       # the walk found the code
    found = violations(imports, contracts)
    assert not found, "imports the table in docs/ARCHITECTURE.md does not allow:\n" + \
        "\n".join(found)


def declared_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {normalized(re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0])
            for spec in project["dependencies"]}


def test_the_table_names_only_real_things() -> None:
    """A misspelt entry must not pass silently: each `zdr.…` entry names a module or a row, and
    each distribution is a dependency pyproject.toml declares (one the code imports directly is
    not left to arrive through another's requirements)."""
    contracts = contracts_of_document()
    modules = {item.module for item in imports_in_source()} | set(contracts)
    declared = declared_dependencies()
    for contract in contracts.values():
        for name in contract.zdr:
            assert any(under(module, [name]) for module in modules), \
                f"the row of {contract.owner} names {name}, which is no module"
        undeclared = contract.distributions - declared
        assert not undeclared, \
            f"the row of {contract.owner} names {sorted(undeclared)}, not in pyproject.toml"


def test_the_table_says_what_the_architecture_relies_on() -> None:
    """The contracts other documents and tests lean on are the ones the table states."""
    contracts = contracts_of_document()
    policy, gateway = contracts["zdr.policy"], contracts["zdr.gateway"]
    assert policy.stdlib and not policy.distributions and policy.zdr == {"zdr.catalog"}
    assert "sqlalchemy" not in gateway.distributions and "starlette" not in gateway.distributions
    assert not contracts["zdr.proof.verify"].distributions - {"cryptography", "rfc8785", "orjson"}
    assert {owner for owner, row in contracts.items() if row.every_zdr} == {"zdr.cli",
                                                                           "zdr.wiring"}


# The one cycle between rows the table allows: a statement carries `zdr verify`'s checks of the
# org (control/evidence.py runs `zdr.verify.run`), and `zdr verify` checks the audit chain with the
# control plane's own code (`zdr.control.audit`, `zdr.control.checkpoints`).
ALLOWED_CYCLES = {frozenset({"zdr.control", "zdr.verify"})}


def row_graph(contracts: dict[str, Contract]) -> dict[str, set[str]]:
    """Row → the rows its may-import entries fall in; the composition roots left out."""
    roots = {owner for owner, contract in contracts.items() if contract.every_zdr}
    graph: dict[str, set[str]] = {owner: set() for owner in contracts if owner not in roots}
    for owner in graph:
        for name in contracts[owner].zdr:
            target = governing(name, contracts)
            if target is not None and target.owner != owner and target.owner not in roots:
                graph[owner].add(target.owner)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle once, as the path that closes it (depth-first)."""
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target in path:
                loop = path[path.index(target):]
                if frozenset(loop) not in seen:
                    seen.add(frozenset(loop))
                    found.append([*loop, target])
            elif len(path) < len(graph):
                visit(target, [*path, target])

    for start in sorted(graph):
        visit(start, [start])
    return found


def test_the_rows_form_layers() -> None:
    """Apart from the composition roots (which may import everything) no row may import, by any
    path, a row that imports it: a new cycle is a new entry the table must not take."""
    loops = [loop for loop in cycles(row_graph(contracts_of_document()))
             if frozenset(loop) not in ALLOWED_CYCLES]
    assert not loops, "cycles between rows of the table: " + "; ".join(
        " -> ".join(loop) for loop in loops)


def test_a_cycle_between_rows_is_found() -> None:
    graph = row_graph(parse_table(SYNTHETIC_TABLE.replace(
        "| records | `zdr.policy` |", "| records | `zdr.policy`, `zdr.gateway.relay` |")))
    assert cycles(graph) == [["zdr.gateway", "zdr.ports", "zdr.gateway"]]


# ------------------------------------------------------------------ the checker catches things
SYNTHETIC_TABLE = f"""
{TABLE_TITLE}

| package | owns | may import |
|---|---|---|
| `policy/` | pure | stdlib, `zdr.catalog` |
| `catalog/` | data | stdlib |
| `ports.py` | records | `zdr.policy` |
| `gateway/` | the hot path | stdlib, aiohttp, python-multipart, `zdr.ports` |
| `cli/` | commands | stdlib, typer, {EVERY_ZDR} |

## Next
"""


def synthetic(module: str, source: str) -> list[str]:
    is_package = module.endswith(".__init__")
    module = module.removesuffix(".__init__")
    imports = imports_of(source, module, module.replace(".", "/") + ".py", is_package)
    return violations(imports, parse_table(SYNTHETIC_TABLE))


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("zdr.policy.rules", "import os\nimport sqlalchemy\n",
     "zdr/policy/rules.py:2: zdr.policy.rules imports sqlalchemy (from sqlalchemy)"),
    ("zdr.policy.rules", "from zdr.store.db import utc\n",
     "zdr/policy/rules.py:1: zdr.policy.rules imports zdr.store.db.utc"),
    ("zdr.policy.rules", "def late():\n    from zdr import gateway\n",
     "zdr/policy/rules.py:2: zdr.policy.rules imports zdr.gateway"),
    ("zdr.policy.rules",
     "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from zdr.ports import Principal\n",
     "zdr/policy/rules.py:3: zdr.policy.rules imports zdr.ports.Principal (under TYPE_CHECKING)"),
    ("zdr.gateway.relay", "import starlette.responses\n",
     "zdr.gateway.relay imports starlette.responses (from starlette)"),
    ("zdr.gateway.relay", "from ..store import db\n",
     "zdr.gateway.relay imports zdr.store.db"),
    ("zdr.ports", "import json\n", "zdr.ports imports json; the row of zdr.ports allows no stdlib"),
    ("zdr.verify.run", "import json\n", "no row of the table holds zdr.verify.run"),
    ("zdr.catalog.load", "import importlib\nstore = importlib.import_module('zdr.store.db')\n",
     "zdr/catalog/load.py:2: zdr.catalog.load imports zdr.store.db"),
])
def test_a_forbidden_import_is_named_with_module_and_line(
    module: str, source: str, expected: str
) -> None:
    found = synthetic(module, source)
    assert len(found) == 1 and expected in found[0], found


def test_allowed_imports_pass() -> None:
    assert synthetic("zdr.policy.rules", "import re\nfrom zdr.catalog.schema import Catalog\n"
                     "from zdr.policy import facts\nfrom . import decide\n") == []
    assert synthetic("zdr.gateway.uploads", "import python_multipart\nfrom aiohttp import web\n"
                     "from zdr.ports import Principal\nfrom zdr import __version__\n") == []
    assert synthetic("zdr.cli.__init__", "import typer\nfrom zdr.store import db\n"
                     "from zdr.cli import common\nfrom . import common\n") == []


def test_a_bad_import_in_a_source_tree_fails_the_walk(tmp_path: Path) -> None:
    """The same walk the real check does, over a tree with one bad module in it."""
    package = tmp_path / "zdr" / "policy"
    package.mkdir(parents=True)
    (tmp_path / "zdr" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("from zdr.policy.rules import decide\n")
    (package / "rules.py").write_text("import re\n\n\ndef decide():\n"
                                      "    import aiohttp\n    return re, aiohttp\n")
    found = violations(source_imports(tmp_path), parse_table(SYNTHETIC_TABLE))
    assert len(found) == 1 and found[0].endswith(
        "/zdr/policy/rules.py:5: zdr.policy.rules imports aiohttp (from aiohttp); "
        "the row of zdr.policy does not allow it"), found


def test_a_table_it_cannot_read_is_an_error() -> None:
    bad = SYNTHETIC_TABLE.replace("stdlib, `zdr.catalog`", "stdlib, the catalog")
    with pytest.raises(ValueError, match="cannot read may-import entry 'the catalog'"):
        parse_table(bad)
    with pytest.raises(ValueError, match="empty"):
        parse_table(SYNTHETIC_TABLE.replace("| stdlib |", "| |"))
