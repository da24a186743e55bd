"""A discovery-driven CDS Hooks client, as an EHR would be: read discovery, fill each prefetch template from the
FHIR server, sign a JWT for the exact endpoint, call the hook. Used by the tests and by `toh-cds hook`."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import jwt

from service.fhir.client import FhirClient

__all__ = ["HookClient", "JwtSigner"]

_TOKEN = re.compile(r"\{\{\s*([A-Za-z.]+)\s*\}\}")


@dataclass(frozen=True)
class JwtSigner:
    issuer: str
    kid: str
    private_key: Any  # a cryptography private key, or PEM text
    algorithm: str = "ES384"
    lifetime_seconds: int = 300

    def token(self, audience: str, **extra: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": audience,
            "iat": now,
            "exp": now + self.lifetime_seconds,
            "jti": str(uuid.uuid4()),
        }
        claims.update(extra)
        return jwt.encode(claims, self.private_key, algorithm=self.algorithm, headers={"kid": self.kid, "typ": "JWT"})


class HookClient:
    def __init__(
        self,
        service_base: str,
        *,
        signer: JwtSigner | None = None,
        http: httpx.Client | None = None,
        fhir_http: httpx.Client | None = None,
    ) -> None:
        self.base = service_base.rstrip("/")
        self.signer = signer
        self.http = http or httpx.Client(timeout=30)  # to the CDS service
        self.fhir_http = fhir_http or httpx.Client(timeout=30)  # to the FHIR server, as the EHR itself would
        self._owned = [c for c, given in ((self.http, http), (self.fhir_http, fhir_http)) if given is None]

    def close(self) -> None:
        """Close the HTTP clients this client made (not those it was given)."""
        for client in self._owned:
            client.close()

    def __enter__(self) -> HookClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _headers(self, path: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.signer is not None:
            headers["Authorization"] = f"Bearer {self.signer.token(self.base + path)}"
        return headers

    def discover(self) -> dict[str, dict[str, Any]]:
        response = self.http.get(f"{self.base}/cds-services", headers=self._headers("/cds-services"))
        response.raise_for_status()
        return {service["id"]: service for service in response.json()["services"]}

    def fill_prefetch(self, service: dict[str, Any], fhir_server: str, context: dict[str, Any]) -> dict[str, Any]:
        """Execute every template: a read gives the resource (or null), a search one searchset with all its pages,
        read by the workers' FhirClient (its page cap and size limits; links followed on `fhir_server` only)."""
        fhir = FhirClient(fhir_server, self.fhir_http)
        prefetch: dict[str, Any] = {}
        for key, template in service.get("prefetch", {}).items():

            def token(match: re.Match[str]) -> str:
                name = match.group(1)
                value = context.get(name.removeprefix("context.")) if name.startswith("context.") else None
                if not isinstance(value, str):
                    raise ValueError(f"prefetch token {name} has no value in this context")
                return quote(value, safe="")

            query = _TOKEN.sub(token, template)
            if "?" not in query:
                prefetch[key] = fhir.read(query)
                continue
            found = fhir.search(query)
            entries = [{"resource": resource} for resource in found]
            prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
        return prefetch

    def call(
        self,
        service_id: str,
        hook: str,
        context: dict[str, Any],
        *,
        prefetch: dict[str, Any] | None = None,
        fhir_server: str | None = None,
        fhir_authorization: dict[str, Any] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
        if fhir_server is not None:
            body["fhirServer"] = fhir_server
        if fhir_authorization is not None:
            body["fhirAuthorization"] = fhir_authorization
        if prefetch is not None:
            body["prefetch"] = prefetch
        path = f"/cds-services/{service_id}"
        return self.http.post(self.base + path, json=body, headers=self._headers(path))
