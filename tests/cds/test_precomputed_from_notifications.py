"""Acceptance of the Subscription pipeline: a FHIR server notifies, workers screen and write back, and patient-view
answers from the precomputed result with neither prefetch nor fhirServer. Real sekmet-fhir, API, worker, Redis."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.scenarios import SCENARIOS
from service.fhir.writeback import risk_assessment_id
from service.ops.hook_client import HookClient
from tests.cds.conftest import ISSUER, Keys
from tests.ingest.pipeline import pipeline as running_pipeline
from tests.support.session import service_env
from tests.waiting import eventually

MODES = {
    "backport-full-resource": (["--mode", "backport", "--payload", "full-resource"], "post-endpoint"),
    "backport-id-only": (["--mode", "backport", "--payload", "id-only"], "post-endpoint"),
    "classic": (["--mode", "classic"], "put-resource"),
}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], capture_output=True, text=True, timeout=120,
                          env=env or service_env())  # fmt: skip


@pytest.fixture(params=list(MODES), scope="module")
def pipeline(
    request: pytest.FixtureRequest, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    mode = request.param
    subscribe_args, notify_method = MODES[mode]
    issuers = {ISSUER: {"jwks": keys.jwks()}}
    with running_pipeline(tmp_path_factory.mktemp(mode), notify_method=notify_method, issuers=issuers) as stack:
        yield {"mode": mode, "fhir": stack.sekmet, "api": stack.api, "env": stack.env, "subscribe": subscribe_args}


def test_notified_patient_is_screened_written_back_and_answered_from_cache(
    pipeline: dict[str, Any], keys: Keys, tmp_path: Path
) -> None:
    fhir_base, env = pipeline["fhir"], pipeline["env"]
    subscribed = cli("subscribe", "--fhir-base", fhir_base, "--endpoint", f"{pipeline['api']}/fhir/notifications",
                     *pipeline["subscribe"], env=env)  # fmt: skip
    assert subscribed.returncode == 0, subscribed.stderr
    assert subscribed.stdout.count(": active") == 2, subscribed.stdout

    patient = f"toh-e2e-{pipeline['mode']}"
    record = next(s for s in SCENARIOS if s.id == "seed-1").build(datetime.now(UTC)).bundle()
    bundle = tmp_path / "seed.json"
    bundle.write_text(json.dumps(record).replace("toh-seed-stage-1", patient))
    loaded = cli("load", str(bundle), "--fhir-base", fhir_base, env=env)
    assert loaded.returncode == 0, loaded.stderr

    risk_url = f"{fhir_base}/RiskAssessment/{risk_assessment_id(patient)}"
    risk = eventually(lambda: httpx.get(risk_url), lambda r: r.status_code == 200, timeout=60).json()
    assert risk["status"] == "final"
    assert risk["subject"] == {"reference": f"Patient/{patient}"}
    assert risk["prediction"][0]["outcome"]["coding"][0]["code"] == "240160002"  # pregnant: TOH in pregnancy
    assert {b["reference"].split("/")[0] for b in risk["basis"]} >= {"Observation", "Condition"}

    with HookClient(pipeline["api"], signer=keys.es384()) as client:
        response = client.call("toh-patient-view", "patient-view", {"userId": "Practitioner/1", "patientId": patient})
    assert response.status_code == 200, response.text
    assert [card["source"]["topic"]["code"] for card in response.json()["cards"]] == ["toh-consider"]
    assert 'source="precomputed"' in httpx.get(f"{pipeline['api']}/metrics").text


def test_notifications_without_the_token_are_refused(pipeline: dict[str, Any]) -> None:
    url = f"{pipeline['api']}/fhir/notifications"
    assert httpx.post(url, content=b"").status_code == 401
    wrong = httpx.post(url, content=b"", headers={"Authorization": "Bearer guess"})
    assert (wrong.status_code, wrong.content) == (401, b"")
