"""The Celery application factory, configured from the same settings as the API.

Tasks are idempotent, so messages are acknowledged late and re-queued if a worker dies mid-task; the
Redis visibility timeout is kept above the longest retry countdown so retries never loop. The API builds its own app
to publish with (`service.main`); the workers' app is `workers.celery_app:app`, built from the environment.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from service.settings import Settings

__all__ = ["celery_config", "create_celery_app"]


def celery_config(settings: Settings) -> dict[str, Any]:
    redis_url = settings.effective_redis_url
    transport_options = {
        "visibility_timeout": settings.visibility_timeout,
        "socket_connect_timeout": settings.http_connect_timeout,
        "socket_timeout": settings.http_timeout,
    }
    return {
        "broker_url": redis_url,
        "broker_transport": "service.pipeline.broker:Transport",
        "result_backend": redis_url,
        "broker_transport_options": transport_options,
        "result_backend_transport_options": {"visibility_timeout": settings.visibility_timeout},
        "visibility_timeout": settings.visibility_timeout,
        "broker_connection_retry_on_startup": True,
        # A task that schedules another (a retry, a screening) waits up to about 30 s for Redis to come back.
        "task_publish_retry_policy": {"max_retries": 30, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "task_ignore_result": True,
        "result_expires": 3600,
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "enable_utc": True,
        "timezone": "UTC",
    }


def create_celery_app(settings: Settings) -> Celery:
    celery = Celery("toh_cds", include=["workers.tasks"], set_as_current=False)
    celery.conf.update(celery_config(settings))
    return celery
