"""`toh-cds` as people use it: run as a process, every error one line with the right exit code, no traceback
unless --debug; `load` skips what is not a Bundle and can move a Bundle's dates to today."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from fixtures.scenarios import SCENARIOS, file_name
from service.ops.redis_server import free_port
from tests.processes import LoggedProcess
from tests.support.session import ROOT, start_sekmet

TOH_CDS = ROOT / ".venv" / "bin" / "toh-cds"


def toh_cds(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in __import__("os").environ.items() if not key.startswith("TOH_")}
    return subprocess.run([str(TOH_CDS), *args], env=clean | env, capture_output=True, text=True, timeout=60)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_version() -> None:
    result = toh_cds("--version")
    assert result.returncode == 0 and result.stdout.strip() == "toh-cds, version 0.1.0"


def test_help_imports_no_command_dependencies() -> None:
    """--help must answer at once: it loads click and our command modules, none of what the commands use."""
    probe = (
        "import sys\nfrom service.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('pydantic', 'httpx', 'celery', 'redis', 'fastapi', 'rich', 'jwt', 'uvicorn')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(heavy)}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


def test_every_option_says_its_default() -> None:
    for command in ("hook", "subscribe", "load", "run", "api", "worker", "dead-letters"):
        result = toh_cds(command, "--help")
        assert result.returncode == 0, result.stderr
    assert "[default: toh-patient-view]" in toh_cds("hook", "--help").stdout
    assert "[default: backport]" in toh_cds("subscribe", "--help").stdout


def test_a_usage_error_exits_2() -> None:
    result = toh_cds("hook")
    assert result.returncode == 2
    assert "Missing option '--patient'" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TOH_API_PORT": "70000"}, "TOH_API_PORT: Input should be less than or equal to 65535 (got '70000')"),
        ({"TOH_CDS_ISSUERS": "{not json"}, "TOH_CDS_ISSUERS: not valid JSON"),
        ({"TOH_SCREENING__SEVERE_PAIN_SCORE": "high"}, "TOH_SCREENING__SEVERE_PAIN_SCORE: Input should be a valid"),
        ({"TOH_TASK_SOFT_TIME_LIMIT": "95"}, "task_soft_time_limit must be below task_time_limit"),
    ],
)
def test_an_invalid_setting_is_one_line_naming_the_variable(env: dict[str, str], expected: str) -> None:
    result = toh_cds("dead-letters", **env)
    assert result.returncode == 1
    assert expected in one_line(result)


def test_a_port_in_use_names_the_setting_and_exits_at_once() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = toh_cds("run", TOH_API_PORT=str(port), TOH_REDIS_URL="redis://127.0.0.1:1/0",
                         TOH_FHIR_BASE_URL="http://127.0.0.1:1/fhir")  # fmt: skip
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in one_line(result) and "TOH_API_PORT" in result.stderr


def test_no_redis_says_so(tmp_path: Path) -> None:
    result = toh_cds("dead-letters", TOH_REDIS_URL=f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    assert result.returncode == 1
    line = one_line(result)
    assert "no Redis answers at" in line and "make run" in line and "hunter2" not in line


def test_dead_letters_finds_the_running_redis(tmp_path: Path) -> None:
    from tests.support.session import SESSION_REDIS

    (tmp_path / "run.json").write_text(
        json.dumps({"pid": __import__("os").getpid(), "api": "http://127.0.0.1:1", "redis_url": SESSION_REDIS.url})
    )
    result = toh_cds("dead-letters", TOH_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "dead letter(s)" in result.stderr


def test_an_unreachable_api_is_one_line() -> None:
    result = toh_cds("hook", "--patient", "p", "--service-base", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "cannot reach" in one_line(result)


@pytest.fixture
def not_a_cds_service(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    server = LoggedProcess([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=tmp_path)
    server.wait_for("Serving HTTP", timeout=30)
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(not_a_cds_service: str) -> None:
    result = toh_cds("hook", "--patient", "p", "--service-base", not_a_cds_service)
    assert result.returncode == 1
    assert "404" in one_line(result) and "--debug" in result.stderr
    debugged = toh_cds("--debug", "hook", "--patient", "p", "--service-base", not_a_cds_service)
    assert debugged.returncode == 1 and "Traceback" in debugged.stderr


def test_load_skips_what_is_not_a_bundle_and_rebases_dates(tmp_path: Path) -> None:
    sekmet, fhir_base = start_sekmet(tmp_path / "sekmet")
    try:
        folder = tmp_path / "bundles"
        folder.mkdir()
        scenario = next(s for s in SCENARIOS if s.id == "01")
        source = ROOT / "fixtures" / "scenarios" / file_name(scenario)
        (folder / source.name).write_text(source.read_text())
        (folder / "expected.json").write_text('{"scenarios": []}')
        (folder / "broken.json").write_text("{")
        result = toh_cds("load", str(folder), "--fhir-base", fhir_base, "--rebase-dates")
        assert result.returncode == 0, result.stderr
        assert "skipped broken.json: not a FHIR Bundle" in result.stdout + result.stderr
        assert "1 loaded, 2 skipped, 0 failed" in result.stderr
        bundle = json.loads(source.read_text())
        patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        stored = httpx.get(f"{fhir_base}/Patient/{patient['id']}").json()
        shift = datetime.now(UTC).date() - datetime.fromisoformat(bundle["timestamp"]).date()
        born = datetime.fromisoformat(patient["birthDate"]).date() + shift
        assert stored["birthDate"] == born.isoformat()  # every date moved by the same days: her age is kept
    finally:
        sekmet.stop()
