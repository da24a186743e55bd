"""Nothing accepted is lost: a worker killed mid-task, and a FHIR server answering 503 for a while."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from fixtures.scenarios import SCENARIOS
from service.fhir.writeback import risk_assessment_id
from tests.ingest.faulty_fhir import FaultyFhir
from tests.ingest.pipeline import TOKEN, Pipeline, as_put_transaction, behind_a_proxy
from tests.processes import descendants
from tests.waiting import eventually


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pipeline, FaultyFhir]]:
    with behind_a_proxy(tmp_path_factory.mktemp("recovery")) as running:
        yield running


def load_patient(stack: Pipeline, patient: str) -> dict[str, Any]:
    resources = json.loads(json.dumps(next(s for s in SCENARIOS if s.id == "seed-1").build(datetime.now(UTC)).resources)
                           .replace("toh-seed-stage-1", patient))  # fmt: skip
    response = httpx.post(
        stack.sekmet, content=as_put_transaction(resources), headers={"Content-Type": "application/fhir+json"}
    )
    assert response.status_code == 200
    return next(r for r in resources if r["resourceType"] == "Observation")


def notify(stack: Pipeline, resource: dict[str, Any]) -> None:
    url = f"{stack.api}/fhir/notifications/{resource['resourceType']}/{resource['id']}"
    response = httpx.put(url, json=resource, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


def risk_exists(stack: Pipeline, patient: str) -> bool:
    return httpx.get(f"{stack.sekmet}/RiskAssessment/{risk_assessment_id(patient)}").status_code == 200


def test_a_worker_killed_mid_task_loses_nothing(faulty: tuple[Pipeline, FaultyFhir]) -> None:
    stack, proxy = faulty
    patient = "toh-recovery-killed"
    observation = load_patient(stack, patient)
    release = threading.Event()
    held: list[str] = []

    def hold_first_record_read(method: str, path: str) -> tuple[str, Any] | None:
        if method == "GET" and f"/Patient/{patient}" in path and not held:
            held.append(path)
            return ("hold", release)
        return None

    proxy.arrived.clear()
    proxy.fault = hold_first_record_read
    notify(stack, observation)
    eventually(lambda: held, bool, timeout=30)  # the screening task is now in the middle of its work
    for pid in descendants(stack.worker.process.pid):
        os.kill(pid, signal.SIGKILL)  # every pool process: the one running the task dies with it
    release.set()
    eventually(lambda: risk_exists(stack, patient), bool, timeout=90)
    assert held == [held[0]]
    assert sum(f"/Patient/{patient}" in path for _, path, _ in proxy.seen) >= 1  # it ran again and completed


def test_a_fhir_server_answering_503_for_a_while_gets_retries(faulty: tuple[Pipeline, FaultyFhir]) -> None:
    stack, proxy = faulty
    patient = "toh-recovery-503"
    observation = load_patient(stack, patient)
    failures: list[str] = []

    def unavailable_four_times(method: str, path: str) -> tuple[str, Any] | None:
        if len(failures) < 4:
            failures.append(path)
            return ("status", 503)
        return None

    proxy.fault = unavailable_four_times
    notify(stack, observation)
    eventually(lambda: risk_exists(stack, patient), bool, timeout=120)
    assert len(failures) == 4
    assert [status for _, _, status in proxy.seen].count(503) >= 4
    metrics = httpx.get(f"{stack.api}/metrics").text
    assert any('outcome="retry"' in line and not line.endswith(" 0.0") for line in metrics.splitlines())


def backport_event(subscription: str, number: int, focus: dict[str, Any]) -> dict[str, Any]:
    reference = f"Observation/{focus['id']}"
    parameters = [
        {"name": "subscription", "valueReference": {"reference": subscription}},
        {"name": "status", "valueCode": "active"},
        {"name": "type", "valueCode": "event-notification"},
        {"name": "events-since-subscription-start", "valueString": str(number)},
        {"name": "notification-event", "part": [{"name": "event-number", "valueString": str(number)},
                                                 {"name": "focus", "valueReference": {"reference": reference}}]},
    ]  # fmt: skip
    return {
        "resourceType": "Bundle",
        "type": "history",
        "entry": [{"resource": {"resourceType": "Parameters", "parameter": parameters}}, {"resource": focus}],
    }


def test_a_dropped_notification_is_recovered_from_the_gap(faulty: tuple[Pipeline, FaultyFhir]) -> None:
    stack, proxy = faulty
    proxy.fault = lambda method, path: None
    subscription = "Subscription/toh-gap-test"
    first = load_patient(stack, "toh-gap-first")
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}
    url = f"{stack.api}/fhir/notifications"
    assert httpx.post(url, json=backport_event(subscription, 1, first), headers=headers).status_code == 200
    dropped = load_patient(stack, "toh-gap-dropped")  # its event 2 never arrives
    third = load_patient(stack, "toh-gap-third")
    assert httpx.post(url, json=backport_event(subscription, 3, third), headers=headers).status_code == 200
    assert dropped["subject"] == {"reference": "Patient/toh-gap-dropped"}
    eventually(lambda: risk_exists(stack, "toh-gap-dropped"), bool, timeout=90)  # found by the re-query


def test_a_permanent_error_goes_to_the_dead_letters(faulty: tuple[Pipeline, FaultyFhir]) -> None:
    stack, proxy = faulty
    patient, neighbour = "toh-dead-letter", "toh-dead-letter-neighbour"
    observations = [load_patient(stack, patient), load_patient(stack, neighbour)]
    proxy.fault = lambda method, path: ("status", 403) if f"/Patient/{patient}/" in path else None
    for observation in observations:  # within one coalescing window: one batch for both
        notify(stack, observation)
    eventually(lambda: httpx.get(f"{stack.api}/metrics").text,
               lambda text: "toh_dead_letters 0.0" not in text and "toh_dead_letters " in text, timeout=60)  # fmt: skip
    listed = subprocess.run([sys.executable, "-m", "service.cli", "dead-letters"], capture_output=True, text=True,
                            env=stack.env, timeout=60)  # fmt: skip
    letters = [json.loads(line) for line in listed.stdout.splitlines()]
    letter = next(letter for letter in letters if letter["kwargs"].get("patient_id") == patient)
    # Kept as the task that would redo it, with the server's answer as its reason.
    assert letter["task"] == "toh.screen_patient" and letter["status"] == 403
    assert letter["kwargs"] == {"fhir_base": stack.fhir, "patient_id": patient}
    assert not risk_exists(stack, patient)
    # The other patient of the same batch was screened and written back all the same.
    eventually(lambda: risk_exists(stack, neighbour), bool, timeout=60)
    writes = [json.loads(line) for line in list(stack.worker.lines) if '"writeback.done"' in line]
    assert letter["task_id"] in {write["task_id"] for write in writes}
