"""Thin Celery tasks: references in, service code called, retry policy in the decorator.

process_event   an id-only or empty event: read the focus -> its patient -> one coalesced screening (full
                resources skip it: the API puts their patient in the due set itself, service/pipeline/ingest.py)
screen_due      the patients waiting on a server, a batch per task: each screened as screen_patient does
screen_patient  fetch the record, screen it, store the cards, write back when the assessment changed
backfill_screen a batch of a backfill's patients, each screened from her exported record (service/pipeline/backfill.py)
rescreen        after a rules version change: the next patients whose cards it made stale, into the due set
resync          after a ping, an empty notification or a gap: re-query what changed, screen those patients
check_gap       after the grace period: skipped event numbers still unseen were lost -> resync
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import redis
import structlog
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from service.fhir.client import FhirError, PermanentFhirError, RetryableFhirError
from service.fhir.notifications import read_status, relative_reference
from service.pipeline import due
from service.pipeline import rescreen as rescreening
from service.pipeline.channel import channel_state
from service.pipeline.ingest import event_seen_key
from service.pipeline.store import (
    DEAD_LETTERS_KEY,
    RESCREEN_KEY,
    SCREENINGS_KEY,
    backfill_key,
    backfill_record_key,
)
from service.pipeline.task_names import TaskName
from service.screening.fhir import patient_of
from service.settings import get_settings
from workers.celery_app import app
from workers.clients import fhir, redis_client
from workers.screen import screen_one, screen_record

__all__ = [
    "backfill_screen",
    "check_gap",
    "ping",
    "process_event",
    "rescreen",
    "resync",
    "retry_countdown",
    "screen_due",
    "screen_patient",
    "subscription_status",
]

log = structlog.get_logger("toh.tasks")
T = TypeVar("T")
_settings = get_settings()


def dead_letter(task: str, task_id: str, reason: str, status: int | None, kwargs: dict[str, Any]) -> None:
    """Keep work that failed for good, with its reason and what `task` needs to run it again."""
    letter = {"task": task, "task_id": task_id, "reason": reason, "status": status, "kwargs": kwargs, "at": time.time()}
    redis_client().lpush(DEAD_LETTERS_KEY, json.dumps(letter))


def retry_countdown(backoff: float | None, retry_after: float | None, cap: float) -> float | None:
    """The wait before a retry: the backoff, but never less than the server's Retry-After, and never past the cap
    (which stays below the broker's visibility timeout)."""
    if retry_after is None:
        return backoff
    return min(max(backoff or 0.0, retry_after), cap)


class HonoursRetryAfter(Task):  # type: ignore[type-arg]
    """A FHIR server that answered 429 or 503 with Retry-After is not asked again sooner."""

    def retry(  # type: ignore[override]  # the same parameters as Task.retry, by keyword
        self, exc: Exception | None = None, countdown: float | None = None, **options: Any
    ) -> Any:
        retry_after = exc.retry_after if isinstance(exc, FhirError) else None
        countdown = retry_countdown(countdown, retry_after, _settings.retry_backoff_max)
        return super().retry(exc=exc, countdown=countdown, **options)


class DeadLettering(HonoursRetryAfter):
    """Permanent failures (a 4xx other than 429) are kept with their reason instead of being retried."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if isinstance(exc, FhirError):
            dead_letter(self.name, task_id, str(exc), exc.status, {k: v for k, v in kwargs.items() if k != "resource"})


class BatchDeadLettering(HonoursRetryAfter):
    """A batch whose FHIR errors outlast its retries: each patient left in it is dead-lettered. Stopped for another
    reason (its time limit): what is left waits again, for another task."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        store, fhir_base = redis_client(), kwargs["fhir_base"]
        if isinstance(exc, FhirError):
            for patient in due.claimed(store, task_id):
                _screening_failed(fhir_base, patient, task_id, str(exc), exc.status)
            due.release(store, task_id)
        elif due.give_back(store, fhir_base, task_id):
            screen_due.apply_async(kwargs={"fhir_base": fhir_base})


def fhir_task(name: str, base: type[Task] = DeadLettering) -> Callable[[Callable[..., Any]], Task]:  # type: ignore[type-arg]
    """The retry policy of every task that talks to the FHIR server: exponential backoff with jitter on 5xx, 429,
    timeouts and connection errors (of the FHIR server or of Redis), capped below the broker's visibility timeout;
    permanent errors dead-letter."""
    return app.task(
        name=name,
        base=base,
        autoretry_for=(RetryableFhirError, redis.ConnectionError, redis.TimeoutError),
        retry_backoff=1,
        retry_backoff_max=_settings.retry_backoff_max,
        retry_jitter=True,
        max_retries=_settings.max_retries,
    )


@app.task(name=TaskName.PING, ignore_result=False)
def ping() -> str:
    """Round trip through the broker and a worker; readiness and tests use it."""
    return "pong"


def schedule_screening(fhir_base: str, patient_id: str) -> bool:
    """The patient waits in the server's due set; the first event of a coalescing window schedules the task that
    screens everyone waiting then (later events for a patient already waiting are covered by that run)."""
    store, window = redis_client(), _settings.coalesce_seconds
    if not due.mark_due(store, fhir_base, patient_id, coalesce_seconds=window):
        return False
    try:
        screen_due.apply_async(kwargs={"fhir_base": fhir_base}, countdown=window)
    except Exception:
        due.unschedule(store, fhir_base)  # so that the retry of the caller schedules it
        raise
    return True


@fhir_task(TaskName.PROCESS_EVENT)
def process_event(fhir_base: str, focus: str | None, resource: dict[str, Any] | None = None) -> None:
    if resource is None and focus:
        resource = fhir(fhir_base).read(focus)  # id-only payloads: fetch the focus
    patient = patient_of(resource)
    if patient is None:
        log.info("event.no_patient", focus_type=(focus or "").split("/")[-2:-1])
        return
    schedule_screening(fhir_base, patient)


@fhir_task(TaskName.SCREEN_DUE, base=BatchDeadLettering)
def screen_due(fhir_base: str) -> int:
    """Screen a batch of the patients waiting on this server; if more wait, another task takes the next batch
    meanwhile. One patient's permanent failure is dead-lettered without holding up the rest; a transient one
    retries the task, which resumes its batch (see service/pipeline/due.py)."""
    store, task_id = redis_client(), screen_due.request.id or ""
    batch, waiting = due.claim(store, fhir_base, task_id, _settings.screenings_per_task)
    if waiting:
        screen_due.apply_async(kwargs={"fhir_base": fhir_base})
    started = time.monotonic()
    for patient in batch:
        if time.monotonic() - started > _settings.task_soft_time_limit / 2:  # a slow FHIR server: hand the rest on
            due.give_back(store, fhir_base, task_id)
            screen_due.apply_async(kwargs={"fhir_base": fhir_base})
            return batch.index(patient)
        _screened_or_dead_lettered(
            fhir_base, patient, task_id,
            lambda: screen_one(store, fhir(fhir_base), _settings, fhir_base, patient, datetime.now(UTC)),  # noqa: B023
        )  # fmt: skip
        due.screened(store, task_id, patient)
    due.release(store, task_id)
    return len(batch)


def _screened_or_dead_lettered(fhir_base: str, patient_id: str, task_id: str, screen: Callable[[], T]) -> T | None:
    """One patient of a batch: `screen()`'s result, or None once her permanent failure is dead-lettered (a fault in
    one record must not strand the others). Transient errors propagate: the task retries and resumes its batch."""
    try:
        return screen()
    except PermanentFhirError as exc:
        _screening_failed(fhir_base, patient_id, task_id, str(exc), exc.status)
    except (RetryableFhirError, redis.RedisError, SoftTimeLimitExceeded):
        raise
    except Exception as exc:
        log.exception("screening.failed", error=type(exc).__name__)
        _screening_failed(fhir_base, patient_id, task_id, type(exc).__name__, None)
    return None


def _screening_failed(fhir_base: str, patient_id: str, task_id: str, reason: str, status: int | None) -> None:
    """Kept as the `toh.screen_patient` that would redo it."""
    dead_letter(screen_patient.name, task_id, reason, status, {"fhir_base": fhir_base, "patient_id": patient_id})
    redis_client().hincrby(SCREENINGS_KEY, "dead-lettered", 1)


@fhir_task(TaskName.SCREEN_PATIENT)
def screen_patient(fhir_base: str, patient_id: str) -> list[str]:
    """One patient's screening, for a caller that needs it now (and messages queued by earlier versions)."""
    return screen_one(redis_client(), fhir(fhir_base), _settings, fhir_base, patient_id, datetime.now(UTC))


@fhir_task(TaskName.BACKFILL_SCREEN)
def backfill_screen(fhir_base: str, job: str, patients: list[str]) -> int:
    """A batch of a backfill's patients, each screened from the resources the export filed under her. A patient
    already done (a message delivered twice, a batch sent again after a kill) is skipped; a transient error retries
    the task, which skips those it finished."""
    store, task_id = redis_client(), backfill_screen.request.id or ""
    done, counts = backfill_key(job, "done"), backfill_key(job, "counts")
    screened = 0
    for patient in patients:
        if store.sismember(done, patient):
            continue
        record_key = backfill_record_key(job, patient)
        resources = [json.loads(raw) for raw in cast(list[bytes], store.hvals(record_key))]
        result = _screened_or_dead_lettered(
            fhir_base, patient, task_id,
            lambda: screen_record(store, fhir(fhir_base), _settings, fhir_base, patient, resources, datetime.now(UTC)),  # noqa: B023
        )  # fmt: skip
        tally = {"failed": 1} if result is None else (
            {"screened": 1, "written-back": int(result.written_back)} | {f"topic:{t}": 1 for t in result.topics})  # fmt: skip
        with store.pipeline() as pipe:  # done and counted at once: a retry neither skips nor counts her twice
            pipe.sadd(done, patient)
            for name, count in tally.items():
                pipe.hincrby(counts, name, count)
            pipe.delete(record_key)
            pipe.execute()
        screened += 1
    return screened


@app.task(name=TaskName.RESCREEN)
def rescreen() -> int:
    """The next second's worth of patients whose cards an older rules version made, into their servers' due
    sets; again in a second while any wait (service/pipeline/rescreen.py)."""
    store, per_run = redis_client(), max(1, round(_settings.rescreen_per_second))
    taken = rescreening.take(store, per_run)
    for fhir_base, patient in taken:
        due.mark_due(store, fhir_base, patient, coalesce_seconds=0)
    for fhir_base in sorted({base for base, _ in taken}):
        screen_due.apply_async(kwargs={"fhir_base": fhir_base})
    if store.scard(RESCREEN_KEY):
        rescreen.apply_async(countdown=per_run / _settings.rescreen_per_second)
    return len(taken)


@fhir_task(TaskName.RESYNC)
def resync(fhir_base: str, since: float) -> int:
    """Re-query Observations and ImagingStudies updated since `since` (epoch seconds); screen their patients."""
    stamp = datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    client = fhir(fhir_base)
    patients: set[str] = set()
    for kind in ("Observation", "ImagingStudy"):
        for resource in client.search(f"{kind}?_lastUpdated=gt{stamp}&_count=200"):
            patient = patient_of(resource)
            if patient:
                patients.add(patient)
    for patient in sorted(patients):
        schedule_screening(fhir_base, patient)
    return len(patients)


GAP_CHECK_LIMIT = 1000  # wider gaps are not checked number by number: they are treated as lost


@app.task(name=TaskName.CHECK_GAP)
def check_gap(fhir_base: str, subscription: str, first: int, last: int) -> int:
    """Event numbers `first`..`last` were skipped a grace period ago; those still unseen were lost: re-query."""
    numbers = range(first, last + 1)
    if len(numbers) > GAP_CHECK_LIMIT:
        missing = len(numbers)
    else:
        with redis_client().pipeline(transaction=False) as pipe:
            for number in numbers:
                pipe.exists(event_seen_key(subscription, number))
            missing = sum(not seen for seen in pipe.execute())
    if missing:
        log.warning("ingest.gap", subscription=relative_reference(subscription), first=first, missing=missing)
        resync.delay(fhir_base=fhir_base, since=time.time() - 86400)
    return missing


@fhir_task(TaskName.SUBSCRIPTION_STATUS)
def subscription_status(fhir_base: str, subscription: str) -> str:
    """After a missed heartbeat: ask the server. Events we never received -> resync; an errored channel ->
    re-activate it (servers do not do that themselves)."""
    client = fhir(fhir_base)
    reference = relative_reference(subscription)
    found = client.read(f"{reference}/$status")
    statuses = [read_status(entry.get("resource")) for entry in (found or {}).get("entry") or []]
    status = next((s for s in statuses if s), None)
    if status is None:
        log.warning("watchdog.status_unknown", subscription=reference)
        return "unknown"
    store = redis_client()
    ours = channel_state(store, subscription)
    server_count, our_count = status.get("events_since_start") or 0, ours.events_since_start or 0
    if server_count > our_count:
        log.warning("watchdog.events_missed", subscription=reference, missed=server_count - our_count)
        resync.delay(fhir_base=fhir_base, since=(ours.last_seen or time.time() - 86400) - 60)
    if status.get("status") == "error":
        current = client.read(reference)
        if current is not None:
            client.put({**current, "status": "requested"})
            log.warning("watchdog.subscription_reactivated", subscription=reference)
    return str(status.get("status"))
