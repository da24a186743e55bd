"""After Redis restarts: re-query what changed lately, because a restart can drop a task that was already accepted.

Redis does not send pending replies when it shuts down: a task a worker's BRPOP took in Redis's last instant is
popped (and the pop kept in the AOF) but never delivered. Nothing on the worker's side can see it. So each time a
worker's consumer connects, it compares Redis's run id with the one recorded in Redis; when they differ, Redis has
restarted since, and the worker queues a resync of the last RESTART_LOOKBACK_SECONDS (screenings are idempotent, and
coalesced per patient). Every worker that notices queues one; the duplicates cost one search each.
"""

from __future__ import annotations

import time
from typing import Any, cast

import structlog
from celery import bootsteps
from redis.exceptions import RedisError

from service.pipeline.store import RUN_ID_KEY
from service.pipeline.task_names import TaskName
from service.settings import get_settings
from workers.clients import redis_client

__all__ = ["RESTART_LOOKBACK_SECONDS", "ResyncAfterRedisRestart"]

log = structlog.get_logger("toh.restarts")
RESTART_LOOKBACK_SECONDS = 900


class ResyncAfterRedisRestart(bootsteps.StartStopStep):
    """A consumer step: its `start` runs on every connection to the broker, the first and each reconnect."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, consumer: Any) -> None:
        fhir_base = get_settings().fhir_base_url
        store = redis_client()
        try:
            run_id = str(cast(dict[str, Any], store.info("server"))["run_id"])
            recorded = cast(bytes | None, store.get(RUN_ID_KEY))
            if recorded is not None and recorded.decode() != run_id and fhir_base:
                log.warning("redis.restarted", lookback_seconds=RESTART_LOOKBACK_SECONDS)
                kwargs = {"fhir_base": fhir_base, "since": time.time() - RESTART_LOOKBACK_SECONDS}
                consumer.app.send_task(TaskName.RESYNC, kwargs=kwargs)
            store.set(RUN_ID_KEY, run_id)  # after the resync is queued: a failure in between means another try
        except RedisError as exc:  # Redis gone again: the consumer reconnects and this runs once more
            log.warning("redis.restart_check_failed", error=type(exc).__name__)
