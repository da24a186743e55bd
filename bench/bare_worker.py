"""Reference of the memory figure: a bare Celery worker (same broker, prefork, two processes) with one no-op task,
on a queue of its own."""

from __future__ import annotations

import os

from celery import Celery

app = Celery("bare", broker=os.environ["TOH_REDIS_URL"])
app.conf.update(task_default_queue="bare", worker_hijack_root_logger=False)


@app.task(name="bare.noop")
def noop() -> None:
    return None
