"""Answering a hook: precomputed cards when the workers have fresh ones, otherwise the record (prefetch plus
what we fetch) screened inline. Either way the same cards."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from functools import partial
from typing import Any, cast

import anyio
import httpx
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from service.cds.auth import Claims, refuse_replay
from service.cds.cards import OVERRIDE_REASONS, cards, evidence_trails
from service.cds.prefetch import Record, gather_record
from service.cds.request import HookRequest
from service.cds.services import CdsService
from service.core.errors import ProblemError
from service.core.metrics import CARDS_SUPPRESSED, CDS_RESPONSES
from service.fhir.limits import RecordLimits
from service.pipeline.store import (
    EVIDENCE_SECONDS,
    FOREIGN_RESOURCES_KEY,
    REPORT_TEXT_UNREAD_KEY,
    cards_key,
    evidence_key,
    fresh_cards,
    snooze_key,
)
from service.screening import RULES_VERSION, screen_orders
from service.screening.registry import silenced_by
from service.screening.report_sources import text_size, unread_counts
from service.settings import Settings

__all__ = ["answer_hook", "record_for"]

log = structlog.get_logger("toh.cds")


async def _first_round_trip(redis: aioredis.Redis, caller: Claims | None, cards: str | None) -> bytes | None:
    """The caller's replay check (its jti marked, SET NX) and the precomputed cards (GET), in one round trip: a
    precomputed answer costs the reference's one Redis call, plus the snooze check. Returns the cards' entry."""
    try:
        async with redis.pipeline(transaction=False) as pipe:
            if caller is not None:
                pipe.set(caller.replay_key, "1", nx=True, ex=caller.replay_seconds)
            if cards is not None:
                pipe.get(cards)
            answers = await pipe.execute() if caller is not None or cards is not None else []
    except RedisError:
        if caller is not None:
            raise ProblemError(503, "Cannot check token replay: Redis is unavailable") from None
        log.warning("cds.card_cache_unavailable")
        return None  # screen inline instead: a hook must not fail because the cache is down
    if caller is not None:
        refuse_replay(bool(answers[0]))
    raw: bytes | None = answers[-1] if cards is not None else None
    return raw


async def _count_foreign(redis: aioredis.Redis, count: int) -> None:
    try:
        await cast(Awaitable[int], redis.hincrby(FOREIGN_RESOURCES_KEY, "hook", count))
    except RedisError:
        log.warning("cds.foreign_count_unavailable")  # the resources are dropped all the same


async def _count_unread(redis: aioredis.Redis, unread: tuple[tuple[str, str], ...]) -> None:
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for reason, count in unread_counts(unread).items():
                pipe.hincrby(REPORT_TEXT_UNREAD_KEY, reason, count)
            await pipe.execute()
    except RedisError:
        log.warning("cds.unread_count_unavailable")  # the evidence trail still says what was not read


def _may_read_precomputed(caller: Claims | None, fhir_base: str) -> bool:
    """Precomputed cards skip every check that the caller may see this patient, so they are served only to an issuer
    bound to the FHIR server they came from (one issuer per EHR). With authentication off, anyone is trusted."""
    return caller is None or fhir_base.rstrip("/") in caller.fhir_servers


INLINE_REPORT_CHARS = 1000  # report text read on the event loop; more goes to a thread


def _silenced_by(card: dict[str, Any], reason: str) -> bool:
    topic = card.get("source", {}).get("topic", {}).get("code", "")
    return silenced_by(str(topic), str(card.get("indicator")), reason)


async def _without_snoozed(redis: aioredis.Redis, cards: list[Any], trails: dict[str, str] | None = None) -> list[Any]:
    """The cards less those overridden for the same patient and data within TOH_CARD_SNOOZE_DAYS. New cards'
    evidence trails (`trails`) are stored in the same round trip."""
    candidates = [card for card in cards if isinstance(card, dict)]
    if not candidates and not trails:
        return cards
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for card_uuid, trail in (trails or {}).items():
                pipe.set(evidence_key(card_uuid), trail, ex=EVIDENCE_SECONDS)
            if candidates:
                pipe.mget([snooze_key(str(card.get("uuid"))) for card in candidates])
            results = await pipe.execute()
        reasons = results[-1] if candidates else []
    except RedisError:
        log.warning("cds.snooze_unavailable")
        return cards  # showing a card again is safer than failing the hook; its evidence link answers 404
    snoozed: set[int] = set()
    for card, reason in zip(candidates, reasons, strict=True):
        if reason is None:
            continue
        code = reason.decode() if isinstance(reason, bytes) else str(reason)
        if _silenced_by(card, code):
            snoozed.add(id(card))
            CARDS_SUPPRESSED.labels(code if code in OVERRIDE_REASONS else "overridden").inc()
    return [card for card in cards if id(card) not in snoozed]


async def record_for(
    hook_request: HookRequest, settings: Settings, http: httpx.AsyncClient, allowlist: list[str] | None = None
) -> Record:
    """The record within the hook's deadline: a FHIR server that drips cannot hold an answer longer. Past it the
    hook answers 412, as for any record that cannot be fetched: cards from part of a record could miss a red flag.
    The case view (service/api/case_view.py) reads its record here too."""
    deadline = settings.cds_deadline_seconds
    try:
        with anyio.fail_after(deadline):
            return await gather_record(
                hook_request,
                http,
                settings.fhir_server_allowlist if allowlist is None else allowlist,
                settings.prefetch_max_pages,
                RecordLimits.of(settings),
            )
    except TimeoutError:
        raise ProblemError(412, f"The fhirServer did not send the record within {deadline:g} s") from None


async def answer_hook(
    service: CdsService,
    hook_request: HookRequest,
    *,
    settings: Settings,
    http: httpx.AsyncClient,
    redis: aioredis.Redis,
    now: datetime,
    caller: Claims | None,
) -> dict[str, Any]:
    fhir_base = hook_request.fhirServer or settings.fhir_base_url
    precomputed = service.hook == "patient-view" and fhir_base is not None and _may_read_precomputed(caller, fhir_base)
    key = cards_key(fhir_base, hook_request.patient_id) if precomputed and fhir_base is not None else None
    raw = await _first_round_trip(redis, caller, key)
    if key is not None:
        max_age = settings.card_cache_max_age_seconds
        cached = fresh_cards(raw, now=now, rules_version=RULES_VERSION, max_age_seconds=max_age)
        if cached is not None:
            CDS_RESPONSES.labels(service.id, "precomputed").inc()
            return {"cards": await _without_snoozed(redis, cached)}
    record = await record_for(hook_request, settings, http)
    if record.foreign:
        await _count_foreign(redis, record.foreign)
    screening = partial(screen_orders, record.resources, hook_request.draft_orders, now, settings.screening)
    if sum(text_size(resource) for resource in record.resources) > INLINE_REPORT_CHARS:
        # Reading much report text can take up to a second (REPORT_SECONDS_PER_RECORD): off the event loop, so
        # that other requests are served meanwhile. Short conclusions read in milliseconds, and a thread hop costs
        # a fifth of row 1's throughput (make bench): inline.
        assessment, order_cards = await anyio.to_thread.run_sync(screening)
    else:
        assessment, order_cards = screening()
    # Patient-view shows the patient's cards; an order hook those about its draft orders and the red flags (2.8).
    outcomes = assessment.outcomes if service.hook == "patient-view" else order_cards
    CDS_RESPONSES.labels(service.id, "fetched" if record.fetched else "prefetch").inc()
    log.info("cds.answered", service=service.id, topics=[o.topic for o in outcomes], fetched=record.fetched)
    if assessment.unread:
        await _count_unread(redis, assessment.unread)
    rendered = cards(outcomes, hook_request.patient_id, settings.public_base_url)
    trails = evidence_trails(outcomes, rendered, hook_request.patient_id, assessment.unread)
    return {"cards": await _without_snoozed(redis, rendered, trails)}
