"""Faults injected into the running pipeline (sekmet-fhir behind a fault-injecting proxy, the API under uvicorn,
a Celery worker, Redis with AOF): nothing accepted is lost and nothing is written back twice.

`make test` runs the short form; `make soak` sets TOH_RELIABILITY_FULL=1 for the full one (2,000 events, FHIR server
down 30 s). RELIABILITY.md records what each test injects and proves.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import redis

from service.fhir.writeback import risk_assessment_id
from service.store import DEAD_LETTERS_KEY
from tests.ingest.faulty_fhir import FaultyFhir
from tests.ingest.pipeline import TOKEN, Pipeline, pipeline
from tests.ingest.test_recovery import backport_event, load_patient
from tests.processes import descendants
from tests.waiting import eventually

FULL = os.environ.get("TOH_RELIABILITY_FULL") == "1"
EVENTS = 2000 if FULL else 300
DOWN_SECONDS = 30 if FULL else 6
PATIENTS = 20
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pipeline, FaultyFhir]]:
    from tests.conftest import start_sekmet

    sekmet, sekmet_base = start_sekmet(tmp_path_factory.mktemp("faults") / "upstream")
    proxy = FaultyFhir(sekmet_base)
    try:
        # Retries capped at 8 s, so a FHIR server that comes back is noticed within seconds.
        quick = {"TOH_RETRY_BACKOFF_MAX": "8", "TOH_TASK_SOFT_TIME_LIMIT": "10", "TOH_TASK_TIME_LIMIT": "15",
                 "TOH_VISIBILITY_TIMEOUT": "30"}  # fmt: skip
        with pipeline(tmp_path_factory.mktemp("faults-stack"), fhir_override=proxy.url, **quick) as running:
            running.sekmet = sekmet_base
            yield running, proxy
    finally:
        proxy.close()
        sekmet.stop()


def store(stack: Pipeline) -> redis.Redis:
    return redis.Redis.from_url(stack.env["TOH_REDIS_URL"])


def outcomes(stack: Pipeline, task: str) -> int:
    with store(stack) as client:
        counts = client.hgetall("toh:metrics:task-outcomes")
    return sum(int(v) for k, v in counts.items() if k.decode() == f"{task}|success")


def versions(stack: Pipeline, patient: str) -> int:
    history = httpx.get(f"{stack.sekmet}/RiskAssessment/{risk_assessment_id(patient)}/_history").json()
    return len(history.get("entry") or [])


def deliver(url: str, body: dict[str, Any], refused: threading.Event | None = None) -> int:
    """Send one notification as a FHIR server does: retry while the receiver answers 503; return the tries."""
    for attempt in range(1, 300):
        response = httpx.post(url, json=body, headers=HEADERS, timeout=30)
        if response.status_code == 200:
            return attempt
        assert response.status_code == 503, response.text
        if refused is not None:
            refused.set()
        time.sleep(0.1)  # the sender's retry backoff, not a synchronisation
    raise AssertionError("never accepted")


def test_events_survive_worker_processes_killed_three_times(faulty: tuple[Pipeline, FaultyFhir]) -> None:
    stack, proxy = faulty
    proxy.fault = lambda method, path: None
    patients = [f"toh-faults-kill-{index}" for index in range(PATIENTS)]
    focus = {patient: load_patient(stack, patient) for patient in patients}
    before = outcomes(stack, "toh.process_event")
    url = f"{stack.api}/fhir/notifications"
    subscription = "Subscription/toh-faults-kill"
    bodies = [backport_event(subscription, n, focus[patients[n % PATIENTS]]) for n in range(1, EVENTS + 1)]
    kills = 0
    with ThreadPoolExecutor(8) as senders:
        sent = [senders.submit(deliver, url, body) for body in bodies]
        for quarter in (1, 2, 3):
            eventually(lambda: sum(f.done() for f in sent), lambda done, q=quarter: done >= EVENTS * q // 4, 120)
            pool = sorted(descendants(stack.worker.process.pid))
            os.kill(pool[-1], signal.SIGKILL)  # one prefork process; its task (if any) is redelivered
            kills += 1
        assert all(f.result() == 1 for f in sent)  # every event accepted at once
    assert kills == 3
    eventually(lambda: outcomes(stack, "toh.process_event") - before, lambda done: done >= EVENTS, timeout=300)
    for patient in patients:
        eventually(lambda p=patient: versions(stack, p), lambda count: count == 1, timeout=120)
    with store(stack) as client:
        assert client.llen(DEAD_LETTERS_KEY) == 0


def test_a_fhir_server_down_then_throttling_gets_retries_and_the_work_completes(
    faulty: tuple[Pipeline, FaultyFhir],
) -> None:
    stack, proxy = faulty
    patients = [f"toh-faults-down-{index}" for index in range(5)]
    focus = {patient: load_patient(stack, patient) for patient in patients}
    back_at = time.monotonic() + DOWN_SECONDS
    throttled: list[str] = []

    def down_then_throttling(method: str, path: str) -> tuple[str, Any] | None:
        if time.monotonic() < back_at:
            return ("status", 503)
        if len(throttled) < 5:  # then a few 429s with Retry-After
            throttled.append(path)
            return ("status", 429)
        return None

    proxy.fault = down_then_throttling
    url = f"{stack.api}/fhir/notifications"
    for number, patient in enumerate(patients, start=1):  # id-only: the focus must be read from the server
        body = backport_event("Subscription/toh-faults-down", number, focus[patient])
        body["entry"] = body["entry"][:1]
        assert deliver(url, body) == 1
    for patient in patients:
        eventually(lambda p=patient: versions(stack, p), lambda count: count == 1, timeout=DOWN_SECONDS + 180)
    statuses = [status for _, _, status in proxy.seen]
    assert statuses.count(503) >= 5 and statuses.count(429) == 5
    proxy.fault = lambda method, path: None
