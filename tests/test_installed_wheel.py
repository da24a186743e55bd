"""The wheel is complete: built, installed into a fresh venv outside the source tree and run from a temporary
directory, `toh-cds subscribe --mode backport` finds its topic resources (package data) and sets up sekmet-fhir."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".tools" / "bin" / "uv"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `toh-cds` script of a fresh venv that holds only the built wheel and its dependencies."""
    where = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(where / "unused")}
    subprocess.run([UV, "build", "--wheel", "--out-dir", where / "dist", ROOT], check=True, env=env, capture_output=True, timeout=300)  # fmt: skip
    [wheel] = (where / "dist").glob("toh_cds-*.whl")
    subprocess.run([UV, "venv", "--quiet", "--python", "python3", where / "venv"], check=True, env=env, timeout=120)
    python = where / "venv" / "bin" / "python"
    subprocess.run([UV, "pip", "install", "--quiet", "--python", python, wheel], check=True, env=env, timeout=600)
    return where / "venv" / "bin" / "toh-cds"


def test_subscribe_works_from_an_installed_wheel(installed: Path, fhir_server: str, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TOH_")}
    result = subprocess.run(
        [installed, "subscribe", "--fhir-base", fhir_server, "--endpoint", "https://toh.example/fhir/notifications",
         "--mode", "backport", "--token", "wheel-test-token"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # Both made, neither active: nothing answers at toh.example, and the command says so.
    assert result.returncode == 1, result.stderr
    assert result.stdout.count(": error (watches http") == 2, result.stdout
    assert "2 Subscription(s) not active" in result.stderr and "Traceback" not in result.stderr
    for topic in ("topic-observation-new", "topic-imagingstudy-available"):
        assert httpx.get(f"{fhir_server}/Basic/{topic}", timeout=10).status_code == 200
