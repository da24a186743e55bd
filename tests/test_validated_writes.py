"""Everything the service writes is valid FHIR R4 (R4B models) before it is sent; a wrong write is refused locally
with the fields at fault, and never reaches the server."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from fixtures.scenarios import SCENARIOS
from service.fhir.client import FhirClient
from service.fhir.subscribe import backport_subscription, classic_subscription
from service.fhir.validate import InvalidResource, validated
from service.fhir.writeback import provenance, risk_assessment
from service.screening import screen


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.id in ("01", "02", "10", "22")], ids=lambda s: s.id)
def test_what_we_write_back_is_valid(scenario: object) -> None:
    built = scenario.build(scenario.now)  # type: ignore[attr-defined]
    assessment = screen(built.resources, scenario.now)  # type: ignore[attr-defined]
    risk = risk_assessment(assessment, built.patient_id, "f" * 64)
    assert validated(risk) is risk
    assert validated(provenance(risk, "f" * 64, datetime.now(UTC)))


def test_subscriptions_we_create_are_valid() -> None:
    for kind in ("Observation", "ImagingStudy"):
        validated(backport_subscription(kind, "https://toh.example/fhir/notifications", "full-resource", "t", 60))
        validated(classic_subscription(kind, "https://toh.example/fhir/notifications", "t"))


def test_a_wrong_write_is_refused_before_it_is_sent() -> None:
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200, json={}))
    client = FhirClient("https://fhir.example/r4", httpx.Client(transport=transport))
    wrong = {
        "resourceType": "RiskAssessment",
        "id": "toh-x",
        "status": "final",
        "prediction": [{"probabilityDecimal": "high"}],
    }
    with pytest.raises(InvalidResource) as refused:
        client.put(wrong)
    assert "subject: missing" in str(refused.value) and "probabilityDecimal" in str(refused.value)
    assert sent == []
