"""HealthChain's sandbox client (PyPI `healthchain`, in its own venv) as a CDS Hooks caller of the running API."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.ops.redis_server import free_port
from tests.cds.conftest import Loaded
from tests.processes import LISTENING, LoggedProcess, event_of
from tests.support.session import ROOT, service_env

HEALTHCHAIN = ROOT / ".venv-healthchain" / "bin" / "python"


@pytest.fixture(scope="module")
def open_api(fhir_server: str) -> Iterator[tuple[LoggedProcess, str]]:
    """The API with JWTs off: HealthChain's client cannot sign requests."""
    port = free_port()
    env = service_env(TOH_CDS_REQUIRE_AUTH="false", TOH_FHIR_SERVER_ALLOWLIST=json.dumps([fhir_server]))
    process = LoggedProcess([sys.executable, "-m", "service.cli", "api", "--port", str(port)], env=env)
    process.wait_for(LISTENING)
    yield process, f"http://127.0.0.1:{port}"
    process.stop()


def test_healthchain_gets_cards_and_never_a_server_error(
    open_api: tuple[LoggedProcess, str], fhir_server: str, loaded_fhir: dict[str, Loaded]
) -> None:
    assert HEALTHCHAIN.exists(), "run `make setup`"
    process, base = open_api
    assert '"cds.auth_disabled"' in "\n".join(process.lines)  # the contract: a warning at start-up
    script = Path(__file__).resolve().parent.parent / "peers" / "healthchain_call.py"
    result = subprocess.run(
        [str(HEALTHCHAIN), str(script), f"{base}/cds-services/toh-patient-view", fhir_server, loaded_fhir["01"].patient_id],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    responses = json.loads(result.stdout.strip().splitlines()[-1])
    assert [card["summary"] for card in responses["ours"]["cards"]]
    assert responses["ours"]["cards"][0]["indicator"] == "warning"
    statuses = [event_of(line)["status"] for line in process.lines
                if event_of(line).get("route") == "/cds-services/{service_id}"]  # fmt: skip
    assert statuses == [412, 200]  # its own shape: data missing and nowhere to fetch it; never a 500
