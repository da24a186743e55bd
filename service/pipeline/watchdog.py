"""Watching subscription channels: a heartbeat that stops arriving means a broken channel and lost events.

The expected interval is learned from the heartbeats themselves. A subscription is overdue when three intervals
(at least ten seconds) pass without one; /readyz then warns, and the API's watchdog loop queues one `$status`
check per overdue subscription (deduplicated across API processes), which the workers follow with recovery.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from functools import partial

import anyio
import redis.asyncio as aioredis
import structlog
from celery import Celery
from redis.exceptions import RedisError

from service.pipeline.channel import ChannelState, channel_states
from service.pipeline.store import watchdog_key
from service.pipeline.task_names import TaskName

__all__ = ["overdue", "watch"]

log = structlog.get_logger("toh.watchdog")


def overdue(states: Mapping[str, ChannelState], now: float) -> dict[str, float]:
    """Subscription -> seconds since its last heartbeat, for those whose heartbeat is overdue."""
    return {subscription: silent for subscription, state in states.items() if (silent := state.silence(now))}


async def watch(redis: aioredis.Redis, celery: Celery, fhir_base: str, every: float) -> None:
    """Runs for the API's lifetime: queue a `$status` check for each subscription whose heartbeat is overdue."""
    while True:
        await asyncio.sleep(every)  # a periodic duty, not a synchronisation
        try:
            for subscription, silence in overdue(await channel_states(redis), time.time()).items():
                if await redis.set(watchdog_key(subscription), "1", nx=True, ex=max(60, int(every * 4))):
                    log.warning("watchdog.heartbeat_overdue", subscription=subscription, silent_seconds=round(silence))
                    kwargs = {"fhir_base": fhir_base, "subscription": subscription}
                    await anyio.to_thread.run_sync(
                        partial(celery.send_task, TaskName.SUBSCRIPTION_STATUS, kwargs=kwargs)
                    )
        except (RedisError, OSError) as exc:
            log.warning("watchdog.unavailable", error=type(exc).__name__)
        except Exception as exc:  # the broker down, for instance: try again next round
            log.warning("watchdog.failed", error=type(exc).__name__)
