"""SMART App Launch 2.x, EHR launch, for the case view: discovery, the authorization request with PKCE S256, and
the code exchange. The OAuth 2.0 messages are authlib's (rfc6749 parameters, rfc7636 challenge); they travel on
the service's own bounded HTTP client, so every call has the same time and size limits as the rest.

https://build.fhir.org/ig/HL7/smart-app-launch/app-launch.html
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from service.core.http_client import BodyTooLarge, read_capped

__all__ = ["Launch", "LaunchError", "Token", "authorization_url", "discover", "exchange", "start_launch"]

MAX_DOCUMENT_BYTES = 256_000  # a smart-configuration or a token response larger than this is refused


class LaunchError(Exception):
    """The launch cannot go on; the message is safe to show (no token, no PHI)."""


@dataclass(frozen=True)
class Endpoints:
    authorize: str
    token: str
    scopes: str  # what to ask for: SMART v2 scopes where the server offers them, else v1


@dataclass(frozen=True)
class Launch:
    """What the callback needs, kept server-side under the OAuth state."""

    iss: str
    authorize: str
    token: str
    verifier: str
    binding: str  # also in a cookie: the callback comes from the browser that started the launch

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Launch:
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class Token:
    access_token: str
    patient: str
    expires_in: int


async def _json(http: httpx.AsyncClient, request: httpx.Request, what: str) -> dict[str, Any]:
    try:
        response = await http.send(request, stream=True)
        try:
            body = await read_capped(response, MAX_DOCUMENT_BYTES)
        finally:
            await response.aclose()
    except BodyTooLarge:
        raise LaunchError(f"the {what} is larger than {MAX_DOCUMENT_BYTES} bytes") from None
    except httpx.HTTPError as exc:
        raise LaunchError(f"the {what} could not be read ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise LaunchError(f"the {what} answered {response.status_code}")
    try:
        document = json.loads(body)
    except ValueError:
        raise LaunchError(f"the {what} is not JSON") from None
    if not isinstance(document, dict):
        raise LaunchError(f"the {what} is not a JSON object")
    return document


def _offers_app_launch(document: dict[str, Any]) -> bool:
    """Whether the server authorizes user-facing apps (an authorization code grant), not only backend services."""
    grants = document.get("grant_types_supported")
    capabilities = document.get("capabilities") or []
    return "launch-ehr" in capabilities or (isinstance(grants, list) and "authorization_code" in grants)


async def discover(http: httpx.AsyncClient, iss: str) -> Endpoints | None:
    """The server's SMART App Launch endpoints, or None when it advertises none (no smart-configuration, or one for
    backend services only, as sekmet-fhir's)."""
    url = f"{iss.rstrip('/')}/.well-known/smart-configuration"
    request = http.build_request("GET", url, headers={"Accept": "application/json"})
    try:
        document = await _json(http, request, "smart-configuration")
    except LaunchError as error:
        if "answered 404" in str(error):
            return None
        raise
    if not _offers_app_launch(document):
        return None
    authorize, token = document.get("authorization_endpoint"), document.get("token_endpoint")
    if not isinstance(authorize, str) or not isinstance(token, str):
        raise LaunchError("the smart-configuration names no authorization or token endpoint")
    if "S256" not in (document.get("code_challenge_methods_supported") or []):
        raise LaunchError("the authorization server does not offer PKCE S256")
    offered = document.get("scopes_supported") or []
    v2 = "permission-v2" in (document.get("capabilities") or []) or "patient/*.rs" in offered
    scopes = "launch openid fhirUser " + ("patient/*.rs" if v2 else "patient/*.read")
    return Endpoints(authorize, token, scopes)


def start_launch(iss: str, endpoints: Endpoints) -> tuple[str, Launch]:
    """A fresh OAuth state and what to keep under it."""
    return generate_token(32), Launch(iss, endpoints.authorize, endpoints.token, generate_token(64), generate_token(32))


def authorization_url(launch: Launch, state: str, scopes: str, client_id: str, redirect_uri: str, code: str) -> str:
    """The authorization request: `launch` is the EHR's launch id, `aud` the FHIR server."""
    url: str = prepare_grant_uri(
        launch.authorize, client_id, "code", redirect_uri=redirect_uri, scope=scopes, state=state, aud=launch.iss,
        launch=code, code_challenge=create_s256_code_challenge(launch.verifier), code_challenge_method="S256",
    )  # fmt: skip
    return url


async def exchange(
    http: httpx.AsyncClient, launch: Launch, code: str, client_id: str, secret: str | None, redirect_uri: str
) -> Token:
    """The authorization code for a token; the token response must name the patient (EHR launch context)."""
    form: str = prepare_token_request("authorization_code", code=code, redirect_uri=redirect_uri,
                                      code_verifier=launch.verifier, client_id=client_id)  # fmt: skip
    auth = httpx.BasicAuth(client_id, secret) if secret else None
    headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
    request = http.build_request("POST", launch.token, content=form.encode(), headers=headers)
    if auth is not None:
        request = next(auth.auth_flow(request))
    answer = await _json(http, request, "token endpoint")
    token, patient = answer.get("access_token"), answer.get("patient")
    if not isinstance(token, str) or not token:
        raise LaunchError("the token endpoint gave no access token")
    if not isinstance(patient, str) or not patient:
        raise LaunchError("the token response names no patient: launch the case view from a patient's chart")
    expires = answer.get("expires_in")
    lifetime = int(expires) if isinstance(expires, int | float) and expires > 0 else 300
    return Token(token, patient, min(lifetime, 3600))
