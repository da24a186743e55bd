"""A rate limit per JWT issuer: a runaway EHR gets 429 with Retry-After; another issuer is served meanwhile."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from service.core.rate_limit import RateLimiter
from service.ops.hook_client import JwtSigner
from tests.cds.conftest import BASE, ISSUER, Keys
from tests.cds.test_security import ENDPOINTS, body_for

OTHER = "https://other-ehr.example.org"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_issuer_over_its_limit_gets_429_and_another_is_still_served(
    endpoint: str, keys: Keys, make_client: Any
) -> None:
    other_key = ec.generate_private_key(ec.SECP384R1())
    other_jwks = {"keys": [json.loads(ECAlgorithm.to_jwk(other_key.public_key())) | {"kid": "o-1"}]}
    issuers = {ISSUER: {"jwks": keys.jwks()}, OTHER: {"jwks": other_jwks}}
    client, _ = make_client(cds_rate_limit_per_minute=60, cds_issuers=issuers)  # bursts of 10
    url = f"{BASE}/cds-services/{endpoint}"

    def call(signer: JwtSigner) -> Any:
        token = signer.token(url)
        return client.post(f"/cds-services/{endpoint}", json=body_for(endpoint), headers={"Authorization": f"Bearer {token}"})  # fmt: skip

    statuses = [call(keys.es384()).status_code for _ in range(12)]
    assert statuses[:10] == [200] * 10 and statuses[10:] == [429, 429]
    refused = call(keys.es384())
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "Too many requests" in refused.json()["issue"][0]["diagnostics"]
    assert call(JwtSigner(OTHER, "o-1", other_key, "ES384")).status_code == 200


def test_a_failed_authentication_does_not_count(keys: Keys, make_client: Any) -> None:
    client, _ = make_client(cds_rate_limit_per_minute=60)
    for _ in range(15):
        assert client.post("/cds-services/toh-patient-view", json={}).status_code == 401
    token = keys.es384().token(f"{BASE}/cds-services/toh-patient-view")
    response = client.post("/cds-services/toh-patient-view", json=body_for("toh-patient-view"),
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 200


def test_the_bucket_refills_at_the_configured_rate() -> None:
    limiter = RateLimiter(60, what="test")  # one a second, bursts of 10
    for _ in range(10):
        limiter.check("a", now=100.0)
    with pytest.raises(Exception, match="retry in 1 s"):
        limiter.check("a", now=100.0)
    limiter.check("a", now=101.0)  # one second later: one more token
    limiter.check("b", now=101.0)  # callers are counted apart
    RateLimiter(0, what="test").check("a")  # 0: no limit at all
