"""A burst of notifications about many patients: each patient screened once, by a few batch tasks."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from fixtures.scenarios import SCENARIOS
from service.fhir.writeback import risk_assessment_id
from tests.ingest.pipeline import TOKEN, Pipeline, as_put_transaction, pipeline
from tests.waiting import eventually

PATIENTS = 25
PER_TASK = 10


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with pipeline(tmp_path_factory.mktemp("batches"), TOH_COALESCE_SECONDS="1",
                  TOH_SCREENINGS_PER_TASK=str(PER_TASK)) as running:  # fmt: skip
        yield running


def test_a_burst_is_screened_in_batches_each_patient_once(stack: Pipeline) -> None:
    seed = json.dumps(next(s for s in SCENARIOS if s.id == "seed-1").build(datetime.now(UTC)).resources)
    patients = [f"toh-burst-{index:02}" for index in range(PATIENTS)]
    resources = [r for patient in patients for r in json.loads(seed.replace("toh-seed-stage-1", patient))]
    stored = httpx.post(stack.sekmet, content=as_put_transaction(resources),
                        headers={"Content-Type": "application/fhir+json"}, timeout=60)  # fmt: skip
    assert stored.status_code == 200
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}
    with httpx.Client(base_url=stack.api, headers=headers) as client:
        for observation in observations:  # two per patient
            url = f"/fhir/notifications/Observation/{observation['id']}"
            assert client.put(url, content=json.dumps(observation)).status_code == 200

    def written() -> int:
        return sum(
            httpx.get(f"{stack.sekmet}/RiskAssessment/{risk_assessment_id(p)}").status_code == 200 for p in patients
        )

    eventually(written, lambda count: count == PATIENTS, timeout=90)
    assert stack.screenings() == PATIENTS  # two notifications each, all within the window: one screening each
    batches = stack.tasks_done("toh.screen_due")
    assert math.ceil(PATIENTS / PER_TASK) <= batches <= math.ceil(PATIENTS / PER_TASK) + 1
