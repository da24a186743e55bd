"""Worker-side wiring: structlog with the task id bound, and task outcomes counted in Redis.

Outcomes go to one Redis hash so that /metrics is right however many worker processes (prefork children,
containers) run: each process increments, the API reads the sum.
"""

from __future__ import annotations

import sys
from typing import Any

import redis
import structlog
from celery import Task
from celery.signals import (
    setup_logging,
    task_failure,
    task_postrun,
    task_prerun,
    task_rejected,
    task_retry,
    task_revoked,
    task_success,
    worker_init,
    worker_ready,
)
from celery.worker import state as worker_state

from service.core.logging import configure_logging
from service.pipeline.store import TASK_OUTCOMES_KEY, task_outcome_field
from service.screening import report_reading
from service.settings import get_settings
from workers.clients import redis_client

log = structlog.get_logger("toh.worker")


def _count(task_name: str, outcome: str) -> None:
    try:
        redis_client().hincrby(TASK_OUTCOMES_KEY, task_outcome_field(task_name, outcome), 1)
    except redis.RedisError as exc:
        # A lost metric must never fail the task it describes.
        log.warning("task.outcome_not_counted", task_name=task_name, outcome=outcome, error=type(exc).__name__)


@setup_logging.connect
def _setup_logging(**_: Any) -> None:
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.logs_as_json(sys.stderr.isatty()), process="worker")


@worker_init.connect
def _load_report_reader(**_: Any) -> None:
    """In the main process, before the pool forks: its children share the loaded NLP pipeline's memory."""
    report_reading.warm()


@worker_ready.connect
def _worker_ready(**_: Any) -> None:
    _rescreen_if_rules_changed()
    log.info("worker.ready")


def _rescreen_if_rules_changed() -> None:
    """The first worker to start with a new RULES_VERSION queues the patients whose cards an older one made."""
    from service.pipeline.rescreen import queue_if_rules_changed
    from service.screening import RULES_VERSION
    from workers.tasks import rescreen

    settings = get_settings()
    try:
        queued = queue_if_rules_changed(redis_client(), RULES_VERSION, [b for b in [settings.fhir_base_url] if b])
    except redis.RedisError as exc:  # the next worker to start looks again
        log.warning("rescreen.not_checked", error=type(exc).__name__)
        return
    if queued:
        log.info("rescreen.queued", patients=queued, rules_version=RULES_VERSION)
        rescreen.apply_async()


@task_prerun.connect
def _bind_task(task_id: str, task: Task[Any, Any], **_: Any) -> None:
    structlog.contextvars.bind_contextvars(task_id=task_id, task_name=task.name)


@task_postrun.connect
def _unbind_task(**_: Any) -> None:
    structlog.contextvars.unbind_contextvars("task_id", "task_name")


@task_success.connect
def _on_success(sender: Task[Any, Any], **_: Any) -> None:
    _count(sender.name, "success")


@task_retry.connect
def _on_retry(sender: Task[Any, Any], **_: Any) -> None:
    _count(sender.name, "retry")


@task_failure.connect
def _on_failure(sender: Task[Any, Any], exception: BaseException, **_: Any) -> None:
    log.error("task.failed", error=type(exception).__name__)
    _count(sender.name, "failure")


@task_rejected.connect
def _on_rejected(message: Any, **_: Any) -> None:
    _count(str(message.headers.get("task", "unknown")), "rejected")


@task_revoked.connect
def _on_revoked(sender: Task[Any, Any], request: Any, terminated: bool = False, **_: Any) -> None:
    """A task the pool reports "terminated" that nobody revoked runs again, with the same id.

    billiard marks a pool process it sends SIGTERM (Celery cancels running tasks when the broker connection is lost)
    and the mark can outlive that: when a process dies later, its task is reported terminated instead of lost, and
    Celery acknowledges its message as if revoked. The work would be gone: after a Redis restart, a `screen_due`
    killed with its worker process left its batch in its claim for good (measured: 6 patients never screened).
    Run again under the same id, a `screen_due` resumes its claim; every task is idempotent.
    """
    _count(sender.name, "revoked")
    if terminated and request.id not in worker_state.revoked:
        log.warning("task.terminated_run_again", task_name=sender.name)
        sender.apply_async(args=request.args, kwargs=request.kwargs, task_id=request.id)
