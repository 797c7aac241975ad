"""The packages of src/zdr import one another one way: no cycle between packages, the wiring never
reaches `zdr.testing`, and the in-memory twins stand on the ports alone. Every import counts,
those inside functions too (read from the source with `ast`, nothing is imported)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).parents[2] / "src"
# Cycles that remain, to be untangled: `zdr.outage` answers outages with the gateway's error
# writer, which the gateway calls back; evidence runs the verifier's checks, which read the
# control plane's audit chain. No other cycle may appear.
REMAINING = {frozenset({"zdr.gateway", "zdr.outage"}), frozenset({"zdr.control", "zdr.verify"})}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> Iterator[str]:
    """Every `zdr.…` module `path` imports, at any depth of its code."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names = [".".join([*base, node.module or ""]).strip(".")]
            names += [f"{names[0]}.{alias.name}" for alias in node.names]
        else:
            continue
        yield from (name for name in names if name == "zdr" or name.startswith("zdr."))


def module_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in (SRC / "zdr").rglob("*.py")}
    return {name: {target for target in imported(path) if target in modules}
            for name, path in modules.items()}


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, targets in module_graph().items():
        graph.setdefault(package_of(module), set()).update(
            package_of(t) for t in targets if package_of(t) != package_of(module))
    return graph


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def reached_from(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


def test_no_new_import_cycle_between_packages() -> None:
    new = cycles(package_graph()) - REMAINING
    assert not new, f"packages that import one another: {[sorted(c) for c in new]}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"zdr.a": {"zdr.b"}, "zdr.b": {"zdr.c"}, "zdr.c": {"zdr.a"}, "zdr.d": {"zdr.a"}}
    assert cycles(graph) == {frozenset({"zdr.a", "zdr.b", "zdr.c"})}


def test_the_wiring_reaches_nothing_in_zdr_testing() -> None:
    reached = reached_from("zdr.wiring", module_graph())
    assert not {m for m in reached if package_of(m) == "zdr.testing"}


def test_the_in_memory_twins_stand_on_the_ports_alone() -> None:
    reached = {package_of(m) for m in reached_from("zdr.inmemory", module_graph())}
    assert reached <= {"zdr.inmemory", "zdr.ports", "zdr.keys", "zdr.policy", "zdr.catalog"}
