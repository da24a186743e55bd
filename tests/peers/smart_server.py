"""A SMART authorization server for tests, on authlib's OAuth 2.0 server (Flask), in front of sekmet-fhir.

What an EHR's server does in an EHR launch: the EHR registers a launch id for the open chart's patient; the app is
sent to /authorize with that launch id, PKCE S256 is required, the user (already signed in to the EHR) approves,
and the token response carries the launch context (`patient`). Under /fhir/ it is the FHIR server the token is for:
`.well-known/smart-configuration` names the endpoints, every other request needs a live token for the launched
patient and is passed on to sekmet-fhir.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

__all__ = ["SmartServer"]

SCOPES = "launch openid fhirUser patient/*.rs patient/*.read"


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    redirect_uri: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in SCOPES.split())

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # a public client

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    patient: str
    code_challenge: str
    code_challenge_method: str
    issued: float = field(default_factory=time.time)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class SmartServer:
    """Serves on 127.0.0.1 in a thread; `fhir` is the `iss` an EHR launch names."""

    def __init__(self, upstream: str, redirect_uri: str, client_id: str = "toh-cds") -> None:
        self.upstream = upstream.rstrip("/")
        self.client = Client(client_id, redirect_uri)
        self.launches: dict[str, str] = {}  # launch id -> patient
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # access token -> (patient, expiry)
        self.seen: list[str] = []  # "METHOD path?query" of every request: for the no-PHI-in-URLs check
        self.app = self._app()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self.fhir = f"{self.url}/fhir"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> SmartServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def launch(self, patient: str) -> str:
        """What the EHR does when the user opens the card link from a chart: a launch id for that patient."""
        launch_id = secrets.token_urlsafe(16)
        self.launches[launch_id] = patient
        return launch_id

    def _grant(self) -> type[grants.AuthorizationCodeGrant]:
        server = self

        class Grant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]

            def save_authorization_code(self, code: str, req: Any) -> None:
                patient = server.launches.pop(req.payload.data.get("launch", ""), None)
                if patient is None:
                    raise ValueError("unknown launch")
                server.codes[code] = Code(code, req.client.client_id, req.payload.redirect_uri, req.payload.scope,
                                          patient, req.payload.data.get("code_challenge"),
                                          req.payload.data.get("code_challenge_method"))  # fmt: skip

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = server.codes.get(code)
                return found if found and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                server.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> object:
                return {"id": "Practitioner/ehr-user"}

            def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
                code: Code = self.request.authorization_code
                status, token, headers = super().create_token_response()
                token["patient"] = code.patient  # the launch context
                server.tokens[token["access_token"]] = (code.patient, time.time() + token["expires_in"])
                return status, token, headers

        return Grant

    def _app(self) -> Flask:
        app = Flask("smart-test-server")
        authorization = AuthorizationServer(app, query_client=lambda cid: self.client if cid == self.client.client_id else None,
                                            save_token=lambda token, req: None)  # fmt: skip
        authorization.register_grant(self._grant(), [CodeChallenge(required=True)])

        @app.before_request
        def _record() -> None:
            self.seen.append(f"{request.method} {request.full_path}")

        @app.get("/fhir/.well-known/smart-configuration")
        def configuration() -> Response:
            return jsonify({
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "code_challenge_methods_supported": ["S256"],
                "capabilities": ["launch-ehr", "client-public", "context-ehr-patient", "permission-v2"],
                "scopes_supported": SCOPES.split(),
            })  # fmt: skip

        @app.get("/authorize")
        def authorize() -> Response:
            # The user is signed in to the EHR and approves the app it launched.
            user = {"id": "Practitioner/ehr-user"}
            grant = authorization.get_consent_grant(end_user=user)
            result: Response = authorization.create_authorization_response(grant_user=user, grant=grant)
            return result

        @app.post("/token")
        def token() -> Response:
            result: Response = authorization.create_token_response()
            return result

        @app.route("/fhir/<path:rest>", methods=["GET"])
        def fhir(rest: str) -> Response:
            bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
            patient, expiry = self.tokens.get(bearer, ("", 0.0))
            if not patient or expiry < time.time():
                return Response('{"resourceType": "OperationOutcome"}', status=401, mimetype="application/fhir+json")
            query = urlsplit(request.full_path).query
            upstream = httpx.get(f"{self.upstream}/{rest}" + (f"?{query}" if query else ""), timeout=30,
                                 headers={"Accept": "application/fhir+json"})  # fmt: skip
            body = upstream.content.replace(self.upstream.encode(), self.fhir.encode())  # next links point here
            return Response(body, status=upstream.status_code, mimetype="application/fhir+json")

        return app
