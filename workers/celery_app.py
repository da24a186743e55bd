"""The workers' Celery app (`celery -A workers.celery_app:app`), built from the environment's settings, with the
worker-side signal handlers and the Redis-restart check wired on import."""

from __future__ import annotations

from service.pipeline.celery import create_celery_app
from service.settings import get_settings
from workers import signals  # noqa: F401  (its handlers connect on import)
from workers.restarts import ResyncAfterRedisRestart

__all__ = ["app"]

app = create_celery_app(get_settings())
app.steps["consumer"].add(ResyncAfterRedisRestart)
