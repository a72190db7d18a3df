"""processor.ai's shape: the contract is a leaf, adapters know only it and the shared helpers,
the factory knows them all, and nothing imports in a circle (a package's __init__ counts)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AI = ROOT / "processor" / "ai"
ADAPTERS = {
    "processor.ai.whisper",
    "processor.ai.local",
    "processor.ai.gemini.client",
    "processor.ai.gemini.metadata",
    "processor.ai.gemini.transcriber",
}
SHARED = {
    "processor.ai",
    "processor.ai.contract",
    "processor.ai.wav",
    "processor.ai.timestamps",
    "processor.ai.models",
    "processor.ai.gemini",
    "processor.ai.gemini.client",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def ai_imports() -> dict[str, set[str]]:
    """Each processor.ai module and the processor.ai modules importing it runs (parents too),
    from imports anywhere in the file, in functions and TYPE_CHECKING blocks included."""
    modules = {module_name(p): p for p in AI.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                parts = target.split(".")
                found |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_the_contract_imports_nothing_from_processor_ai() -> None:
    assert ai_imports()["processor.ai.contract"] <= {"processor.ai"}


def test_adapters_import_only_the_contract_and_shared_helpers() -> None:
    graph = ai_imports()
    for adapter in ADAPTERS:
        assert graph[adapter] <= SHARED, (adapter, graph[adapter] - SHARED)


def test_no_import_circle_in_processor_ai() -> None:
    graph = ai_imports()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start]:
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    circles = sorted(name for name in graph if reaches(name, name, {name}))
    assert circles == []
