"""Per-process clients for the workers: prefork children must not share their parent's sockets."""

from __future__ import annotations

import os
from typing import Any

import httpx
import redis

from service.fhir.auth import auth_for
from service.fhir.client import FhirClient
from service.settings import get_settings

__all__ = ["fhir", "redis_client"]

_redis: tuple[int, redis.Redis] | None = None
_http: tuple[int, httpx.Client] | None = None
_auth: dict[tuple[int, str], Any] = {}  # per process and FHIR base: keeps the SMART token cached


def redis_client() -> redis.Redis:
    global _redis
    if _redis is None or _redis[0] != os.getpid():
        settings = get_settings()
        client = redis.Redis.from_url(
            settings.effective_redis_url,
            socket_connect_timeout=settings.http_connect_timeout,
            socket_timeout=settings.http_timeout,
        )
        _redis = (os.getpid(), client)
    return _redis[1]


def fhir(base: str) -> FhirClient:
    global _http
    settings = get_settings()
    if _http is None or _http[0] != os.getpid():
        timeout = httpx.Timeout(settings.http_timeout, connect=settings.http_connect_timeout)
        _http = (os.getpid(), httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=10)))
    key = (os.getpid(), base)
    if key not in _auth:
        _auth[key] = auth_for(settings, base, _http[1])
    return FhirClient(base, _http[1], auth=_auth[key])
