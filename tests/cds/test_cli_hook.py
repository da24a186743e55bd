"""`toh-cds hook` against the API under uvicorn and sekmet-fhir: the whole path an EHR takes, over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from service.ops.redis_server import free_port
from tests.cds.conftest import ISSUER, Keys, Loaded
from tests.processes import LISTENING, LoggedProcess
from tests.support.session import service_env


@pytest.fixture(scope="module")
def api(keys: Keys, fhir_server: str) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = service_env(
        TOH_PUBLIC_BASE_URL=base,
        TOH_CDS_ISSUERS=json.dumps({ISSUER: {"jwks": keys.jwks()}}),
        TOH_FHIR_SERVER_ALLOWLIST=json.dumps([fhir_server]),
    )
    process = LoggedProcess([sys.executable, "-m", "service.cli", "api", "--port", str(port)], env=env)
    process.wait_for(LISTENING)
    yield base
    process.stop()


def hook(api: str, keys: Keys, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    pem = tmp_path / "ehr-key.pem"
    pem.write_bytes(
        keys.ec.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    command = [sys.executable, "-m", "service.cli", "hook", "--service-base", api, "--private-key", str(pem),
               "--issuer", ISSUER, "--kid", "ec-1", *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=service_env())


def topics(output: str) -> list[str]:
    body: dict[str, Any] = json.loads(output)
    return [card["source"]["topic"]["code"] for card in body["cards"]]


def test_patient_view_with_prefetch_filled_from_discovery(
    api: str, keys: Keys, tmp_path: Path, fhir_server: str, loaded_fhir: dict[str, Loaded]
) -> None:
    result = hook(
        api, keys, tmp_path, "--patient", loaded_fhir["01"].patient_id, "--fhir-server", fhir_server, "--prefetch"
    )
    assert result.returncode == 0, result.stderr
    assert topics(result.stdout) == ["toh-consider"]


def test_order_sign_fetching_everything_itself(
    api: str, keys: Keys, tmp_path: Path, fhir_server: str, loaded_fhir: dict[str, Loaded]
) -> None:
    loaded = loaded_fhir["15"]
    drafts = tmp_path / "drafts.json"
    drafts.write_text(
        json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in loaded.drafts]})
    )
    result = hook(api, keys, tmp_path, "--service-id", "toh-order-sign", "--patient", loaded.patient_id,
                  "--fhir-server", fhir_server, "--draft-orders", str(drafts))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert topics(result.stdout) == ["antiresorptive-caution"]
    assert json.loads(result.stdout)["cards"][0]["indicator"] == "critical"


def test_an_unsigned_call_is_refused(api: str, loaded_fhir: dict[str, Loaded]) -> None:
    command = [
        sys.executable,
        "-m",
        "service.cli",
        "hook",
        "--service-base",
        api,
        "--patient",
        loaded_fhir["01"].patient_id,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=service_env())
    assert (result.returncode, result.stdout.strip()) == (1, "HTTP 401")
