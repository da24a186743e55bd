"""CDS Hooks 2.0 routes: discovery, the three services, and feedback."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from service.api.body import read_json_body
from service.api.deps import RedisDep, SettingsDep
from service.cds.auth import Claims
from service.cds.feedback import parse_feedback, store_feedback
from service.cds.hooks import answer_hook
from service.cds.request import parse_hook_request
from service.cds.services import SERVICES, CdsService, discovery
from service.core.errors import ProblemError
from service.settings import Settings

__all__ = ["router"]

router = APIRouter(tags=["cds-hooks"])

_JSON_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
}


def _service(service_id: str) -> CdsService:
    service = SERVICES.get(service_id)
    if service is None:
        raise ProblemError(404, "No such CDS service; GET /cds-services lists them")
    return service


async def _authenticate(
    request: Request, settings: SettingsDep, path: str, *, replay_checked: bool = True
) -> Claims | None:
    """Verify the caller's JWT, then count the call against its issuer's rate limit. None: authentication is off.
    With `replay_checked` false the caller makes the replay check itself (the hooks, in their first round trip)."""
    claims: Claims | None = None
    caller = request.client.host if request.client else "unknown"
    if settings.cds_require_auth:
        verifier = request.state.verifier
        check = verifier.verify if replay_checked else verifier.check
        claims = await check(request.headers.get("authorization"), settings.public_base_url + path)
        caller = claims.issuer
    request.state.cds_limiter.check(caller)
    return claims


@router.get("/cds-services", summary="CDS Hooks discovery: the services, their hooks and prefetch templates.")
async def cds_discovery() -> dict[str, Any]:
    return discovery()


@router.post(
    "/cds-services/{service_id}",
    summary="Call a CDS service: cards for the hook's patient and draft orders.",
    openapi_extra=_JSON_BODY,
    responses={400: {}, 401: {}, 404: {}, 412: {}, 413: {}, 415: {}},
)
async def call_service(service_id: str, request: Request) -> Response:
    """The hot path: what the lifespan owns is read from request.state directly (each FastAPI dependency costs a
    solve per request), and the answer is encoded by orjson (measured in bench/profile_hook.py)."""
    settings: Settings = request.state.settings
    service = _service(service_id)
    # The replay check is left to answer_hook, which makes it in one Redis round trip with its first read.
    caller = await _authenticate(request, settings, f"/cds-services/{service_id}", replay_checked=False)
    hook_request = parse_hook_request(service, await read_json_body(request, settings.cds_max_body_bytes))
    body = await answer_hook(
        service,
        hook_request,
        settings=settings,
        http=request.state.http,
        redis=request.state.redis,
        now=datetime.now(UTC),
        caller=caller,
    )
    return Response(orjson.dumps(body), media_type="application/json")


@router.post(
    "/cds-services/{service_id}/feedback",
    summary="Feedback on cards: accepted suggestions and override reasons.",
    openapi_extra=_JSON_BODY,
    responses={400: {}, 401: {}, 404: {}, 413: {}, 415: {}, 503: {}},
)
async def feedback(service_id: str, request: Request, settings: SettingsDep, redis: RedisDep) -> JSONResponse:
    _service(service_id)
    await _authenticate(request, settings, f"/cds-services/{service_id}/feedback")
    batch = parse_feedback(await read_json_body(request, settings.cds_max_body_bytes))
    snooze = settings.card_snooze_days * 86400
    stored, duplicates = await store_feedback(redis, service_id, batch, datetime.now(UTC), snooze)
    return JSONResponse({"stored": stored, "duplicates": duplicates})
