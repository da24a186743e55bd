"""The CDS Hooks contract: discovery, request checks, prefetch semantics, precomputed cards and feedback."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from fixtures.scenarios import SCENARIOS
from service.cds.cards import cards
from service.pipeline.store import FEEDBACK_STREAM, cards_entry, cards_key
from service.screening import RULES_VERSION, screen
from tests.cds.conftest import BASE, ISSUER, Keys
from tests.cds_rules import response_errors
from tests.screening.scenario_data import CASES

INDEX = next(case for case in CASES if case.id == "01")
TODAY = next(s for s in SCENARIOS if s.id == "01").build(datetime.now(UTC)).resources  # the service uses the clock
KEYS = ("patient", "conditions", "observations", "procedures", "encounters", "imagingStudies", "diagnosticReports",
        "medicationRequests", "medicationStatements", "documentReferences")  # fmt: skip


def full_prefetch(resources: list[dict[str, Any]]) -> dict[str, Any]:
    by_type = {
        "conditions": "Condition", "observations": "Observation", "procedures": "Procedure", "encounters": "Encounter",
        "imagingStudies": "ImagingStudy", "diagnosticReports": "DiagnosticReport",
        "medicationRequests": "MedicationRequest", "medicationStatements": "MedicationStatement",
        "documentReferences": "DocumentReference",
    }  # fmt: skip
    prefetch: dict[str, Any] = {"patient": next(r for r in resources if r["resourceType"] == "Patient")}
    for key, kind in by_type.items():
        entries = [{"resource": r} for r in resources if r["resourceType"] == kind]
        prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    return prefetch


def context(patient: str = "toh-01-index-antepartum") -> dict[str, Any]:
    return {"userId": "Practitioner/1", "patientId": patient}


def topics(response: Any) -> list[str]:
    return [card["source"]["topic"]["code"] for card in response.json()["cards"]]


def test_discovery_lists_the_three_services_with_legal_prefetch(make_client: Any) -> None:
    client, _ = make_client()
    response = client.get("/cds-services")
    assert response.status_code == 200
    services = {s["id"]: s for s in response.json()["services"]}
    assert {sid: s["hook"] for sid, s in services.items()} == {
        "toh-patient-view": "patient-view",
        "toh-order-select": "order-select",
        "toh-order-sign": "order-sign",
    }
    for service in services.values():
        assert service["title"] and service["description"]
        assert set(service["prefetch"]) == set(KEYS)
        tokens = {t for template in service["prefetch"].values() for t in re.findall(r"\{\{([^}]*)\}\}", template)}
        assert tokens == {"context.patientId"}  # CDS Hooks 2.0 allows no nested or FHIRPath tokens


def test_the_index_patient_from_prefetch_alone(make_client: Any) -> None:
    _, hook_client = make_client()
    response = hook_client.call("toh-patient-view", "patient-view", context(), prefetch=full_prefetch(TODAY))
    assert response.status_code == 200
    assert response_errors(response.json()) == []
    assert topics(response) == ["toh-consider"]


def bad(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**body, **changes}


VALID = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": context(), "prefetch": {}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (bad(VALID, hook="order-sign"), "which answers patient-view"),
        (bad(VALID, hookInstance="not-a-uuid"), "hookInstance"),
        (bad(VALID, context={"userId": "Practitioner/1"}), "context.patientId is required"),
        (bad(VALID, context={"userId": "Practitioner/1", "patientId": "../../etc"}), "not a valid FHIR id"),
        (bad(VALID, context={"userId": 7, "patientId": "p"}), "context.userId must be a string"),
        ({k: v for k, v in VALID.items() if k != "hook"}, "hook"),
        (
            bad(
                VALID,
                fhirAuthorization={
                    "access_token": "t0ken",
                    "token_type": "Bearer",
                    "expires_in": 30,
                    "scope": "patient/*.read",
                    "subject": "toh",
                },
            ),
            "cds-r-1",
        ),
        (bad(VALID, fhirServer="ftp://x"), "fhirServer"),
        (bad(VALID, prefetch=[]), "prefetch"),
    ],
)
def test_malformed_requests_get_400_with_an_operation_outcome(
    body: dict[str, Any], message: str, make_client: Any, keys: Keys
) -> None:
    client, _ = make_client()
    token = keys.es384().token(f"{BASE}/cds-services/toh-patient-view")
    response = client.post("/cds-services/toh-patient-view", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert any(message in issue["diagnostics"] for issue in outcome["issue"]), outcome
    assert "t0ken" not in response.text  # input is never echoed


def test_order_hooks_check_their_context(make_client: Any) -> None:
    _, hook_client = make_client()
    response = hook_client.call("toh-order-select", "order-select", context() | {"draftOrders": {"entry": []}})
    diagnostics = " ".join(issue["diagnostics"] for issue in response.json()["issue"])
    assert response.status_code == 400
    assert "context.selections is required" in diagnostics and "draftOrders must be a FHIR Bundle" in diagnostics


def test_unknown_service_is_404(make_client: Any) -> None:
    client, _ = make_client()
    response = client.post("/cds-services/nope", json=VALID)
    assert response.status_code == 404
    assert response.json()["issue"][0]["code"] == "not-found"


def test_body_size_and_media_type_limits(make_client: Any, keys: Keys) -> None:
    client, _ = make_client(cds_max_body_bytes=4096)
    auth = {"Authorization": f"Bearer {keys.es384().token(BASE + '/cds-services/toh-patient-view')}"}
    big = client.post("/cds-services/toh-patient-view", json=bad(VALID, extension={"x": "y" * 5000}), headers=auth)
    assert big.status_code == 413 and big.json()["issue"][0]["code"] == "too-long"
    auth = {"Authorization": f"Bearer {keys.es384().token(BASE + '/cds-services/toh-patient-view')}"}
    text = client.post(
        "/cds-services/toh-patient-view", content=b"hook=patient-view", headers=auth | {"Content-Type": "text/plain"}
    )
    assert text.status_code == 415
    auth = {"Authorization": f"Bearer {keys.es384().token(BASE + '/cds-services/toh-patient-view')}"}
    broken = client.post(
        "/cds-services/toh-patient-view", content=b"{not json", headers=auth | {"Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["resourceType"] == "OperationOutcome"


def test_null_prefetch_means_no_data_and_nothing_is_fetched(make_client: Any) -> None:
    _, hook_client = make_client()
    prefetch = dict.fromkeys(KEYS) | {"patient": INDEX.resources[0]}
    response = hook_client.call("toh-patient-view", "patient-view", context(), prefetch=prefetch)
    assert response.status_code == 200 and topics(response) == []


@pytest.mark.parametrize("value", ["absent", "operation-outcome"])
def test_missing_prefetch_without_a_fhir_server_is_412(value: str, make_client: Any) -> None:
    _, hook_client = make_client()
    prefetch = full_prefetch(INDEX.resources)
    if value == "absent":
        del prefetch["observations"]
    else:
        prefetch["observations"] = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "timeout"}],
        }
    response = hook_client.call("toh-patient-view", "patient-view", context(), prefetch=prefetch)
    assert response.status_code == 412
    assert "observations" in response.json()["issue"][0]["diagnostics"]


def test_another_patients_data_never_makes_a_card(make_client: Any) -> None:
    _, hook_client = make_client()
    prefetch = full_prefetch(TODAY)  # the index patient's data, sent for someone else
    response = hook_client.call("toh-patient-view", "patient-view", context("someone-else"), prefetch=prefetch)
    assert response.status_code == 200 and topics(response) == []


def precompute(
    redis_url: str, base: str, patient: str, evaluated_at: datetime, version: str = RULES_VERSION
) -> list[Any]:
    assessment = screen(INDEX.resources, INDEX.now)
    rendered = cards(assessment.outcomes, assessment.patient_id)
    client = redis.Redis.from_url(redis_url)
    entry = cards_entry(rendered, evaluated_at=evaluated_at, rules_version=version, cards_digest="f")
    client.set(cards_key(base, patient), entry)
    client.close()
    return rendered


def bound_to(keys: Keys, *fhir_servers: str) -> dict[str, Any]:
    """The test issuer, allowed precomputed answers about these FHIR servers' patients."""
    return {ISSUER: {"jwks": keys.jwks(), "fhir_servers": list(fhir_servers)}}


def test_precomputed_cards_answer_without_any_data(make_client: Any, redis_url: str, keys: Keys) -> None:
    base = "https://fhir.hospital.example/r4"
    rendered = precompute(redis_url, base, "toh-precomputed-1", datetime.now(UTC))
    client, hook_client = make_client(fhir_base_url=base, cds_issuers=bound_to(keys, base))
    response = hook_client.call("toh-patient-view", "patient-view", context("toh-precomputed-1"))
    assert response.status_code == 200
    assert response.json()["cards"] == rendered
    assert 'toh_cds_responses_total{service="toh-patient-view",source="precomputed"}' in client.get("/metrics").text


@pytest.mark.parametrize(("age", "version"), [(timedelta(days=2), RULES_VERSION), (timedelta(0), "0.0.0")])
def test_stale_precomputed_cards_are_not_used(
    age: timedelta, version: str, make_client: Any, redis_url: str, keys: Keys
) -> None:
    base = "https://fhir.hospital.example/r4"
    precompute(redis_url, base, "toh-precomputed-2", datetime.now(UTC) - age, version)
    _, hook_client = make_client(fhir_base_url=base, cds_issuers=bound_to(keys, base))
    response = hook_client.call("toh-patient-view", "patient-view", context("toh-precomputed-2"))
    assert response.status_code == 412  # no fresh result, no data, nothing to fetch from


def feedback_item(card: str, outcome: str = "overridden", **extra: Any) -> dict[str, Any]:
    return {"card": card, "outcome": outcome, "outcomeTimestamp": "2026-01-15T10:05:31Z", **extra}


def test_feedback_is_stored_once_per_item(make_client: Any, keys: Keys, redis_url: str) -> None:
    client, _ = make_client()
    card = str(uuid.uuid4())
    accepted = feedback_item(card, "accepted", acceptedSuggestions=[{"id": str(uuid.uuid4())}])
    overridden = feedback_item(card, overrideReason={"reason": {"system": "urn:toh-cds:override-reason", "code": "already-imaged",
                                                                "display": "MRI already done"}, "userComment": "done last week"})  # fmt: skip
    store = redis.Redis.from_url(redis_url)
    before = store.xlen(FEEDBACK_STREAM)
    path = "/cds-services/toh-patient-view/feedback"
    for batch in ([accepted, overridden, accepted], [overridden]):
        auth = {"Authorization": f"Bearer {keys.es384().token(BASE + path)}"}
        response = client.post(path, json={"feedback": batch}, headers=auth)
        assert response.status_code == 200
    assert store.xlen(FEEDBACK_STREAM) - before == 2
    entries = [fields for _, fields in store.xrange(FEEDBACK_STREAM, count=10_000) if fields[b"card"] == card.encode()]
    stored = {fields[b"outcome"]: fields for fields in entries}
    assert json.loads(stored[b"accepted"][b"accepted_suggestions"]) == [accepted["acceptedSuggestions"][0]["id"]]
    assert stored[b"overridden"][b"override_code"] == b"already-imaged"
    store.close()
    assert 'toh_cds_feedback_total{outcome="accepted",service="toh-patient-view"}' in client.get("/metrics").text


@pytest.mark.parametrize(
    "item",
    [
        feedback_item("c", "accepted"),
        feedback_item("c", "rejected"),
        feedback_item("c", overrideReason={}),
        {"card": "c", "outcome": "overridden", "outcomeTimestamp": "yesterday"},
        {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-01-15T10:05:31"},
    ],
)
def test_invalid_feedback_is_400(item: dict[str, Any], make_client: Any, keys: Keys) -> None:
    client, _ = make_client()
    path = "/cds-services/toh-patient-view/feedback"
    auth = {"Authorization": f"Bearer {keys.es384().token(BASE + path)}"}
    response = client.post(path, json={"feedback": [item]}, headers=auth)
    assert response.status_code == 400 and response.json()["resourceType"] == "OperationOutcome"


def test_cors_for_browser_based_clients(make_client: Any) -> None:
    client, _ = make_client(cors_origins=["https://ehr.example.org"])
    preflight = client.options(
        "/cds-services/toh-patient-view",
        headers={
            "Origin": "https://ehr.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://ehr.example.org"
    other = client.get("/cds-services", headers={"Origin": "https://attacker.example"})
    assert "access-control-allow-origin" not in other.headers
