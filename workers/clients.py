"""Per-process clients for the workers: prefork children must not share their parent's sockets."""

from __future__ import annotations

import httpx
import redis

from service.core.per_process import PerProcess
from service.fhir.auth import auth_for
from service.fhir.client import FhirClient
from service.fhir.limits import RecordLimits
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
# FHIR base -> its client, kept so the SMART token and what the server offers are learnt once per process.
_clients: PerProcess[dict[str, FhirClient]] = PerProcess(dict)


def fhir(base: str) -> FhirClient:
    clients = _clients()
    if base not in clients:
        settings, http = get_settings(), _http()
        clients[base] = FhirClient(
            base,
            http,
            auth=auth_for(settings, base, http),
            record_query=settings.fhir_record_query,
            limits=RecordLimits.of(settings),
        )
    return clients[base]
