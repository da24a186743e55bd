"""Thin Celery tasks: ids in, domain code called, retry policy in the decorator."""

from __future__ import annotations

from workers.celery_app import app

__all__ = ["ping"]


@app.task(name="toh.ping", ignore_result=False)
def ping() -> str:
    """Round trip through the broker and a worker; readiness and tests use it."""
    return "pong"
