"""FHIR Subscription notification endpoints (mission.md contracts): every format, authenticated by the channel's
bearer token, acknowledged only once the work is safely queued."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.api.body import read_json_body
from service.api.deps import PublisherDep, RedisDep, SettingsDep
from service.core.errors import ProblemError, Unauthorized, operation_outcome
from service.fhir.notifications import (
    Notification,
    NotificationError,
    TooManyEvents,
    classic_notification,
    parse_notification,
    too_many_events_message,
)
from service.pipeline.ingest import accept_notification
from service.pipeline.publisher import TaskPublisher
from service.settings import Settings

__all__ = ["router"]

router = APIRouter(tags=["fhir-notifications"])
_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_BODY: dict[str, Any] = {"requestBody": {"content": {"application/fhir+json": {"schema": {"type": "object"}}}}}


def _authenticate(request: Request, settings: Settings) -> None:
    token = settings.notify_token
    presented = request.headers.get("authorization", "")
    expected = f"Bearer {token.get_secret_value()}" if token is not None else None
    if expected is None or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise Unauthorized("notification sender not authenticated")
    request.state.notify_limiter.check(request.client.host if request.client else "unknown")


def _fhir_base(settings: Settings) -> str:
    if settings.fhir_base_url is None:
        raise ProblemError(503, "TOH_FHIR_BASE_URL is not configured: notifications cannot be processed")
    return settings.fhir_base_url


async def _read(request: Request, settings: Settings) -> bytes | None:
    """The body, or None for an empty ping."""
    if request.headers.get("content-length") == "0" or (
        "content-length" not in request.headers and "content-type" not in request.headers
    ):
        return None
    body = await read_json_body(request, settings.notify_max_body_bytes)
    return body if body.strip() else None


_OFF_LOOP_BYTES = 256_000  # larger bodies are parsed in a thread: a 10 MB bundle takes seconds to read


async def _parse(body: bytes | None, parse: Callable[[Any], Notification]) -> Notification:
    """JSON and notification parsing, with the reason as a 400 (413 past the event cap)."""

    def work() -> Notification:
        try:
            document = json.loads(body) if body is not None else None
        except ValueError:
            raise ProblemError(400, "The body is not valid JSON") from None
        except RecursionError:
            raise ProblemError(400, "The body is nested too deeply") from None
        try:
            return parse(document)
        except TooManyEvents as exc:
            raise ProblemError(413, str(exc)) from None
        except NotificationError as exc:
            raise ProblemError(400, str(exc)) from None

    if body is not None and len(body) > _OFF_LOOP_BYTES:
        return await anyio.to_thread.run_sync(work)
    return work()


_EVENT_MARKERS = (b'"notification-event"', b'"eventNumber"')  # one per event: backport, then R4B and R5


def _refuse_too_many_events(body: bytes | None, max_events: int) -> None:
    """413 before any parsing when the raw body already shows too many events: json.loads holds the GIL even in a
    thread, and 57,000 events take it 340 ms (milliseconds here). Escaped markers slip past this count, but not
    past the parser's own check."""
    if body is not None and len(body) > _OFF_LOOP_BYTES:
        if sum(body.count(marker) for marker in _EVENT_MARKERS) > max_events:
            raise ProblemError(413, too_many_events_message(max_events))


async def _accept(
    notification: Notification, fhir_base: str, redis: Any, publisher: TaskPublisher, settings: Settings
) -> JSONResponse:
    """Queue, and say what was accepted."""
    try:
        accepted = await accept_notification(
            notification,
            redis=redis,
            publisher=publisher,
            fhir_base=fhir_base,
            gap_grace_seconds=settings.gap_grace_seconds,
            coalesce_seconds=settings.coalesce_seconds,
        )
    except RecursionError:  # a resource nested deeper than the JSON encoder goes (json.loads went deeper)
        raise ProblemError(400, "The body is nested too deeply") from None
    text = f"Accepted: {accepted.queued} queued, {accepted.duplicates} duplicate(s) ignored"
    return JSONResponse(
        operation_outcome(text, code="informational", severity="information"), media_type="application/fhir+json"
    )


@router.post(
    "/fhir/notifications",
    summary="Subscription notifications: R4 backport, R4B, R5 bundles, a bare resource, or an empty ping.",
    openapi_extra=_BODY,
    responses={400: {}, 401: {}, 413: {}, 415: {}, 503: {}},
)
async def notification(
    request: Request, settings: SettingsDep, redis: RedisDep, publisher: PublisherDep
) -> JSONResponse:
    _authenticate(request, settings)
    fhir_base = _fhir_base(settings)  # 503 before any parsing when there is nowhere to send the work
    limit = settings.notify_max_events
    body = await _read(request, settings)
    _refuse_too_many_events(body, limit)
    notification = await _parse(
        body,
        lambda document: (
            classic_notification("", None, None) if document is None else parse_notification(document, max_events=limit)
        ),
    )
    return await _accept(notification, fhir_base, redis, publisher, settings)


@router.api_route(
    "/fhir/notifications/{resource_type}/{resource_id}",
    methods=["PUT", "POST"],
    summary="Classic R4 rest-hook: the created or updated resource.",
    openapi_extra=_BODY,
    responses={400: {}, 401: {}, 413: {}, 415: {}, 503: {}},
)
async def classic(
    resource_type: str,
    resource_id: str,
    request: Request,
    settings: SettingsDep,
    redis: RedisDep,
    publisher: PublisherDep,
) -> JSONResponse:
    _authenticate(request, settings)
    if not _TYPE.fullmatch(resource_type) or not _ID.fullmatch(resource_id):
        raise ProblemError(400, "The URL must be /fhir/notifications/{ResourceType}/{id}")
    fhir_base = _fhir_base(settings)
    notification = await _parse(
        await _read(request, settings), lambda document: classic_notification(resource_type, resource_id, document)
    )
    return await _accept(notification, fhir_base, redis, publisher, settings)
