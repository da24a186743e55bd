"""Acceptance: against sekmet-fhir holding every scenario patient, each gives its expected cards both with full
prefetch (filled by executing our own discovery templates, as an EHR would) and with no prefetch (we fetch)."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures.scenarios import SCENARIOS
from tests.cds.conftest import Loaded
from tests.cds_rules import response_errors

ORDER_TOPICS = {"imaging-safety", "antiresorptive-caution"}
CASES = [s.id for s in SCENARIOS if not s.config]


def topics(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(card["source"]["topic"]["code"], card["indicator"]) for card in body["cards"]]


def expected(loaded: Loaded, *, with_orders: bool) -> list[tuple[str, str]]:
    """Patient-view: the patient's cards; an order hook: the cards about its orders and the red flags (2.8)."""
    if with_orders:
        return [(e.topic, e.indicator) for e in loaded.scenario.expected if e.topic in ORDER_TOPICS or e.topic.startswith("red-flag-")]  # fmt: skip
    return [(e.topic, e.indicator) for e in loaded.scenario.expected if e.topic not in ORDER_TOPICS]


def draft_bundle(loaded: Loaded) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in loaded.drafts]}


def cards_from_fhir(
    make_client: Any, fhir_server: str, service_id: str, context: dict[str, Any], prefetched: bool
) -> list[tuple[str, str]]:
    """Call a service as an EHR would: prefetch filled by executing its discovery templates, or none at all."""
    _, client = make_client(fhir_server_allowlist=[fhir_server])
    service = client.discover()[service_id]
    prefetch = client.fill_prefetch(service, fhir_server, context) if prefetched else None
    response = client.call(service_id, service["hook"], context, prefetch=prefetch, fhir_server=fhir_server)
    assert response.status_code == 200, response.text
    assert response_errors(response.json()) == []
    return topics(response.json())


@pytest.mark.parametrize("prefetched", [True, False], ids=["prefetch", "fetched"])
@pytest.mark.parametrize("scenario_id", CASES)
def test_patient_view_against_the_fhir_server(
    scenario_id: str, prefetched: bool, loaded_fhir: dict[str, Loaded], fhir_server: str, make_client: Any
) -> None:
    loaded = loaded_fhir[scenario_id]
    context = {"userId": "Practitioner/dr-1", "patientId": loaded.patient_id}
    shown = cards_from_fhir(make_client, fhir_server, "toh-patient-view", context, prefetched)
    assert shown == expected(loaded, with_orders=False)


@pytest.mark.parametrize("prefetched", [True, False], ids=["prefetch", "fetched"])
@pytest.mark.parametrize(
    "scenario_id", [s.id for s in SCENARIOS if any(r for r in s.expected if r.topic in ORDER_TOPICS)]
)
def test_order_sign_against_the_fhir_server(
    scenario_id: str, prefetched: bool, loaded_fhir: dict[str, Loaded], fhir_server: str, make_client: Any
) -> None:
    loaded = loaded_fhir[scenario_id]
    context = {"userId": "Practitioner/dr-1", "patientId": loaded.patient_id, "draftOrders": draft_bundle(loaded)}
    shown = cards_from_fhir(make_client, fhir_server, "toh-order-sign", context, prefetched)
    assert shown == expected(loaded, with_orders=True)
