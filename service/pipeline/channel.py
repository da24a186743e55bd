"""What a subscription's channel last said: one typed record per subscription, in the `SUBSCRIPTIONS_KEY` hash.

Written by the notification receiver (service/pipeline/ingest.py) in the same atomic step as the work a
notification causes; read by the watchdog, /readyz and the workers' `$status` check. The expected heartbeat interval
is learned from the heartbeats themselves (a smoothed average), so no server has to announce it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, cast

import redis
import redis.asyncio as aioredis

from service.fhir.notifications import Notification
from service.pipeline.store import SUBSCRIPTIONS_KEY

__all__ = ["MIN_GRACE_SECONDS", "ChannelState", "channel_state", "channel_states"]

MIN_GRACE_SECONDS = 10.0  # never overdue sooner than this, however short the heartbeat interval


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class ChannelState:
    last_seen: float | None = None  # when any notification last arrived (epoch seconds)
    last_kind: str | None = None
    status: str | None = None
    topic: str | None = None
    events_since_start: int | None = None  # the highest event number known; None: no event seen yet
    heartbeat_interval: float | None = None
    last_heartbeat: float | None = None

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> ChannelState:
        """The stored state; a missing or unreadable one is the state of a channel never heard from."""
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        count = data.get("events_since_start")
        return cls(
            last_seen=_number(data.get("last_seen")),
            last_kind=data.get("last_kind") if isinstance(data.get("last_kind"), str) else None,
            status=data.get("status") if isinstance(data.get("status"), str) else None,
            topic=data.get("topic") if isinstance(data.get("topic"), str) else None,
            events_since_start=count if isinstance(count, int) and not isinstance(count, bool) else None,
            heartbeat_interval=_number(data.get("heartbeat_interval")),
            last_heartbeat=_number(data.get("last_heartbeat")),
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    def after(self, notification: Notification, numbers: list[int], now: float) -> ChannelState:
        """The state once `notification` (carrying event `numbers`) has arrived at `now`."""
        state = replace(
            self,
            last_seen=now,
            last_kind=notification.kind,
            status=notification.status,
            topic=notification.topic,
            events_since_start=max(notification.events_since_start or 0, *numbers, self.events_since_start or 0),
        )
        if notification.kind != "heartbeat":
            return state
        interval = self.heartbeat_interval
        if self.last_heartbeat is not None:
            observed = now - self.last_heartbeat
            interval = observed if not interval else 0.7 * interval + 0.3 * observed
        return replace(state, heartbeat_interval=interval, last_heartbeat=now)

    def silence(self, now: float) -> float | None:
        """Seconds since the last heartbeat when it is overdue (three intervals, at least the grace), else None."""
        if self.heartbeat_interval is None or self.last_heartbeat is None:
            return None
        silent = now - self.last_heartbeat
        return silent if silent > max(3 * self.heartbeat_interval, MIN_GRACE_SECONDS) else None


def _decoded(raw: Mapping[bytes, bytes]) -> dict[str, ChannelState]:
    return {key.decode(): ChannelState.from_json(value) for key, value in raw.items()}


async def channel_states(store: aioredis.Redis) -> dict[str, ChannelState]:
    """Every subscription's channel state, by subscription reference."""
    return _decoded(await cast(Awaitable[dict[bytes, bytes]], store.hgetall(SUBSCRIPTIONS_KEY)))


def channel_state(store: redis.Redis, subscription: str) -> ChannelState:
    """One subscription's channel state (the workers' synchronous client)."""
    return ChannelState.from_json(cast(bytes | None, store.hget(SUBSCRIPTIONS_KEY, subscription)))
