"""What the benchmark sends: hook requests built from the fixture scenarios, notifications, padded records."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from fixtures.scenarios import SCENARIOS

PREFETCH_KINDS = {"conditions": "Condition", "observations": "Observation", "procedures": "Procedure",
                  "encounters": "Encounter", "imagingStudies": "ImagingStudy", "diagnosticReports": "DiagnosticReport",
                  "medicationRequests": "MedicationRequest", "medicationStatements": "MedicationStatement",
                  "documentReferences": "DocumentReference"}  # fmt: skip


def scenario_resources(scenario_id: str, patient_id: str | None = None) -> list[dict[str, Any]]:
    """A scenario's resources dated for today, optionally under another patient id."""
    resources = next(s for s in SCENARIOS if s.id == scenario_id).build(datetime.now(UTC)).resources
    if patient_id is not None:
        original = resources[0]["id"]
        resources = json.loads(json.dumps(resources).replace(original, patient_id))
    return resources


def _bundle(resources: list[dict[str, Any]], kind: str = "searchset") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": [{"resource": r} for r in resources]}


def hook_body(hook: str, resources: list[dict[str, Any]], *, prefetch: bool = True) -> bytes:
    """A hook request for the record's patient; drafts (status 'draft') go to draftOrders on order hooks."""
    drafts = [r for r in resources if r.get("status") == "draft"]
    chart = [r for r in resources if r.get("status") != "draft"]
    patient = chart[0]
    context: dict[str, Any] = {"userId": "Practitioner/bench", "patientId": patient["id"]}
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = _bundle(drafts, "collection")
        if hook == "order-select":
            context["selections"] = [f"{r['resourceType']}/{r['id']}" for r in drafts]
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if prefetch:
        body["prefetch"] = {"patient": patient} | {
            key: _bundle([r for r in chart if r["resourceType"] == kind]) for key, kind in PREFETCH_KINDS.items()
        }
    return json.dumps(body).encode()


def pool(hook: str, scenario_ids: tuple[str, ...], count: int) -> tuple[bytes, ...]:
    """`count` distinct hook bodies: the scenarios in turn, each patient under an id of its own."""
    return tuple(
        hook_body(hook, scenario_resources(scenario_ids[i % len(scenario_ids)], f"toh-pool-{hook}-{i}"))
        for i in range(count)
    )


def notification(patient: str, number: str, subscription: str = "Subscription/bench") -> dict[str, Any]:
    """An R4 backport full-resource event notification: a pain score for the patient."""
    observation = {"resourceType": "Observation", "id": f"{patient}-pain", "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
                   "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": datetime.now(UTC).isoformat(),
                   "valueQuantity": {"value": 7, "unit": "{score}"}}  # fmt: skip
    parameters = [
        {"name": "subscription", "valueReference": {"reference": subscription}},
        {"name": "status", "valueCode": "active"},
        {"name": "type", "valueCode": "event-notification"},
        {"name": "events-since-subscription-start", "valueString": number},
        {"name": "notification-event", "part": [{"name": "event-number", "valueString": number},
                                                 {"name": "focus", "valueReference": {"reference": f"Observation/{patient}-pain"}}]},
    ]  # fmt: skip
    return {"resourceType": "Bundle", "type": "history",
            "entry": [{"resource": {"resourceType": "Parameters", "parameter": parameters}}, {"resource": observation}]}  # fmt: skip


def padded_record(patient_id: str, size: int) -> list[dict[str, Any]]:
    """The seed case (two weeks postpartum) grown to `size` resources the prefetch queries return: 60% body
    temperatures, 20% encounters, 20% conditions (page counts stay within the default page cap at 5,000)."""
    record = scenario_resources("seed-2", patient_id)
    subject = {"reference": f"Patient/{patient_id}"}
    for index in range(size - len(record)):
        stamp = f"2025-{1 + index % 12:02d}-{1 + index % 28:02d}T08:00:00Z"
        kind = ("Observation", "Observation", "Observation", "Encounter", "Condition")[index % 5]
        resource: dict[str, Any] = {"resourceType": kind, "id": f"{patient_id}-pad-{index}"}
        if kind == "Observation":
            resource |= {"status": "final", "subject": subject, "effectiveDateTime": stamp,
                         "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
                         "valueQuantity": {"value": 36.8, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"}}  # fmt: skip
        elif kind == "Encounter":
            resource |= {"status": "finished", "subject": subject, "period": {"start": stamp},
                         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}}  # fmt: skip
        else:
            resource |= {"subject": subject, "recordedDate": stamp,
                         "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]}}  # fmt: skip
        record.append(resource)
    return record[:size] if size < len(record) else record


def transaction(resources: list[dict[str, Any]]) -> dict[str, Any]:
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
