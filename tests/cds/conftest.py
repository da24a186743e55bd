"""A CDS Hooks client's keys, an app that trusts them, and a FHIR server holding every scenario patient."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from fixtures.scenarios import SCENARIOS, Scenario
from service.main import create_app
from service.ops.hook_client import HookClient, JwtSigner
from service.settings import Settings

ISSUER = "https://ehr.example.org"
BASE = "http://testserver"


@dataclass(frozen=True)
class Keys:
    ec: ec.EllipticCurvePrivateKey
    rsa: rsa.RSAPrivateKey

    def jwks(self) -> dict[str, Any]:
        ec_jwk = json.loads(ECAlgorithm.to_jwk(self.ec.public_key())) | {"kid": "ec-1", "use": "sig"}
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self.rsa.public_key())) | {"kid": "rsa-1", "use": "sig"}
        return {"keys": [ec_jwk, rsa_jwk]}

    def es384(self) -> JwtSigner:
        return JwtSigner(ISSUER, "ec-1", self.ec, "ES384")

    def rs384(self) -> JwtSigner:
        return JwtSigner(ISSUER, "rsa-1", self.rsa, "RS384")


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(ec.generate_private_key(ec.SECP384R1()), rsa.generate_private_key(public_exponent=65537, key_size=2048))


def cds_settings(keys: Keys, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"public_base_url": BASE, "cds_issuers": {ISSUER: {"jwks": keys.jwks()}}}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_client(keys: Keys) -> Iterator[Any]:
    """make_client(**settings) -> (TestClient, HookClient signing with ES384); lifespans closed after the test."""
    opened: list[TestClient] = []
    fhir_http = httpx.Client(timeout=30)

    def make(**overrides: Any) -> tuple[TestClient, HookClient]:
        client = TestClient(create_app(cds_settings(keys, **overrides)))
        client.__enter__()
        opened.append(client)
        return client, HookClient(BASE, signer=keys.es384(), http=client, fhir_http=fhir_http)

    yield make
    for client in opened:
        client.__exit__(None, None, None)
    fhir_http.close()


@dataclass(frozen=True)
class Loaded:
    scenario: Scenario
    resources: list[dict[str, Any]]

    @property
    def patient_id(self) -> str:
        return str(self.resources[0]["id"])

    @property
    def drafts(self) -> list[dict[str, Any]]:
        return [r for r in self.resources if r.get("status") == "draft"]


@pytest.fixture(scope="session")
def loaded_fhir(fhir_server: str) -> dict[str, Loaded]:
    """Every scenario built for today and PUT to sekmet-fhir in one transaction each (ids kept)."""
    loaded: dict[str, Loaded] = {}
    now = datetime.now(UTC)
    with httpx.Client(timeout=30) as http:
        for scenario in SCENARIOS:
            if scenario.config:
                continue  # same patient as its base scenario, with another configuration
            resources = scenario.build(now).resources
            transaction = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                    for r in resources
                ],
            }
            response = http.post(fhir_server, json=transaction, headers={"Content-Type": "application/fhir+json"})
            assert response.status_code == 200, response.text[:500]
            loaded[scenario.id] = Loaded(scenario, resources)
    return loaded
