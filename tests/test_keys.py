"""Every Redis key the service writes is defined once, in `service/pipeline/store.py`: no `toh:` string literal elsewhere."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / "service" / "pipeline" / "store.py"


def key_literals(path: Path) -> list[int]:
    """Lines of the string literals and f-strings in `path` that start a `toh:` key."""
    lines: list[int] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.JoinedStr) and node.values:
            first = node.values[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value.startswith("toh:"):
                lines.append(node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("toh:"):
            lines.append(node.lineno)
    return sorted(set(lines))  # an f-string's first part is also a Constant


def test_no_redis_key_is_spelled_outside_the_store_module() -> None:
    found = {
        str(path.relative_to(ROOT)): lines
        for package in ("service", "workers")
        for path in (ROOT / package).rglob("*.py")
        if path != HOME and (lines := key_literals(path))
    }
    assert found == {}


def test_the_scan_finds_a_key_literal(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text('KEY = "toh:planted"\n\n\ndef key(x: str) -> str:\n    return f"toh:planted:{x}"\n')
    assert key_literals(planted) == [1, 5]
    assert key_literals(HOME)  # the store defines them
