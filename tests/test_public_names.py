"""`__all__` stays true: every name it lists exists, and code in `service` and `workers` imports from another
module only what that module lists (its private helpers stay private)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from tests.test_architecture import ROOT, modules


def declared(path: Path) -> list[str] | None:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return None


def test_every_name_in_all_exists() -> None:
    missing = []
    for name, path in modules().items():
        listed = declared(path)
        if listed:
            module = importlib.import_module(name)
            missing += [f"{name}.{item}" for item in listed if not hasattr(module, item)]
    assert missing == []


def private_imports() -> list[str]:
    known = modules()
    listed = {name: set(declared(path) or ()) for name, path in known.items()}
    found = []
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in known and node.module != name and node.level == 0:
                public = listed[node.module]
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in known:
                        continue  # a submodule
                    if alias.name not in public:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{alias.name}")
    return found


def test_modules_import_only_what_others_list() -> None:
    assert private_imports() == []
