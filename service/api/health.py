"""Operator endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Awaitable

import anyio
import httpx
import redis.asyncio as aioredis
from celery import Celery
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from service import __version__
from service.api.deps import CeleryDep, RedisDep
from service.core.metrics import QueueFigures, render_metrics
from service.ops.readiness import (
    Check,
    WorkerPing,
    check_fhir,
    check_heartbeats,
    check_redis,
    check_workers,
    overall_status,
)
from service.pipeline.store import (
    DEAD_LETTERS_KEY,
    FOREIGN_RESOURCES_KEY,
    REPORT_TEXT_UNREAD_KEY,
    RESCREEN_KEY,
    SCREENINGS_KEY,
    TASK_OUTCOMES_KEY,
)
from service.settings import Settings

__all__ = ["readiness_round", "router"]

router = APIRouter(tags=["operations"])

HEALTH_JSON = "application/health+json"


@router.get("/livez", summary="Liveness: the process answers; no dependency is checked.")
async def livez() -> Response:
    return JSONResponse({"status": "pass"}, media_type=HEALTH_JSON)


async def readiness_round(
    settings: Settings, redis: aioredis.Redis, celery: Celery, http: httpx.AsyncClient, ping: WorkerPing
) -> list[Check]:
    """One round of every check, run together (the lifespan's Readiness runs it in the background)."""
    results: dict[str, Check] = {}

    async def run(name: str, check: Awaitable[Check]) -> None:
        results[name] = await check

    async with anyio.create_task_group() as group:
        group.start_soon(run, "redis", check_redis(redis))
        group.start_soon(run, "workers", check_workers(celery, settings.ready_worker_timeout, ping))
        if settings.fhir_base_url:
            group.start_soon(run, "fhir", check_fhir(http, settings.fhir_base_url, settings.ready_fhir_timeout))
    heartbeats = await check_heartbeats(redis)
    return [*results.values(), *([heartbeats] if heartbeats else [])]


@router.get(
    "/readyz",
    summary="Readiness: Redis, Celery workers and the FHIR server (when configured), from the last background round.",
    responses={503: {"description": "A dependency needed to accept work is down."}},
)
async def readyz(request: Request) -> Response:
    checks = await request.state.readiness.latest()
    status = overall_status(checks)
    body = {
        "status": status,
        "version": __version__,
        "serviceId": "toh-cds",
        "checks": {check.key: [check.as_json()] for check in sorted(checks, key=lambda c: c.key)},
    }
    return JSONResponse(body, status_code=503 if status == "fail" else 200, media_type=HEALTH_JSON)


@router.get("/metrics", summary="Prometheus text exposition.", response_class=Response)
async def metrics(redis: RedisDep, celery: CeleryDep) -> Response:
    queues = [celery.conf.task_default_queue]
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.llen(queue)
            pipe.hlen("unacked")
            pipe.hgetall(TASK_OUTCOMES_KEY)
            pipe.llen(DEAD_LETTERS_KEY)
            pipe.hgetall(SCREENINGS_KEY)
            pipe.hgetall(FOREIGN_RESOURCES_KEY)
            pipe.scard(RESCREEN_KEY)
            pipe.hgetall(REPORT_TEXT_UNREAD_KEY)
            *lengths, unacked, outcomes, dead_letters, screenings, foreign, rescreen, unread = await pipe.execute()
    except RedisError:
        snapshot = None  # still serve the in-process metrics; the absent series tell the story
    else:
        snapshot = QueueFigures(
            dict(zip(queues, lengths, strict=True)),
            unacked,
            _parse_outcomes(outcomes),
            dead_letters,
            _counts(screenings),
            _counts(foreign),
            rescreen_pending=rescreen,
            report_text_unread=_counts(unread),
        )
    return Response(render_metrics(snapshot), media_type=CONTENT_TYPE_LATEST)


def _counts(raw: dict[bytes, bytes]) -> dict[str, int]:
    return {key.decode(): int(value) for key, value in raw.items()}


def _parse_outcomes(raw: dict[bytes, bytes]) -> dict[tuple[str, str], int]:
    parsed: dict[tuple[str, str], int] = {}
    for key, value in raw.items():
        task, _, outcome = key.decode().partition("|")
        parsed[(task, outcome)] = int(value)
    return parsed
