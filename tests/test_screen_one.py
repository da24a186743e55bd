"""The workers' screening without Celery: one patient of sekmet-fhir screened by a plain function, against the
session's real Redis. Cards and evidence trails are stored, the RiskAssessment is written once, and a second run
on the same data writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import redis

from fixtures.scenarios import SCENARIOS
from service.fhir.client import FhirClient
from service.fhir.writeback import risk_assessment_id
from service.pipeline.store import cards_key, fresh_cards
from service.screening import RULES_VERSION
from service.settings import Settings
from workers.screen import screen_one


def test_a_screening_is_a_plain_function(fhir_server: str, redis_url: str) -> None:
    now = datetime.now(UTC)
    scenario = next(s for s in SCENARIOS if s.id == "02")
    resources = scenario.build(now).resources
    patient = resources[0]["id"]
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources
    ]
    with httpx.Client(timeout=30) as http:
        loaded = http.post(fhir_server, json={"resourceType": "Bundle", "type": "transaction", "entry": entries})
        assert loaded.status_code == 200
        store = redis.Redis.from_url(redis_url)
        client = FhirClient(fhir_server, http)
        settings = Settings(redis_url=redis_url)
        assert screen_one(store, client, settings, fhir_server, patient, now) == ["toh-consistent"]
        cached = fresh_cards(store.get(cards_key(fhir_server, patient)), now=now, rules_version=RULES_VERSION, max_age_seconds=60)  # fmt: skip
        assert cached is not None and cached[0]["source"]["topic"]["code"] == "toh-consistent"
        risk_id = risk_assessment_id(patient)
        risk = http.get(f"{fhir_server}/RiskAssessment/{risk_id}").json()
        assert risk["subject"] == {"reference": f"Patient/{patient}"} and risk["meta"]["versionId"]
        assert screen_one(store, client, settings, fhir_server, patient, now) == ["toh-consistent"]
        again = http.get(f"{fhir_server}/RiskAssessment/{risk['id']}").json()
        assert again["meta"]["versionId"] == risk["meta"]["versionId"]  # the same data writes nothing new
        store.close()
