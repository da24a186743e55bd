"""The first-hour loop of `toh-cds run` with no FHIR server configured: a dev CDS issuer, a notify token, and a
synthetic demo cohort on the embedded FHIR server, subscribed so that the workers screen it and write back.

Everything here is made once under the data directory and reused by every later start: keys (mode 0600) under
`keys/`, and a `fhir/seeded` mark once the cohort is in. The cohort is the fixture scenarios and the seed case at its
four stages, every date relative to the day of seeding; it needs the source tree (`fixtures/`), as `make run` has.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.fhir.subscribe import as_transaction, subscribe

__all__ = ["DEV_ISSUER", "DEV_KID", "DevIssuer", "cohort", "dev_issuer", "notify_token", "seed"]

DEV_ISSUER = "https://toh-cds-dev.local"
DEV_KID = "dev-1"


def _secret_file(path: Path, make: Callable[[], bytes]) -> bytes:
    """The file's content, made (mode 0600, never readable by others, even for an instant) when it does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(make())
    return path.read_bytes()


@dataclass(frozen=True)
class DevIssuer:
    issuer: str
    kid: str
    private_key_file: Path
    public_jwk: dict[str, Any]

    def trusted_as(self, fhir_base: str) -> dict[str, Any]:
        """TOH_CDS_ISSUERS for this issuer: its key pinned, bound to the embedded FHIR server."""
        jwks = {"keys": [self.public_jwk | {"kid": self.kid, "alg": "ES384", "use": "sig"}]}
        return {self.issuer: {"jwks": jwks, "fhir_servers": [fhir_base]}}


def dev_issuer(keys_dir: Path) -> DevIssuer:
    """The dev CDS issuer's ES384 key: made on first use, reused after."""
    path = keys_dir / "dev-issuer.pem"

    def make() -> bytes:
        return ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    key = serialization.load_pem_private_key(_secret_file(path, make), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return DevIssuer(DEV_ISSUER, DEV_KID, path, public)


def notify_token(keys_dir: Path) -> str:
    """The bearer token the embedded FHIR server sends with its notifications: made once, reused after."""
    return _secret_file(keys_dir / "notify-token", lambda: secrets.token_urlsafe(32).encode()).decode()


def cohort(now: datetime) -> Iterator[dict[str, Any]]:
    """The demo patients as transaction Bundles, each as of `now` (so the seed case is at its stage today)."""
    try:
        from fixtures.scenarios import SCENARIOS
    except ImportError:
        raise RuntimeError(
            "the demo cohort is built from the source tree's fixtures/: run from a clone, or set TOH_FHIR_BASE_URL"
        ) from None
    seen: set[str] = set()
    for scenario in SCENARIOS:
        record = scenario.build(now)
        if record.patient_id not in seen:  # a scenario and its variant (09 and 09b) share a patient
            seen.add(record.patient_id)
            yield as_transaction(record.bundle())


def seed(fhir_base: str, endpoint: str, token: str, now: datetime, mark: Path) -> int:
    """Subscribe the server to `endpoint` (backport, full resources), then load the cohort; returns its size.
    Subscribed first, so that loading the cohort notifies the API as any new data would."""
    with httpx.Client(timeout=30) as http:
        for subscribed in subscribe(http, fhir_base, endpoint, mode="backport", payload="full-resource", token=token):
            if subscribed.status != "active":
                raise RuntimeError(f"{subscribed.reference} is {subscribed.status}, not active")
        patients = 0
        for bundle in cohort(now):
            response = http.post(fhir_base, json=bundle, headers={"Content-Type": "application/fhir+json"})
            if response.status_code not in (200, 201):
                raise RuntimeError(f"loading the demo cohort: the FHIR server answered {response.status_code}")
            patients += 1
    mark.write_text(now.isoformat() + "\n")
    return patients
