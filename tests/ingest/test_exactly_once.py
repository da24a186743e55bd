"""Duplicated and reordered notifications give exactly one RiskAssessment version per assessment change."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from fixtures.scenarios import SCENARIOS
from service.fhir.writeback import risk_assessment_id
from tests.ingest.pipeline import TOKEN, Pipeline, as_put_transaction, pipeline
from tests.waiting import eventually

PATIENT = "toh-exactly-once"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with pipeline(tmp_path_factory.mktemp("exactly-once")) as running:
        yield running


def versions(stack: Pipeline) -> int:
    history = httpx.get(f"{stack.sekmet}/RiskAssessment/{risk_assessment_id(PATIENT)}/_history").json()
    return len(history.get("entry", []))


def notify(stack: Pipeline, resource: dict[str, Any]) -> None:
    url = f"{stack.api}/fhir/notifications/{resource['resourceType']}/{resource['id']}"
    response = httpx.put(url, content=json.dumps(resource), headers={"Authorization": f"Bearer {TOKEN}",
                                                                      "Content-Type": "application/fhir+json"})  # fmt: skip
    assert response.status_code == 200, response.text


def test_duplicates_and_reordering_write_once_per_change(stack: Pipeline) -> None:
    resources = json.loads(json.dumps(next(s for s in SCENARIOS if s.id == "seed-1").build(datetime.now(UTC)).resources)
                           .replace("toh-seed-stage-1", PATIENT))  # fmt: skip
    stored = httpx.post(
        stack.sekmet, content=as_put_transaction(resources), headers={"Content-Type": "application/fhir+json"}
    )
    assert stored.status_code == 200
    # What the server holds now, as its notifications would carry it (meta.versionId included).
    observations = httpx.get(f"{stack.sekmet}/Observation", params={"patient": PATIENT}).json()["entry"]
    deliveries = [entry["resource"] for entry in observations] * 2
    random.Random(7).shuffle(deliveries)
    for resource in deliveries:
        notify(stack, resource)
    eventually(lambda: versions(stack), lambda count: count == 1, timeout=60)

    # The same data again, duplicated and shuffled: screened again, nothing new written.
    before = stack.screenings()
    random.Random(8).shuffle(deliveries)
    for resource in deliveries:
        notify(stack, {**resource, "meta": {"versionId": "redelivered-" + resource["id"]}})
    eventually(stack.screenings, lambda count: count > before, timeout=60)
    assert versions(stack) == 1

    # A real change (a new pain score): exactly one new version, however often it is delivered.
    score = next(r for r in (e["resource"] for e in observations)
                                                              if r["code"]["coding"][0]["code"] == "72514-3")  # fmt: skip
    changed = {**score, "id": f"{PATIENT}-pain-9", "valueQuantity": {**score["valueQuantity"], "value": 9}}
    changed.pop("meta", None)
    created = httpx.put(f"{stack.sekmet}/Observation/{changed['id']}", json=changed).json()
    for _ in range(3):
        notify(stack, created)
    eventually(lambda: versions(stack), lambda count: count == 2, timeout=60)
    before = stack.screenings()
    notify(stack, {**created, "meta": {"versionId": "again"}})
    eventually(stack.screenings, lambda count: count > before, timeout=60)
    assert versions(stack) == 2
