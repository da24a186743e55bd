"""No error body repeats what the caller sent (issue 13, item 13): an attacker's markup, or a patient's MRN pasted
in the wrong field, must never come back in an OperationOutcome. Markers go into every place a caller controls;
every 4xx body is searched for them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings

MARKER = "Zmarkerq"  # a valid FHIR type and id, so that it passes the checks that stop other text early
SCRIPT = "<script>MRN-02</script>"
TOKEN = {"Authorization": "Bearer notify-token"}
AUTHORIZATION = {"access_token": MARKER, "token_type": MARKER + SCRIPT, "expires_in": MARKER, "scope": SCRIPT,
                 "subject": MARKER}  # fmt: skip
NOTIFICATION = {"resourceType": "Bundle", "type": "history", "entry": [{"resource": {
    "resourceType": "Parameters", "parameter": [
        {"name": "subscription", "valueReference": {"reference": f"Subscription/{MARKER}"}},
        {"name": "type", "valueCode": MARKER + SCRIPT}]}}]}  # fmt: skip
OBSERVATION = {"resourceType": "Observation", "status": "final"}


@pytest.fixture
def client(redis_url: str) -> Iterator[TestClient]:
    settings = Settings(redis_url=redis_url, cds_require_auth=False, notify_token="notify-token",
                        fhir_base_url="http://fhir.example.org/fhir")  # fmt: skip
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def hook(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
                            "context": {"userId": "Practitioner/1", "patientId": "p1"}, "prefetch": {}}  # fmt: skip
    body.update(changes)
    return body


def attempts(client: TestClient) -> list[Any]:
    post = client.post
    cds = "/cds-services/toh-patient-view"
    json_headers = {"Content-Type": "application/json"}
    return [
        post(f"/cds-services/{MARKER}{SCRIPT}", json=hook()),
        post(f"/cds-services/{MARKER}", json=hook()),
        post(cds, content=b"{}", headers={"Content-Type": f"text/{MARKER}{SCRIPT}"}),
        post(cds, json=hook(hook=MARKER + SCRIPT * 100)),
        post(cds, json=hook(hookInstance=f"{MARKER}{SCRIPT}")),
        post(cds, json=hook(fhirServer=f"{MARKER}{SCRIPT}")),
        post(cds, json=hook(context={"userId": "Practitioner/1", "patientId": f"{MARKER}{SCRIPT}"})),
        post(cds, json=hook(context={"userId": [MARKER], "patientId": "p1", MARKER + SCRIPT: 1})),
        post(cds, json=hook(fhirAuthorization=AUTHORIZATION)),
        post(cds, json=hook(prefetch={MARKER + SCRIPT: {"resourceType": MARKER}})),
        post(cds, content=f"{MARKER}{SCRIPT}".encode(), headers=json_headers),
        post(cds, json=[MARKER, SCRIPT]),
        post(f"{cds}/feedback", json={"feedback": [{"card": MARKER, "outcome": SCRIPT, "outcomeTimestamp": MARKER}]}),
        post(f"{cds}/feedback", json={MARKER: SCRIPT}),
        client.get(f"{cds}?{MARKER}={SCRIPT}"),
        client.get(f"/{MARKER}{SCRIPT}"),
        post(
            "/fhir/notifications", content=json.dumps({"resourceType": MARKER + SCRIPT}), headers=TOKEN | json_headers
        ),
        post("/fhir/notifications", content=json.dumps(NOTIFICATION), headers=TOKEN | json_headers),
        client.put(
            f"/fhir/notifications/{MARKER}/{MARKER}",
            content=json.dumps(OBSERVATION | {"id": MARKER}),
            headers=TOKEN | json_headers,
        ),
        client.put(
            f"/fhir/notifications/Observation/{MARKER}",
            content=json.dumps(OBSERVATION | {"id": "other"}),
            headers=TOKEN | json_headers,
        ),
        client.put(f"/fhir/notifications/{SCRIPT}/x", content=b"{}", headers=TOKEN | json_headers),
        post("/fhir/notifications", content=b"{}", headers=TOKEN | {"Content-Type": f"text/{MARKER}"}),
    ]


def test_no_error_body_repeats_what_the_caller_sent(client: TestClient) -> None:
    """Before: 404 said `No CDS service 'evil<script>MRN-02'`, 415 echoed the Content-Type, 400 echoed the hook."""
    answers = attempts(client)
    assert all(400 <= answer.status_code < 500 for answer in answers), [a.status_code for a in answers]
    echoed = [(answer.request.url.path, answer.status_code, answer.text) for answer in answers
              if MARKER.lower() in answer.text.lower() or "script" in answer.text.lower()]  # fmt: skip
    assert echoed == []
    assert all(answer.content for answer in answers)  # every one still says what was wrong
