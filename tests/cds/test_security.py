"""JWT verification (https://cds-hooks.hl7.org/2.0/#trusting-cds-clients) and the fhirServer allowlist."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.ops.redis_server import free_port
from tests.cds.conftest import BASE, ISSUER, Keys
from tests.screening.scenario_data import CASES

SEED = next(case for case in CASES if case.id == "01")
ENDPOINTS = ["toh-patient-view", "toh-order-select", "toh-order-sign", "toh-patient-view/feedback"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(audience: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {"iss": ISSUER, "aud": audience, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    values.update(changes)
    return {key: value for key, value in values.items() if value is not None}


def body_for(endpoint: str) -> dict[str, Any]:
    if endpoint.endswith("/feedback"):
        card = str(uuid.uuid4())
        return {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-01-15T10:00:00Z"}]}
    hook = {"toh-patient-view": "patient-view", "toh-order-select": "order-select", "toh-order-sign": "order-sign"}[
        endpoint
    ]
    context: dict[str, Any] = {"userId": "Practitioner/1", "patientId": "toh-01-index-antepartum"}
    if hook != "patient-view":
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": []}
    if hook == "order-select":
        context["selections"] = []
    prefetch = {
        "patient": SEED.resources[0],
        "conditions": _bundle(r for r in SEED.resources if r["resourceType"] != "Patient"),
    }
    prefetch.update(dict.fromkeys(("observations", "procedures", "encounters", "imagingStudies", "diagnosticReports", "medicationRequests", "medicationStatements", "documentReferences")))  # fmt: skip
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context, "prefetch": prefetch}


def _bundle(resources: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def attacks(keys: Keys) -> dict[str, Callable[[str], str]]:
    public_pem = keys.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    stranger = ec.generate_private_key(ec.SECP384R1())

    def sign(audience: str, key: Any = keys.ec, alg: str = "ES384", kid: str = "ec-1", **changes: Any) -> str:
        return jwt.encode(claims(audience, **changes), key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})

    def unsigned(audience: str) -> str:
        header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "ec-1"}).encode())
        return f"{header}.{b64(json.dumps(claims(audience)).encode())}."

    def hmac_with_public_key(audience: str) -> str:
        header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
        signing_input = f"{header}.{b64(json.dumps(claims(audience)).encode())}"
        return f"{signing_input}.{b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"

    def tampered(audience: str) -> str:
        header, _, signature = sign(audience).split(".")
        return f"{header}.{b64(json.dumps(claims(audience, tenant='another-hospital')).encode())}.{signature}"

    return {
        "alg-none": unsigned,
        "hs256-with-public-key": hmac_with_public_key,
        "expired": lambda aud: sign(aud, iat=int(time.time()) - 600, exp=int(time.time()) - 120),
        "issued-in-the-future": lambda aud: sign(aud, iat=int(time.time()) + 600, exp=int(time.time()) + 900),
        "lives-longer-than-an-hour": lambda aud: sign(aud, exp=int(time.time()) + 7200),
        "wrong-aud": lambda aud: sign(BASE + "/cds-services/someone-else"),
        "unknown-iss": lambda aud: sign(aud, key=stranger, iss="https://attacker.example"),
        "unknown-kid": lambda aud: sign(aud, kid="ec-9"),
        "wrong-key-for-kid": lambda aud: sign(aud, key=stranger),
        "missing-jti": lambda aud: sign(aud, jti=None),
        "missing-exp": lambda aud: sign(aud, exp=None),
        "es256-claimed-for-a-p384-key": lambda aud: jwt.encode(
            claims(aud), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "ec-1"}
        ),
        "tampered-payload": tampered,
        "stranger-key-with-its-jku": lambda aud: jwt.encode(
            claims(aud), stranger, algorithm="ES384", headers={"kid": "ec-1", "jku": "https://attacker.example/jwks"}
        ),
        "exp-as-a-numeric-string": lambda aud: sign(aud, exp=str(int(time.time()) + 300)),
        "not-a-jwt": lambda aud: "not.a.jwt",
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("signer", ["es384", "rs384"])
def test_valid_tokens_are_accepted(endpoint: str, signer: str, keys: Keys, make_client: Any) -> None:
    client, _ = make_client()
    token = getattr(keys, signer)().token(f"{BASE}/cds-services/{endpoint}")
    response = client.post(
        f"/cds-services/{endpoint}", json=body_for(endpoint), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text


ATTACKS = (
    "alg-none", "hs256-with-public-key", "expired", "issued-in-the-future", "lives-longer-than-an-hour", "wrong-aud",
    "unknown-iss", "unknown-kid", "wrong-key-for-kid", "missing-jti", "missing-exp", "es256-claimed-for-a-p384-key",
    "tampered-payload", "stranger-key-with-its-jku", "exp-as-a-numeric-string", "not-a-jwt",
)  # fmt: skip


def test_the_attack_list_is_the_attacks_defined(keys: Keys) -> None:
    assert set(ATTACKS) == set(attacks(keys))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("attack", ATTACKS)
def test_every_attack_gets_a_bare_401(endpoint: str, attack: str, keys: Keys, make_client: Any) -> None:
    client, _ = make_client()
    token = attacks(keys)[attack](f"{BASE}/cds-services/{endpoint}")
    response = client.post(
        f"/cds-services/{endpoint}", json=body_for(endpoint), headers={"Authorization": f"Bearer {token}"}
    )
    assert (response.status_code, response.content) == (401, b"")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_no_token_and_replayed_tokens_get_401(endpoint: str, keys: Keys, make_client: Any) -> None:
    client, _ = make_client()
    assert client.post(f"/cds-services/{endpoint}", json=body_for(endpoint)).status_code == 401
    token = keys.es384().token(f"{BASE}/cds-services/{endpoint}")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post(f"/cds-services/{endpoint}", json=body_for(endpoint), headers=headers).status_code == 200
    replay = client.post(f"/cds-services/{endpoint}", json=body_for(endpoint), headers=headers)
    assert (replay.status_code, replay.content) == (401, b"")


def test_keys_come_from_the_issuers_jwks_url(keys: Keys, make_client: Any, jwks_server: str) -> None:
    client, hook_client = make_client(cds_issuers={ISSUER: {"jwks_url": jwks_server}})
    response = client.post("/cds-services/toh-patient-view", json=body_for("toh-patient-view"),
                           headers={"Authorization": f"Bearer {keys.rs384().token(BASE + '/cds-services/toh-patient-view')}"})  # fmt: skip
    assert response.status_code == 200, response.text
    assert hook_client is not None


class Listener:
    """A real HTTP server that counts every request it receives and answers with a FHIR searchset."""

    def __init__(self, answer: Callable[[str], dict[str, Any]] | None = None) -> None:
        self.requests: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.requests.append(self.path)
                body = json.dumps(
                    (answer or (lambda _: {"resourceType": "Bundle", "type": "searchset"}))(self.path)
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.port}/fhir"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def jwks_server(keys: Keys) -> Iterator[str]:
    server = Listener(lambda _: keys.jwks())
    yield server.url + "/jwks.json"
    server.close()


def call(hook_client: Any, fhir_server: str, **extra: Any) -> Any:
    context = {"userId": "Practitioner/1", "patientId": "p1"}
    return hook_client.call("toh-patient-view", "patient-view", context, fhir_server=fhir_server, **extra)


@pytest.mark.parametrize(
    "where",
    ["listener", "listener-other-path", "listener-trailing-dot-host"],
)
def test_a_fhir_server_not_on_the_allowlist_is_never_contacted(
    where: str, listener: Listener, make_client: Any
) -> None:
    url = {
        "listener": listener.url,
        "listener-other-path": listener.url.replace("/fhir", "/other"),
        "listener-trailing-dot-host": listener.url.replace("127.0.0.1", "localhost."),
    }[where]
    _, hook_client = make_client(fhir_server_allowlist=["https://fhir.example.org/r4"])
    response = call(hook_client, url)
    assert response.status_code == 412
    assert "allowlist" in response.json()["issue"][0]["diagnostics"]
    assert listener.requests == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/fhir", "gopher://169.254.169.254/"])
def test_non_http_fhir_servers_are_refused_before_anything_is_sent(url: str, make_client: Any) -> None:
    _, hook_client = make_client(fhir_server_allowlist=[url])
    response = call(hook_client, url)
    assert response.status_code == 400
    assert "fhirServer" in response.json()["issue"][0]["diagnostics"]


def test_next_links_to_another_server_are_not_followed(make_client: Any) -> None:
    elsewhere = Listener()
    allowed = Listener(lambda path: {"resourceType": "Bundle", "type": "searchset",
                                     "link": [{"relation": "next", "url": elsewhere.url + "/Condition?page=2"}]})  # fmt: skip
    try:
        _, hook_client = make_client(fhir_server_allowlist=[allowed.url])
        response = call(hook_client, allowed.url)
        assert response.status_code == 412
        assert "outside the fhirServer" in response.json()["issue"][0]["diagnostics"]
        assert allowed.requests and elsewhere.requests == []
    finally:
        allowed.close()
        elsewhere.close()


def test_the_access_token_goes_to_the_fhir_server_and_nowhere_else(make_client: Any, listener: Listener) -> None:
    seen: list[str] = []
    original = listener.server.RequestHandlerClass.do_GET  # type: ignore[attr-defined]

    def record(handler: Any) -> None:
        seen.append(handler.headers.get("Authorization"))
        original(handler)

    listener.server.RequestHandlerClass.do_GET = record  # type: ignore[attr-defined]
    _, hook_client = make_client(fhir_server_allowlist=[listener.url])
    authorization = {"access_token": "secret-ehr-token", "token_type": "Bearer", "expires_in": 30,
                     "scope": "patient/*.read", "subject": "toh-cds"}  # fmt: skip
    response = call(hook_client, listener.url, fhir_authorization=authorization)
    assert response.status_code == 200
    assert seen and set(seen) == {"Bearer secret-ehr-token"}
