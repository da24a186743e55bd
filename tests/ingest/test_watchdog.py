"""Broken channels: overdue heartbeats are flagged by /readyz and followed by `$status` and recovery."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import redis

from fixtures.scenarios import SCENARIOS
from service.fhir.writeback import risk_assessment_id
from service.pipeline.channel import ChannelState
from service.pipeline.store import SUBSCRIPTIONS_KEY
from service.pipeline.watchdog import overdue
from tests.ingest.pipeline import Pipeline, pipeline
from tests.waiting import eventually


@pytest.mark.parametrize(
    ("state", "late"),
    [
        ({"heartbeat_interval": 2.0, "last_heartbeat": 990.0}, False),  # 10 s silent, grace is 10 s
        ({"heartbeat_interval": 2.0, "last_heartbeat": 980.0}, True),
        ({"heartbeat_interval": 30.0, "last_heartbeat": 950.0}, False),  # 50 s < 3 intervals
        ({"heartbeat_interval": 30.0, "last_heartbeat": 900.0}, True),
        ({"last_heartbeat": 0.0}, False),  # no interval learned yet: nothing to judge
        ({}, False),
    ],
)
def test_overdue_after_three_intervals_or_ten_seconds(state: dict[str, float], late: bool) -> None:
    assert ("s" in overdue({"s": ChannelState(**state)}, now=1000.0)) is late


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with pipeline(tmp_path_factory.mktemp("watchdog"), TOH_WATCHDOG_SECONDS="1") as running:
        yield running


def test_a_silent_channel_is_flagged_checked_and_recovered(stack: Pipeline, tmp_path: Path) -> None:
    subscribed = subprocess.run(
        [sys.executable, "-m", "service.cli", "subscribe", "--fhir-base", stack.sekmet, "--endpoint",
         f"{stack.api}/fhir/notifications", "--mode", "backport"], capture_output=True, text=True, env=stack.env, timeout=60,
    )  # fmt: skip
    assert subscribed.stdout.count(": active") == 2, subscribed.stdout + subscribed.stderr
    patient = "toh-watchdog"
    bundle = tmp_path / "seed.json"
    bundle.write_text(json.dumps(next(s for s in SCENARIOS if s.id == "seed-1").build(datetime.now(UTC)).bundle())
                      .replace("toh-seed-stage-1", patient))  # fmt: skip
    loaded = subprocess.run([sys.executable, "-m", "service.cli", "load", str(bundle), "--fhir-base", stack.sekmet],
                            capture_output=True, text=True, env=stack.env, timeout=60)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    eventually(lambda: httpx.get(f"{stack.sekmet}/RiskAssessment/{risk_assessment_id(patient)}").status_code, lambda s: s == 200,
               timeout=60)  # fmt: skip

    # The channel falls silent: a heartbeat every second was expected, none came for a minute, and we hold
    # fewer events than the server sent.
    store = redis.Redis.from_url(stack.env["TOH_REDIS_URL"])
    observation_subscription = next(
        key.decode() for key, raw in store.hgetall(SUBSCRIPTIONS_KEY).items()
        if json.loads(raw)["events_since_start"] > 0 and stack.sekmet.split("/fhir")[0] in key.decode()
    )  # fmt: skip
    state = json.loads(store.hget(SUBSCRIPTIONS_KEY, observation_subscription))
    silent = state | {"heartbeat_interval": 1.0, "last_heartbeat": time.time() - 60, "events_since_start": 0}
    resyncs = lambda: sum('"toh.resync' in line and "succeeded" in line for line in list(stack.worker.lines))  # noqa: E731
    before = resyncs()  # counted before the watchdog (every second) can act on the silence
    store.hset(SUBSCRIPTIONS_KEY, observation_subscription, json.dumps(silent))
    store.close()

    heartbeat = lambda: httpx.get(f"{stack.api}/readyz").json()["checks"].get("subscriptions:heartbeat")  # noqa: E731
    assert eventually(heartbeat, lambda check: check is not None and check[0]["status"] == "warn")
    stack.worker.wait_for(lambda line: "toh.subscription_status" in line and "succeeded" in line, timeout=60)
    eventually(resyncs, lambda count: count > before, timeout=60)  # the server's count was ahead: re-query
    assert any('"watchdog.heartbeat_overdue"' in line for line in stack.api_log.lines)
