"""How the workers authenticate to the FHIR server: nothing, a static bearer token, or SMART Backend Services
(OAuth 2.0 client_credentials with a private_key_jwt assertion, RS384 or ES384; the token is cached until shortly
before it expires). https://hl7.org/fhir/smart-app-launch/backend-services.html"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt

from service.fhir.client import PermanentFhirError, RetryableFhirError
from service.settings import Settings

__all__ = ["SmartBackendAuth", "auth_for"]

AuthHeaders = Callable[[], dict[str, str]]


class SmartBackendAuth:
    def __init__(
        self,
        fhir_base: str,
        http: httpx.Client,
        *,
        client_id: str,
        private_key: str,
        key_id: str,
        algorithm: str = "RS384",
        scope: str = "system/*.read system/RiskAssessment.write system/Provenance.write",
        token_url: str | None = None,
    ) -> None:
        self.fhir_base = fhir_base.rstrip("/")
        self.http = http
        self.client_id = client_id
        self.private_key = private_key
        self.key_id = key_id
        self.algorithm = algorithm
        self.scope = scope
        self.token_url = token_url
        self._token: tuple[str, float] | None = None  # (access token, monotonic expiry)
        self._lock = threading.Lock()

    def _discover(self) -> str:
        response = self.http.get(
            f"{self.fhir_base}/.well-known/smart-configuration", headers={"Accept": "application/json"}
        )
        if response.status_code != 200 or "token_endpoint" not in response.json():
            raise PermanentFhirError("the FHIR server publishes no SMART token endpoint")
        url: str = response.json()["token_endpoint"]
        return url

    def _assertion(self, token_url: str) -> str:
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": token_url, "iat": now, "exp": now + 300,
                  "jti": str(uuid.uuid4())}  # fmt: skip
        return jwt.encode(
            claims, self.private_key, algorithm=self.algorithm, headers={"kid": self.key_id, "typ": "JWT"}
        )

    def _fetch(self) -> tuple[str, float]:
        self.token_url = self.token_url or self._discover()
        form = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self._assertion(self.token_url),
        }
        try:
            response = self.http.post(self.token_url, data=form, headers={"Accept": "application/json"})
        except httpx.TransportError as exc:
            raise RetryableFhirError(f"token endpoint: {type(exc).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableFhirError(f"token endpoint answered {response.status_code}", status=response.status_code)
        if response.status_code != 200:
            raise PermanentFhirError(f"token endpoint refused us ({response.status_code})", status=response.status_code)
        body = response.json()
        lifetime = float(body.get("expires_in", 300))
        return str(body["access_token"]), time.monotonic() + max(lifetime - 30, lifetime / 2)

    def __call__(self) -> dict[str, str]:
        with self._lock:
            if self._token is None or time.monotonic() >= self._token[1]:
                self._token = self._fetch()
            return {"Authorization": f"Bearer {self._token[0]}"}

    def invalidate(self) -> None:
        with self._lock:
            self._token = None


def auth_for(settings: Settings, fhir_base: str, http: httpx.Client) -> AuthHeaders | None:
    if settings.fhir_auth == "bearer" and settings.fhir_bearer_token is not None:
        header = {"Authorization": f"Bearer {settings.fhir_bearer_token.get_secret_value()}"}
        return lambda: header
    if settings.fhir_auth == "smart":
        if not (settings.fhir_client_id and settings.fhir_private_key_file and settings.fhir_key_id):
            raise PermanentFhirError("SMART backend auth needs TOH_FHIR_CLIENT_ID, _PRIVATE_KEY_FILE and _KEY_ID")
        return SmartBackendAuth(
            fhir_base,
            http,
            client_id=settings.fhir_client_id,
            private_key=Path(settings.fhir_private_key_file).read_text(),
            key_id=settings.fhir_key_id,
            algorithm=settings.fhir_signing_alg,
            scope=settings.fhir_scopes,
            token_url=settings.fhir_token_url,
        )
    return None
