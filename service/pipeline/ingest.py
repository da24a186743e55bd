"""Accepting notifications: record what the channel says, drop duplicates, enqueue the work, detect gaps.

Durability rule: an event is acknowledged (2xx) only after its work is in Redis: for a full resource, its patient
in the server's due set with a screening task queued (service/pipeline/due.py); otherwise a `toh.process_event` task that
reads the focus. Marking an event seen and queueing its work are one atomic step (service/pipeline/publisher.py): if it
fails, neither happened, the sender gets 503, and its retry is processed, once.

Gaps: servers may deliver concurrently, so event 7 can arrive before event 6. A skipped number only queues a
check that runs after `gap_grace_seconds`; numbers still unseen then were lost, and the check re-queries.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from service.core.errors import ProblemError
from service.fhir.notifications import Event, Notification
from service.pipeline.channel import ChannelState
from service.pipeline.due import DuePatient, due_on
from service.pipeline.publisher import Job, TaskPublisher
from service.pipeline.store import (
    FOREIGN_RESOURCES_KEY,
    SUBSCRIPTIONS_KEY,
    seen_key,
)
from service.pipeline.task_names import TaskName
from service.screening.fhir import patient_of, patient_reference, reference_id

__all__ = ["SEEN_SECONDS", "Accepted", "accept_notification", "event_seen_key"]

log = structlog.get_logger("toh.ingest")
SEEN_SECONDS = 7 * 86400


@dataclass(frozen=True)
class Accepted:
    queued: int
    duplicates: int


def event_seen_key(subscription: str, number: int) -> str:
    """Marks one event of one subscription as received."""
    return seen_key(subscription, str(number))


def _seen_key(notification: Notification, event: Event) -> str | None:
    if notification.subscription is not None and event.number is not None:
        return event_seen_key(notification.subscription, event.number)
    if event.resource is not None and event.focus is not None:
        meta = event.resource.get("meta")
        version = (meta.get("versionId") or meta.get("lastUpdated")) if isinstance(meta, dict) else None
        if not isinstance(version, str):
            version = hashlib.sha256(json.dumps(event.resource, sort_keys=True).encode()).hexdigest()[:32]
        return seen_key(event.focus, version)
    return None


def _names_another_patient(context: tuple[str, ...], patient: str) -> bool:
    """Whether an event's additional-context names a Patient other than the one its focus resource is about."""
    references = [{"reference": reference} for reference in context]
    return any(patient_reference(ref) and reference_id(ref) != patient for ref in references)


async def accept_notification(
    notification: Notification,
    *,
    redis: aioredis.Redis,
    publisher: TaskPublisher,
    fhir_base: str,
    gap_grace_seconds: float,
    coalesce_seconds: float,
) -> Accepted:
    numbers = [e.number for e in notification.events if e.number is not None]
    try:
        subscription, state, before = notification.subscription, None, None
        if subscription is not None:
            previous = ChannelState.from_json(
                await cast(Awaitable[bytes | None], redis.hget(SUBSCRIPTIONS_KEY, subscription))
            )
            before = previous.events_since_start  # the highest event number known before this one (gaps)
            state = (SUBSCRIPTIONS_KEY, subscription, previous.after(notification, numbers, time.time()).to_json())
        if notification.kind in ("handshake", "heartbeat", "query-status"):
            await publisher.publish([], state=state)
            return Accepted(0, 0)
        if notification.kind == "ping" or (notification.kind == "event-notification" and not notification.events):
            resync = publisher.message(TaskName.RESYNC, {"fhir_base": fhir_base, "since": time.time() - 3600})
            await publisher.publish([(None, resync)], state=state)
            return Accepted(1, 0)
        jobs: list[Job] = []
        patients: list[DuePatient] = []
        conflicting = 0
        for event in notification.events:
            patient, resource = patient_of(event.resource), event.resource
            if patient is not None and _names_another_patient(event.context, patient):
                conflicting += 1  # which patient is it about? The server's copy of the focus says
                patient, resource = None, None
            if patient is not None:  # full-resource payload: its patient goes straight to the due set
                patients.append((_seen_key(notification, event), patient))
            else:  # id-only or empty, or not about a patient: a worker reads the focus
                kwargs = {"fhir_base": fhir_base, "focus": event.focus, "resource": resource}
                jobs.append((_seen_key(notification, event), publisher.message(TaskName.PROCESS_EVENT, kwargs)))
        screen = publisher.message(TaskName.SCREEN_DUE, {"fhir_base": fhir_base}, countdown=coalesce_seconds or None)
        due = due_on(fhir_base, patients, screen, coalesce_seconds) if patients else None
        gap = subscription is not None and before is not None and bool(numbers) and min(numbers) > before + 1
        if gap:
            assert subscription is not None and before is not None
            log.info("ingest.gap_suspected", subscription=subscription, seen=before, first=min(numbers))
            check = {
                "fhir_base": fhir_base,
                "subscription": subscription,
                "first": before + 1,
                "last": min(numbers) - 1,
            }
            jobs.append((None, publisher.message(TaskName.CHECK_GAP, check, countdown=gap_grace_seconds)))
        queued = await publisher.publish(jobs, mark_seconds=SEEN_SECONDS, state=state, due=due) - gap
        if conflicting:
            log.warning("ingest.focus_patient_conflict", events=conflicting)
            await cast(Awaitable[int], redis.hincrby(FOREIGN_RESOURCES_KEY, "notification", conflicting))
        return Accepted(queued, len(notification.events) - queued)
    except (RedisError, OSError) as exc:
        raise ProblemError(503, f"Cannot queue the notification now ({type(exc).__name__}); please retry") from None
