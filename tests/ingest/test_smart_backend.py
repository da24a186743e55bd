"""SMART Backend Services against sekmet-fhir enforcing it: client_credentials with a private_key_jwt assertion."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from fixtures.scenarios import SCENARIOS
from service.fhir.auth import SmartBackendAuth
from service.fhir.client import FhirClient, PermanentFhirError
from service.fhir.writeback import risk_assessment_id
from tests.ingest.pipeline import TOKEN, as_put_transaction, pipeline
from tests.processes import LoggedProcess
from tests.support.session import start_sekmet
from tests.waiting import eventually

ADMIN = "admin-token-for-test-data"
PATIENT = "toh-smart-backend"


def pem(key: Any) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()  # fmt: skip


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "RS384": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ES384": ec.generate_private_key(ec.SECP384R1()),
    }


CLIENTS = {"RS384": ("toh-cds", "rsa-1"), "ES384": ("toh-cds-ec", "ec-1")}


def sekmet_yaml(keys: dict[str, Any]) -> str:
    # One key per client: sekmet tries every key of a client and answers 500 when an ES384 assertion meets an RSA
    # key (a peer bug, worked around here).
    rsa_jwks = {
        "keys": [json.loads(RSAAlgorithm.to_jwk(keys["RS384"].public_key())) | {"kid": "rsa-1", "alg": "RS384"}]
    }
    ec_jwks = {"keys": [json.loads(ECAlgorithm.to_jwk(keys["ES384"].public_key())) | {"kid": "ec-1", "alg": "ES384"}]}
    return (
        "server_auth:\n  types: [smart, bearer]\n"
        f"  tokens: [{ADMIN}]\n"
        "  smart_clients:\n"
        f"    - client_id: toh-cds\n      jwks: {json.dumps(rsa_jwks)}\n      scopes: 'system/*.*'\n"
        f"    - client_id: toh-cds-ec\n      jwks: {json.dumps(ec_jwks)}\n      scopes: 'system/*.*'\n"
    )


@pytest.fixture(scope="module")
def server(keys: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoggedProcess, str]]:
    process, base = start_sekmet(tmp_path_factory.mktemp("smart") / "sekmet", extra_yaml=sekmet_yaml(keys))
    resources = json.loads(json.dumps(next(s for s in SCENARIOS if s.id == "seed-1").build(datetime.now(UTC)).resources)
                           .replace("toh-seed-stage-1", PATIENT))  # fmt: skip
    loaded = httpx.post(base, content=as_put_transaction(resources),
                        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/fhir+json"})  # fmt: skip
    assert loaded.status_code == 200, loaded.text[:300]
    yield process, base
    process.stop()


@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
def test_records_are_read_with_one_cached_token(
    algorithm: str, keys: dict[str, Any], server: tuple[LoggedProcess, str]
) -> None:
    client_id, kid = CLIENTS[algorithm]
    process, base = server
    with httpx.Client(timeout=30) as http:
        assert httpx.get(f"{base}/Patient/{PATIENT}").status_code == 401  # the server really requires auth
        auth = SmartBackendAuth(base, http, client_id=client_id, private_key=pem(keys[algorithm]), key_id=kid,
                                algorithm=algorithm)  # fmt: skip
        client = FhirClient(base, http, auth=auth)
        tokens_before = sum("token" in line and "POST" in line for line in process.lines)
        for _ in range(3):
            record = client.record(PATIENT)
        tokens_after = sum("token" in line and "POST" in line for line in process.lines)
    assert {r["resourceType"] for r in record} >= {"Patient", "Condition", "Observation"}
    assert tokens_after - tokens_before == 1  # 27 requests, one token


def test_an_unregistered_key_is_refused_for_good(server: tuple[LoggedProcess, str]) -> None:
    _, base = server
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with httpx.Client(timeout=30) as http:
        auth = SmartBackendAuth(base, http, client_id="toh-cds", private_key=pem(stranger), key_id="rsa-1")
        with pytest.raises(PermanentFhirError, match="token endpoint refused"):
            FhirClient(base, http, auth=auth).read(f"Patient/{PATIENT}")


def test_the_pipeline_writes_back_with_smart_auth(keys: dict[str, Any], tmp_path: Path) -> None:
    key_file = tmp_path / "toh-cds.pem"
    key_file.write_text(pem(keys["ES384"]))
    settings = {"TOH_FHIR_AUTH": "smart", "TOH_FHIR_CLIENT_ID": "toh-cds-ec", "TOH_FHIR_PRIVATE_KEY_FILE": str(key_file),
                "TOH_FHIR_KEY_ID": "ec-1", "TOH_FHIR_SIGNING_ALG": "ES384"}  # fmt: skip
    with pipeline(tmp_path / "stack", sekmet_yaml=sekmet_yaml(keys), **settings) as stack:
        resources = json.loads(json.dumps(next(s for s in SCENARIOS if s.id == "seed-1").build(datetime.now(UTC)).resources)
                               .replace("toh-seed-stage-1", PATIENT))  # fmt: skip
        admin = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/fhir+json"}
        assert httpx.post(stack.sekmet, content=as_put_transaction(resources), headers=admin).status_code == 200
        observation = next(r for r in resources if r["resourceType"] == "Observation")
        notified = httpx.put(f"{stack.api}/fhir/notifications/Observation/{observation['id']}", json=observation,
                             headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
        assert notified.status_code == 200
        risk = f"{stack.sekmet}/RiskAssessment/{risk_assessment_id(PATIENT)}"
        eventually(lambda: httpx.get(risk, headers={"Authorization": f"Bearer {ADMIN}"}).status_code, lambda s: s == 200,
                   timeout=60)  # fmt: skip
