"""The layout a newcomer finds (docs/architecture.md): folders by concern, no import circle, no
file too long to read, and the integrations and the UI on the core's public modules only."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PUBLIC_CORE = {"runlog_core", "runlog_core.exceptions", "runlog_core.hookspecs", "runlog_core.store",
               "runlog_core.views", "runlog_core.integration"}


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import not inside a function or class: ``if TYPE_CHECKING:`` and ``try:`` blocks included."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, ast.If):
                walk(node.body)
                walk(node.orelse)
            elif isinstance(node, ast.Try):
                walk(node.body)
                walk(node.orelse)
                walk(node.finalbody)
                for handler in node.handlers:
                    walk(handler.body)
            elif isinstance(node, ast.With):
                walk(node.body)

    walk(tree.body)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        edges = set()
        for node in _module_level_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = name.split(".") if is_package else name.split(".")[:-1]
                if node.level:
                    base = base[: len(base) - node.level + 1]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix for a in node.names]
            for target in targets:
                parts = target.split(".")
                while parts and ".".join(parts) not in modules:
                    parts.pop()
                if parts and ".".join(parts) != name:
                    edges.add(".".join(parts))
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_counting_type_checking_imports() -> None:
    graph = _graph()
    assert "runlog_core.run.run" in graph and graph["runlog_core.run.run"]  # the graph was read
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_file_over_450_lines() -> None:
    long = {str(path.relative_to(SRC)): n for path in SRC.rglob("*.py")
            if (n := len(path.read_text().splitlines())) > 450}
    assert long == {}


def test_the_core_has_at_most_16_entries_at_its_top() -> None:
    entries = [p.name for p in (SRC / "runlog_core").iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 16, sorted(entries)  # 16: hyperdrive/, a public path SPEC.md names (issue 18)


def test_integrations_and_ui_import_only_public_core_modules() -> None:
    graph = _graph()
    reaches = {(name, target) for name, targets in graph.items()
               if name.startswith(("runlog_integrations", "runlog_ui"))
               for target in targets if target.startswith("runlog_core") and target not in PUBLIC_CORE}
    assert reaches == set()
    # and none of them names a private core module anywhere, not even inside a function
    for path in [*(SRC / "runlog_integrations").rglob("*.py"), *(SRC / "runlog_ui").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("runlog_core"):
                assert node.module in PUBLIC_CORE, (path, node.module)
                assert not any(a.name.startswith("_") for a in node.names), (path, node.module)
