"""Answering a hook: precomputed cards when the workers have fresh ones, otherwise the record (prefetch plus
what we fetch) screened inline. Either way the same cards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from service.cds.cards import cards
from service.cds.prefetch import gather_record
from service.cds.request import HookRequest
from service.cds.services import CdsService
from service.metrics import CDS_RESPONSES
from service.screening import RULES_VERSION, screen_orders
from service.settings import Settings
from service.store import cards_key, fresh_cards

__all__ = ["answer_hook"]

log = structlog.get_logger("toh.cds")


async def _precomputed(
    redis: aioredis.Redis, fhir_base: str, patient_id: str, now: datetime, settings: Settings
) -> list[Any] | None:
    try:
        raw = await redis.get(cards_key(fhir_base, patient_id))
    except RedisError:
        log.warning("cds.card_cache_unavailable")
        return None  # screen inline instead: a hook must not fail because the cache is down
    return fresh_cards(raw, now=now, rules_version=RULES_VERSION, max_age_seconds=settings.card_cache_max_age_seconds)


async def answer_hook(
    service: CdsService,
    hook_request: HookRequest,
    *,
    settings: Settings,
    http: httpx.AsyncClient,
    redis: aioredis.Redis,
    now: datetime,
) -> dict[str, Any]:
    fhir_base = hook_request.fhirServer or settings.fhir_base_url
    if service.hook == "patient-view" and fhir_base is not None:
        cached = await _precomputed(redis, fhir_base, hook_request.patient_id, now, settings)
        if cached is not None:
            CDS_RESPONSES.labels(service.id, "precomputed").inc()
            return {"cards": cached}
    record = await gather_record(hook_request, http, settings.fhir_server_allowlist, settings.prefetch_max_pages)
    assessment, order_outcomes = screen_orders(record.resources, hook_request.draft_orders, now, settings.screening)
    CDS_RESPONSES.labels(service.id, "fetched" if record.fetched else "prefetch").inc()
    log.info("cds.answered", service=service.id, topics=assessment.topics, fetched=record.fetched)
    return {"cards": cards((*assessment.outcomes, *order_outcomes), hook_request.patient_id)}
