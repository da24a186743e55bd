"""The import graph draws the architecture: `service` never imports `workers` (the CLI may, lazily, to start one),
`service.core` and the screening engine import nothing of ours above them, lower layers never import higher ones
(core < screening < fhir < pipeline < ops, cds < api), and no module-level cycle exists. Read with `ast`, so nothing
is imported to check it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("service", "workers")
# package -> packages it must never import (each a prefix of module names)
FORBIDDEN = {
    "service": ("workers",),
    "service.screening": (
        "service.cds",
        "service.api",
        "service.fhir",
        "service.pipeline",
        "service.caseview",
        "workers",
    ),
    "service.fhir": ("service.cds", "service.api", "service.caseview"),
    "service.cds": ("service.api", "service.caseview"),
    "service.caseview": ("service.api", "service.pipeline", "service.ops", "workers"),
    "service.core": (
        "service.api",
        "service.cds",
        "service.fhir",
        "service.screening",
        "service.pipeline",
        "service.ops",
        "service.caseview",
        "workers",
    ),
    "service.pipeline": ("service.api", "service.cds", "service.ops", "service.caseview"),
    "service.ops": ("service.api", "service.cds", "service.caseview"),
}
LAZY_WORKERS_ALLOWED = {"service.cli.serve"}  # starts a worker: imports it inside a function


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def _type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports(path: Path, *, module_level_only: bool) -> Iterator[tuple[str, int]]:
    """(imported module, line) of every import; with module_level_only, those that run on import."""
    tree = ast.parse(path.read_text(), filename=str(path))
    known = modules()

    def visit(nodes: list[ast.stmt]) -> Iterator[tuple[str, int]]:
        for node in nodes:
            if isinstance(node, ast.Import):
                yield from ((alias.name, node.lineno) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    yield (submodule if submodule in known else node.module), node.lineno
            elif isinstance(node, ast.If) and _type_checking(node):
                continue
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and module_level_only:
                continue
            body = [child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt)]
            if body:
                yield from visit(body)

    yield from visit(tree.body)


def test_service_never_imports_workers_and_layers_point_one_way() -> None:
    broken = []
    for name, path in modules().items():
        lazy_ok = name in LAZY_WORKERS_ALLOWED
        for target, line in imports(path, module_level_only=lazy_ok):
            for package, forbidden in FORBIDDEN.items():
                if (name == package or name.startswith(package + ".")) and target.startswith(forbidden):
                    broken.append(f"{name}:{line} imports {target}")
    assert broken == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    return found


def test_no_module_level_import_cycle() -> None:
    known = modules()
    graph = {
        name: {target for target, _ in imports(path, module_level_only=True) if target in known and target != name}
        for name, path in known.items()
    }
    assert cycles(graph) == []


def test_the_checks_see_a_broken_rule(tmp_path: Path) -> None:
    """The cycle finder finds a planted cycle (the layer check is exercised by the real graph above)."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
