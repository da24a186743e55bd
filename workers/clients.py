"""Per-process clients for the workers: prefork children must not share their parent's sockets."""

from __future__ import annotations

from typing import Any

import httpx
import redis

from service.fhir.auth import auth_for
from service.fhir.client import FhirClient
from service.per_process import PerProcess
from service.settings import get_settings

__all__ = ["fhir", "redis_client"]


def _make_redis() -> redis.Redis:
    settings = get_settings()
    return redis.Redis.from_url(
        settings.effective_redis_url,
        socket_connect_timeout=settings.http_connect_timeout,
        socket_timeout=settings.http_timeout,
    )


def _make_http() -> httpx.Client:
    settings = get_settings()
    timeout = httpx.Timeout(settings.http_timeout, connect=settings.http_connect_timeout)
    return httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=10))


redis_client = PerProcess(_make_redis)
_http = PerProcess(_make_http)
_auth: PerProcess[dict[str, Any]] = PerProcess(dict)  # FHIR base -> auth, so the SMART token stays cached


def fhir(base: str) -> FhirClient:
    http, auth = _http(), _auth()
    if base not in auth:
        auth[base] = auth_for(get_settings(), base, http)
    return FhirClient(base, http, auth=auth[base])
