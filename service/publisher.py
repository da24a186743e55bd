"""Queueing Celery tasks from the API's event loop, deduplicated, in one Redis round trip.

Celery builds each task message (protocol 2, `amqp.as_task_v2`); one Lua script then marks every event seen (SET NX)
and pushes the message of each event seen for the first time onto the queue, atomically: an event is never marked
without its task being queued, nor queued twice. Celery's own `send_task` is synchronous (a thread hop per event
in an async server) and costs several round trips.

The envelope is the one kombu's Redis transport writes for a task sent to the default queue (anonymous exchange,
routing key = queue name, priority 0, base64 body); tests/ingest/test_publisher.py compares it with a real
`send_task`, and every pipeline test has real workers consume it.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from celery import Celery

__all__ = ["Job", "TaskPublisher"]

# KEYS: the queue, a hash. ARGV: seconds a mark lives, the number of jobs n, a field of the hash and its value
# ("" for none), then n marks ("" for none), then n messages.
_ENQUEUE = """
local n = tonumber(ARGV[2])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
end
local queued = 0
for i = 1, n do
  local mark = ARGV[4 + i]
  if mark == '' or redis.call('SET', mark, '1', 'NX', 'EX', ARGV[1]) then
    redis.call('LPUSH', KEYS[1], ARGV[4 + n + i])
    queued = queued + 1
  end
end
return queued
"""

Job = tuple[str | None, str]  # (the mark that says this event was seen, or None; the message)


class TaskPublisher:
    def __init__(self, celery: Celery, redis: aioredis.Redis, *, queue: str = "celery") -> None:
        self.celery = celery
        self.queue = queue
        self._enqueue = redis.register_script(_ENQUEUE)

    def message(self, task: str, kwargs: dict[str, Any], *, countdown: float | None = None) -> str:
        """The queue entry for one task. `kwargsrepr` names the arguments only: no resource (PHI) in headers."""
        task_id = str(uuid.uuid4())
        headers, properties, body, _ = self.celery.amqp.as_task_v2(
            task_id, task, kwargs=kwargs, countdown=countdown, kwargsrepr=repr(sorted(kwargs))
        )
        properties |= {
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": self.queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        }
        encoded = base64.b64encode(json.dumps(body).encode()).decode()
        envelope = {"body": encoded, "content-encoding": "utf-8", "content-type": "application/json",
                    "headers": headers, "properties": properties}  # fmt: skip
        return json.dumps(envelope)

    async def publish(
        self, jobs: Sequence[Job], *, mark_seconds: int = 1, state: tuple[str, str, str] | None = None
    ) -> int:
        """Queue every job whose mark was not set yet; returns how many were queued. `state` (hash, field, value)
        is written in the same atomic step: what a channel said is recorded together with the work it caused."""
        marks = [mark or "" for mark, _ in jobs]
        messages = [message for _, message in jobs]
        hash_key, field, value = state or (self.queue, "", "")
        args: list[str | int] = [mark_seconds, len(jobs), field, value, *marks, *messages]
        return int(await self._enqueue(keys=[self.queue, hash_key], args=args))
