"""Dependency checks for /readyz, reported in the health+json draft format (draft-inadarei-api-health-check-06).

Only Redis decides readiness: without it nothing can be accepted durably, and "reachable" is not enough: a Redis
that refuses writes (maxmemory with noeviction) fails too. A missing worker or FHIR server is a `warn`: hooks still
answer (inline screening, prefetch) and notifications queue safely until workers return.

The checks run in the background, one round at a time every `interval` seconds (`Readiness`); /readyz serves the
last round. A probe per request would let callers make us call the FHIR server and the broker at will: 500
concurrent /readyz made 500 /metadata requests, and 300 abandoned broker pings leaked 300 threads.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

import anyio
import httpx
import redis.asyncio as aioredis
from celery import Celery
from redis.exceptions import RedisError

from service.pipeline.channel import channel_states
from service.pipeline.store import READY_KEY
from service.pipeline.watchdog import overdue

__all__ = [
    "Check",
    "Readiness",
    "WorkerPing",
    "check_fhir",
    "check_heartbeats",
    "check_redis",
    "check_workers",
    "overall_status",
]

Status = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    key: str  # "{componentName}:{measurementName}"
    component_type: str
    status: Status
    observed_value: float | int | None = None
    observed_unit: str | None = None
    output: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # when it was checked

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "componentType": self.component_type,
            "status": self.status,
            "time": self.at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        if self.observed_value is not None:
            body["observedValue"] = self.observed_value
        if self.observed_unit:
            body["observedUnit"] = self.observed_unit
        if self.output:
            body["output"] = self.output
        return body


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1e3, 2)


async def check_redis(client: aioredis.Redis) -> Check:
    started = time.perf_counter()
    try:
        await cast(Awaitable[bool], client.ping())  # redis-py types it for sync and async clients alike
    except (RedisError, OSError) as exc:
        return Check("redis:responseTime", "datastore", "fail", output=f"Redis unreachable: {type(exc).__name__}")
    try:
        await client.set(READY_KEY, "1", ex=60)
    except (RedisError, OSError) as exc:
        return Check("redis:responseTime", "datastore", "fail", output=f"Redis refuses writes: {type(exc).__name__}")
    return Check("redis:responseTime", "datastore", "pass", _ms_since(started), "ms")


class WorkerPing:
    """Celery control ping in a thread, never more than one at a time (one per app): a ping stuck in kombu (a
    broker that accepts and never answers) is abandoned once, not once per round."""

    def __init__(self) -> None:
        self.running = False

    def __call__(self, celery: Celery, timeout: float) -> list[dict[str, Any]]:
        try:
            return celery.control.ping(timeout=timeout, limit=1) or []
        finally:
            self.running = False


async def check_workers(celery: Celery, timeout: float, ping: WorkerPing) -> Check:
    """Celery control ping; returns on the first reply, or after `timeout` with none."""
    if ping.running:
        return Check("celery:workers", "component", "warn", 0, output="The last worker ping has not returned")
    ping.running = True
    try:
        with anyio.fail_after(timeout + 2.0):
            replies = await anyio.to_thread.run_sync(ping, celery, timeout, abandon_on_cancel=True)
    except Exception as exc:  # kombu raises transport-specific errors when the broker is down
        return Check("celery:workers", "component", "warn", 0, output=f"Broker unreachable: {type(exc).__name__}")
    if not replies:
        return Check("celery:workers", "component", "warn", 0, output=f"No worker answered within {timeout:g} s")
    return Check("celery:workers", "component", "pass", len(replies))


async def check_fhir(http: httpx.AsyncClient, fhir_base: str, timeout: float) -> Check:
    started = time.perf_counter()
    try:
        response = await http.get(f"{fhir_base}/metadata", headers={"Accept": "application/fhir+json"}, timeout=timeout)
    except httpx.HTTPError as exc:
        return Check("fhir:metadata", "component", "warn", output=f"FHIR server unreachable: {type(exc).__name__}")
    if response.status_code != 200:
        return Check("fhir:metadata", "component", "warn", output=f"FHIR /metadata answered {response.status_code}")
    try:
        resource_type = response.json().get("resourceType")
    except ValueError:
        resource_type = None
    if resource_type != "CapabilityStatement":
        return Check("fhir:metadata", "component", "warn", output="FHIR /metadata is not a CapabilityStatement")
    return Check("fhir:metadata", "component", "pass", _ms_since(started), "ms")


async def check_heartbeats(redis: aioredis.Redis) -> Check | None:
    """Warn when a subscription's heartbeat is overdue; None when no subscription sends heartbeats."""
    try:
        states = await channel_states(redis)
    except (RedisError, OSError):
        return None  # the Redis check already fails
    watched = [s for s in states.values() if s.heartbeat_interval]
    if not watched:
        return None
    late = overdue(states, time.time())
    if late:
        return Check("subscriptions:heartbeat", "component", "warn", len(late),
                     output=f"{len(late)} of {len(watched)} subscription(s) overdue for a heartbeat")  # fmt: skip
    return Check("subscriptions:heartbeat", "component", "pass", len(watched))


class Readiness:
    """The last round of checks, refreshed in the background by `run()`; `latest()` waits only for the first."""

    def __init__(self, round_of_checks: Callable[[], Awaitable[list[Check]]], interval: float) -> None:
        self._round = round_of_checks
        self.interval = interval
        self._checks: list[Check] = []
        self._first = anyio.Event()

    async def run(self) -> None:
        """Rounds every `interval` seconds; every second while something is not `pass`, so that a recovery (or the
        worker a fresh start waits for) shows soon."""
        while True:
            self._checks = await self._round()
            self._first.set()
            await anyio.sleep(self.interval if overall_status(self._checks) == "pass" else min(self.interval, 1.0))

    async def latest(self) -> list[Check]:
        await self._first.wait()
        return self._checks


def overall_status(checks: list[Check]) -> Status:
    statuses = {check.status for check in checks}
    if "fail" in statuses:
        return "fail"
    return "warn" if "warn" in statuses else "pass"
