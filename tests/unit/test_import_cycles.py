"""No import cycle in processor/: the module graph, read from the source with ast, is acyclic.

Every import counts: top-level, inside functions, and under `if TYPE_CHECKING:`. A package's
`__init__` is a node of its own, and importing `a.b.c` also loads `a.b` and `a` (their
`__init__`s), so a stage module that imports a sibling through the package path depends on the
package's `__init__`: an `__init__` that imports that stage closes a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "processor"

# Packages whose import cycles are tolerated: none.
KNOWN_CYCLE_PACKAGES: tuple[str, ...] = ()


def module_files() -> dict[str, Path]:
    """{dotted module name: file}, a package named by its `__init__.py`."""
    modules: dict[str, Path] = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _with_ancestors(name: str, modules: dict[str, Path]) -> Iterator[str]:
    """`name` and the packages above it that are in processor/ (importing loads them all)."""
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            yield candidate


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The processor modules that loading `name` may load, directly."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                targets.update(_with_ancestors(alias.name, modules))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            targets.update(_with_ancestors(source, modules))
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in modules:  # `from package import module`
                    targets.add(submodule)
    # A module does not depend on itself; its own package is loaded before it only when it
    # names that package (or something under it) itself, which the edges above already say.
    targets.discard(name)
    return targets


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def tangles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(components)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One concrete cycle through each tangle."""
    return [_one_cycle(graph, component) for component in tangles(graph)]


def _one_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A concrete cycle inside a strongly connected component (breadth-first back to start)."""
    members = set(component)
    start = component[0]
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target in sorted(graph[node] & members):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if target not in parents:
                    parents[target] = node
                    following.append(target)
        frontier = following
    return component


def _known(component: list[str]) -> bool:
    """Every module of the tangle is inside a package whose cycle is known."""
    return all(
        any(m == p or m.startswith(p + ".") for p in KNOWN_CYCLE_PACKAGES) for m in component
    )


def test_the_cycle_finder_finds_a_package_init_cycle() -> None:
    graph = {
        "pkg": {"pkg.stage"},
        "pkg.stage": {"pkg", "pkg.contract"},
        "pkg.contract": set(),
        "leaf": set(),
    }
    assert cycles(graph) == [["pkg", "pkg.stage", "pkg"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_relative_and_from_imports_resolve_to_modules(tmp_path: Path) -> None:
    modules = {
        "processor": tmp_path / "__init__.py",
        "processor.x": tmp_path / "x.py",
        "processor.x.y": tmp_path / "y.py",
    }
    source = tmp_path / "z.py"
    source.write_text("from processor.x import y\ndef f():\n    from . import x\n", "utf-8")
    assert imports_of("processor.z", source, modules) == {
        "processor",
        "processor.x",
        "processor.x.y",
    }


def test_processor_has_no_import_cycle() -> None:
    graph = import_graph()
    found = [c for c in tangles(graph) if not _known(c)]
    assert not found, "import cycles:\n" + "\n".join(
        " -> ".join(_one_cycle(graph, c)) + f"   (modules in the tangle: {', '.join(c)})"
        for c in found
    )
