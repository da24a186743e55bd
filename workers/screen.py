"""One patient's screening as the workers do it, a plain function the tasks call (and tests call without Celery):
fetch the record, screen it, store the cards and their evidence trails, and write back when the assessment changed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import redis
import structlog

from service.cds.cards import cards, evidence_trails
from service.fhir.client import FhirClient
from service.fhir.errors import RetryableFhirError
from service.fhir.writeback import TOH_TOPICS, cards_digest_of, provenance, risk_assessment
from service.pipeline.store import (
    EVIDENCE_SECONDS,
    FOREIGN_RESOURCES_KEY,
    REPORT_TEXT_UNREAD_KEY,
    SCREENINGS_KEY,
    cards_entry,
    cards_key,
    evidence_key,
    written_key,
)
from service.screening import RULES_VERSION, screen
from service.screening.fhir import own_resources
from service.screening.report_sources import unread_counts
from service.settings import Settings
from workers import write_lock

__all__ = ["Screened", "cards_digest", "screen_one", "screen_record", "write_back"]

log = structlog.get_logger("toh.tasks")


def cards_digest(rendered: list[dict[str, Any]]) -> str:
    """Card uuids already encode patient, topic and data: equal digests mean nothing changed."""
    return hashlib.sha256("|".join(card["uuid"] for card in rendered).encode()).hexdigest()


@dataclass(frozen=True)
class Screened:
    topics: list[str]
    written_back: bool


def screen_one(
    store: redis.Redis, client: FhirClient, settings: Settings, fhir_base: str, patient_id: str, now: datetime
) -> list[str]:
    """Screen one patient of `fhir_base` as of `now`, her record fetched; returns the card topics."""
    return screen_record(store, client, settings, fhir_base, patient_id, client.record(patient_id), now).topics


def screen_record(
    store: redis.Redis,
    client: FhirClient,
    settings: Settings,
    fhir_base: str,
    patient_id: str,
    resources: list[dict[str, Any]],
    now: datetime,
) -> Screened:
    """Screen one patient from `resources` (fetched, or exported for a backfill): store the cards and their
    evidence trails, and write back when the assessment changed."""
    key = cards_key(fhir_base, patient_id)
    record, foreign = own_resources(resources, patient_id)
    if foreign:
        log.warning("screening.foreign_resources_dropped", dropped=foreign)
        store.hincrby(FOREIGN_RESOURCES_KEY, "worker", foreign)
    assessment = screen(record, now, settings.screening)
    rendered = cards(assessment.outcomes, patient_id, settings.public_base_url)
    digest = cards_digest(rendered)
    written_mark = written_key(key)
    entry = cards_entry(
        rendered, evaluated_at=now, rules_version=RULES_VERSION, cards_digest=digest, fhir_base=fhir_base
    )
    with store.pipeline(transaction=False) as pipe:
        pipe.set(key, entry)
        pipe.get(written_mark)
        pipe.hincrby(SCREENINGS_KEY, "screened", 1)
        for reason, count in unread_counts(assessment.unread).items():
            pipe.hincrby(REPORT_TEXT_UNREAD_KEY, reason, count)
        for card_uuid, trail in evidence_trails(assessment.outcomes, rendered, patient_id, assessment.unread).items():
            pipe.set(evidence_key(card_uuid), trail, ex=EVIDENCE_SECONDS)
        written = cast(bytes | None, pipe.execute()[1])
    has_toh = any(topic in TOH_TOPICS for topic in assessment.topics)
    if (written or b"").decode() == digest or not (has_toh or written is not None):
        return Screened(assessment.topics, written_back=False)
    try:
        with write_lock.writing(store, key, ttl=settings.task_time_limit):
            write_back(client, risk_assessment(assessment, patient_id, digest), digest, now)
            store.set(written_mark, digest)
    except write_lock.Busy:  # its data may be older than ours: write after it
        raise RetryableFhirError("another write-back for this patient is in progress") from None
    store.hincrby(SCREENINGS_KEY, "written-back", 1)
    return Screened(assessment.topics, written_back=True)


def write_back(client: FhirClient, risk: dict[str, Any], digest: str, now: datetime) -> None:
    """Idempotent per cards digest: a rerun (after a kill or a retry) finds what already reached the server and
    writes only the rest, so each assessment change makes exactly one RiskAssessment version."""
    if cards_digest_of(client.read(f"RiskAssessment/{risk['id']}")) != digest:
        client.put(risk)
    record = provenance(risk, digest, now)
    if client.read(f"Provenance/{record['id']}") is None:
        client.put(record)
    log.info("writeback.done", status=risk["status"])
