"""The case view: a SMART on FHIR app launched from a card's link (`type: "smart"`), server-rendered.

/app/launch     EHR launch: `iss` must be allowlisted; discovery, then the authorization request (PKCE S256), with
                the OAuth state kept in Redis and bound to a cookie of this browser
/app/callback   the code for a token; the token stays in Redis for its lifetime, the browser gets a session id only
/app/case       the launched patient's case page: its record read with the launch token, through the hooks' code
/app/, /app/demo/{patient_id}   demo mode only (TOH_APP_DEMO and a FHIR server without SMART): no launch

No script on any page (CSP), no token or patient data in a URL or a log line; a session shows its own patient only.
"""

from __future__ import annotations

import hmac
import json
import secrets
import uuid
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from redis.exceptions import RedisError

from service.api.deps import HttpDep, RedisDep, SettingsDep
from service.caseview import smart
from service.caseview.page import case_page, markdown_lite
from service.cds.hooks import record_for
from service.cds.prefetch import is_allowlisted
from service.cds.request import FhirAuthorization, HookRequest
from service.core.errors import ProblemError
from service.pipeline.store import app_launch_key, app_session_key
from service.screening import RULES_VERSION
from service.settings import Settings

__all__ = ["router"]

log = structlog.get_logger("toh.app")
router = APIRouter(prefix="/app", tags=["case-view"], include_in_schema=False)
LAUNCH_SECONDS = 600
LAUNCH_COOKIE, SESSION_COOKIE = "toh_launch", "toh_session"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_pages = Environment(loader=PackageLoader("service.caseview", "templates"), autoescape=select_autoescape())
_pages.filters["markdown"] = markdown_lite


def _html(template: str, settings: Settings, **values: Any) -> HTMLResponse:
    static = f"{settings.public_base_url}/app/static"
    text = _pages.get_template(template).render(static=static, rules_version=RULES_VERSION, **values)
    return HTMLResponse(text, headers=HEADERS)


def _secure(settings: Settings) -> bool:
    """Cookies are Secure everywhere but plain http on loopback (make run)."""
    url = urlsplit(settings.public_base_url)
    return url.scheme == "https" or url.hostname not in ("127.0.0.1", "localhost", "::1")


def _redirect_uri(settings: Settings) -> str:
    return f"{settings.public_base_url}/app/callback"


@router.get("/static/case.css")
async def stylesheet() -> Response:
    text = resources.files("service.caseview").joinpath("static", "case.css").read_text(encoding="utf-8")
    return Response(text, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/launch")
async def launch(iss: str, launch: str, settings: SettingsDep, http: HttpDep, redis: RedisDep) -> Response:
    if not is_allowlisted(iss, settings.fhir_server_allowlist):
        raise ProblemError(400, "This FHIR server (iss) is not on the service's allowlist: it is never contacted")
    try:
        endpoints = await smart.discover(http, iss)
    except smart.LaunchError as error:
        raise ProblemError(502, f"SMART discovery failed: {error}") from None
    if endpoints is None:
        raise ProblemError(400, "The FHIR server advertises no SMART authorization (.well-known/smart-configuration)")
    state, started = smart.start_launch(iss.rstrip("/"), endpoints)
    await redis.set(app_launch_key(state), started.to_json(), ex=LAUNCH_SECONDS)
    url = smart.authorization_url(started, state, endpoints.scopes, settings.app_client_id,
                                  _redirect_uri(settings), launch)  # fmt: skip
    response = RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
    response.set_cookie(LAUNCH_COOKIE, started.binding, max_age=LAUNCH_SECONDS, path="/app", httponly=True,
                        secure=_secure(settings), samesite="lax")  # fmt: skip
    return response


@router.get("/callback")
async def callback(request: Request, settings: SettingsDep, http: HttpDep, redis: RedisDep) -> Response:
    code, state = request.query_params.get("code"), request.query_params.get("state")
    if request.query_params.get("error"):
        raise ProblemError(400, "The authorization server refused the launch")
    if not code or not state:
        raise ProblemError(400, "The callback needs code and state")
    raw = await redis.getdel(app_launch_key(state))
    if raw is None:
        raise ProblemError(400, "Unknown or expired launch: open the case view from the card again")
    started = smart.Launch.from_json(raw)
    binding = request.cookies.get(LAUNCH_COOKIE, "")
    if not hmac.compare_digest(binding, started.binding):  # CSRF: another browser's code must not log this one in
        raise ProblemError(403, "This launch was started in another browser")
    secret = settings.app_client_secret.get_secret_value() if settings.app_client_secret else None
    try:
        token = await smart.exchange(http, started, code, settings.app_client_id, secret, _redirect_uri(settings))
    except smart.LaunchError as error:
        raise ProblemError(502, f"The code exchange failed: {error}") from None
    session_id = secrets.token_urlsafe(32)
    held = {"iss": started.iss, "patient": token.patient, "token": token.access_token}
    await redis.set(app_session_key(session_id), json.dumps(held), ex=token.expires_in)
    log.info("app.launched", lifetime_seconds=token.expires_in)
    response = RedirectResponse(
        f"{settings.public_base_url}/app/case", status_code=303, headers={"Cache-Control": "no-store"}
    )
    response.delete_cookie(LAUNCH_COOKIE, path="/app")
    response.set_cookie(SESSION_COOKIE, session_id, max_age=token.expires_in, path="/app", httponly=True,
                        secure=_secure(settings), samesite="lax")  # fmt: skip
    return response


async def _page(
    settings: Settings, http: HttpDep, fhir_base: str, patient: str, token: str | None, demo: bool
) -> HTMLResponse:
    authorization = None
    if token is not None:
        authorization = FhirAuthorization(access_token=token, token_type="Bearer", expires_in=300,
                                          scope="patient/*.rs", subject=settings.app_client_id, patient=patient)  # fmt: skip
    request = HookRequest(hook="patient-view", hookInstance=uuid.uuid4(), fhirServer=fhir_base,
                          fhirAuthorization=authorization, context={"patientId": patient, "userId": "app"})  # fmt: skip
    record = await record_for(request, settings, http, [*settings.fhir_server_allowlist, fhir_base])
    page = case_page(record.resources, patient, datetime.now(UTC), settings.screening, settings.public_base_url)
    return _html("case.html", settings, page=page, demo=demo)


@router.get("/case")
async def case(request: Request, settings: SettingsDep, http: HttpDep, redis: RedisDep) -> Response:
    session_id = request.cookies.get(SESSION_COOKIE)
    try:
        raw = await redis.get(app_session_key(session_id)) if session_id else None
    except RedisError:
        raise ProblemError(503, "The session store is unavailable; please retry") from None
    if raw is None:
        raise ProblemError(401, "No case-view session: open the case view from a card in the EHR")
    held = json.loads(raw)
    return await _page(settings, http, held["iss"], held["patient"], held["token"], demo=False)


async def _demo_base(settings: Settings, http: HttpDep) -> str:
    """The FHIR server of demo mode; 404 unless TOH_APP_DEMO and a server that advertises no SMART."""
    base = settings.fhir_base_url
    if not settings.app_demo or base is None:
        raise ProblemError(404, "Not found")
    try:
        launchable = await smart.discover(http, base) is not None
    except smart.LaunchError:
        launchable = True  # cannot tell: stay closed
    if launchable:
        raise ProblemError(404, "Not found")  # a server with SMART authorization (or unknown): launch, never bypass
    return base


@router.get("/")
async def demo_index(settings: SettingsDep, http: HttpDep) -> Response:
    base = await _demo_base(settings, http)
    response = await http.get(f"{base}/Patient", params={"_count": "200", "_elements": "id"},
                              headers={"Accept": "application/fhir+json"})  # fmt: skip
    found = response.json().get("entry", []) if response.status_code == 200 else []
    patients = sorted(
        e["resource"]["id"] for e in found if isinstance(e.get("resource"), dict) and "id" in e["resource"]
    )
    return _html("index.html", settings, patients=patients, base=settings.public_base_url, demo=True)


@router.get("/demo/{patient_id}")
async def demo_case(patient_id: str, settings: SettingsDep, http: HttpDep) -> Response:
    base = await _demo_base(settings, http)
    return await _page(settings, http, base, patient_id, None, demo=True)
