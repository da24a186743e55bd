"""The ASGI application: `service.main:app`, built by `create_app()`.

The lifespan owns the long-lived clients (Redis, one shared httpx.AsyncClient, a Celery producer) and hands
them to requests through `request.state`.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import TypedDict

import anyio
import httpx
import redis.asyncio as aioredis
import structlog
from celery import Celery
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service import __version__
from service.api import case_view, cds, evidence, health, notifications
from service.api.health import readiness_round
from service.cds.auth import JwtVerifier
from service.core.errors import install_error_handlers
from service.core.http_client import outbound_client
from service.core.logging import configure_logging
from service.core.memory import large_blocks_mapped
from service.core.metrics import process_stopped
from service.core.middleware import RequestContextMiddleware
from service.core.rate_limit import RateLimiter
from service.ops.readiness import Readiness, WorkerPing
from service.pipeline.celery import create_celery_app
from service.pipeline.publisher import TaskPublisher
from service.pipeline.watchdog import watch
from service.screening import report_reading
from service.settings import Settings, get_settings

__all__ = ["app", "create_app"]

log = structlog.get_logger("toh.api")


class State(TypedDict):
    settings: Settings
    redis: aioredis.Redis
    http: httpx.AsyncClient
    celery: Celery
    verifier: JwtVerifier
    publisher: TaskPublisher
    readiness: Readiness
    cds_limiter: RateLimiter
    notify_limiter: RateLimiter


JWKS_CONNECTIONS = 4  # one fetch per JWKS URL at a time (service/cds/auth.py): a few issuers at most at once


def _redis(settings: Settings) -> aioredis.Redis:
    """A bounded pool: callers past `redis_max_connections` wait for a connection (up to `redis_pool_timeout`)
    instead of opening more: 1,000 concurrent hooks had opened 1,004, and a Redis with `maxclients` full refuses
    the workers and other replicas too."""
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.effective_redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_timeout,
        socket_connect_timeout=settings.http_connect_timeout,
        socket_timeout=settings.http_timeout,
        health_check_interval=30,
    )
    return aioredis.Redis.from_pool(pool)


def _load_report_reader() -> None:
    started = time.perf_counter()
    report_reading.warm()
    log.info("report_reader.loaded", seconds=round(time.perf_counter() - started, 2))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        if settings.notify_token is None:
            log.warning("notify.no_token", detail="TOH_NOTIFY_TOKEN is unset: every notification is refused (401)")
        if not settings.cds_require_auth:
            log.warning("cds.auth_disabled", detail="TOH_CDS_REQUIRE_AUTH=false: CDS Hooks JWTs are NOT verified")
        # The report reader's NLP pipeline loads once per process (3-5 s of imports), in the background so that the
        # API listens at once; a hook that reads a report before it is loaded waits for it, once. Not a daemon: a
        # stop during the load waits for it rather than end the process inside an import.
        threading.Thread(target=_load_report_reader, name="report-reader-load").start()
        redis = _redis(settings)
        celery = create_celery_app(settings)
        http = outbound_client(
            max_connections=settings.http_max_connections,
            timeout=settings.http_timeout,
            connect_timeout=settings.http_connect_timeout,
        )
        jwks_http = outbound_client(
            max_connections=JWKS_CONNECTIONS,
            timeout=settings.http_connect_timeout,
            connect_timeout=settings.http_connect_timeout,
        )
        async with http, jwks_http:
            try:
                log.info("api.started", version=__version__)
                verifier = JwtVerifier(
                    settings.cds_issuers,
                    jwks_http,
                    redis,
                    leeway=settings.jwt_leeway_seconds,
                    jwks_cache_seconds=settings.jwks_cache_seconds,
                    jwks_min_refresh_seconds=settings.jwks_min_refresh_seconds,
                )
                readiness = Readiness(
                    partial(readiness_round, settings, redis, celery, http, WorkerPing()),
                    settings.ready_interval_seconds,
                )
                async with anyio.create_task_group() as background:
                    background.start_soon(readiness.run)
                    if settings.fhir_base_url is not None:
                        background.start_soon(watch, redis, celery, settings.fhir_base_url, settings.watchdog_seconds)
                    publisher = TaskPublisher(celery, redis, queue=celery.conf.task_default_queue)
                    yield {"settings": settings, "redis": redis, "http": http, "celery": celery, "verifier": verifier,
                           "publisher": publisher, "readiness": readiness,
                           "cds_limiter": RateLimiter(settings.cds_rate_limit_per_minute, what="CDS client"),
                           "notify_limiter": RateLimiter(settings.notify_rate_limit_per_minute, what="sender")}  # fmt: skip
                    background.cancel_scope.cancel()
            finally:
                await redis.aclose()
                celery.close()
                process_stopped()
                log.info("api.stopped")

    app = FastAPI(
        title="toh-cds",
        version=__version__,
        summary="Screens pregnant and postpartum women with hip pain for transient osteoporosis of the hip.",
        lifespan=lifespan,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(cds.router)
    app.include_router(evidence.router)
    app.include_router(case_view.router)
    app.include_router(notifications.router)
    return app


def _app_from_environment() -> FastAPI:
    large_blocks_mapped()
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.logs_as_json(sys.stderr.isatty()), process="api")
    return create_app(settings)


app: FastAPI  # `service.main:app`, the contract: built from the environment on first use (below)


def __getattr__(name: str) -> FastAPI:
    """`app` is made when first asked for (by uvicorn, or an import of it), so importing this module reads no
    settings: a test session can choose its environment after its conftests are imported."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    built = globals()["app"] = _app_from_environment()
    return built
