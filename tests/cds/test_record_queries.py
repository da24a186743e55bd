"""The workers read a record either with one Patient/$everything or with the nine prefetch searches: against
sekmet-fhir holding every scenario patient, both give the scenario's expected cards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from service.fhir.client import FhirClient
from service.screening import screen
from tests.cds.conftest import Loaded
from tests.cds.test_scenarios_on_fhir import CASES, expected


@pytest.mark.parametrize("scenario_id", CASES)
def test_everything_and_the_searches_screen_alike(
    scenario_id: str, loaded_fhir: dict[str, Loaded], fhir_server: str
) -> None:
    loaded = loaded_fhir[scenario_id]
    shown = {}
    with httpx.Client(timeout=30) as http:
        for query in ("everything", "searches"):
            record = FhirClient(fhir_server, http, record_query=query).record(loaded.patient_id)
            outcomes = screen(record, datetime.now(UTC)).outcomes
            shown[query] = [(o.topic, o.indicator) for o in outcomes]
    assert shown["everything"] == shown["searches"] == expected(loaded, with_orders=False)


def test_auto_uses_everything_where_the_capability_statement_offers_it(fhir_server: str) -> None:
    with httpx.Client(timeout=30) as http:
        client = FhirClient(fhir_server, http, record_query="auto")
        client.record("toh-no-such-patient")
    assert client.record_query == "everything"


def test_auto_falls_back_to_the_searches_elsewhere() -> None:
    paths: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path.endswith("/metadata"):
            statement: dict[str, Any] = {"resourceType": "CapabilityStatement", "rest": [
                {"mode": "server", "resource": [{"type": "Patient", "operation": [{"name": "match"}]}]}]}  # fmt: skip
            return httpx.Response(200, json=statement)
        if request.url.path.endswith("/Patient/p1"):
            return httpx.Response(200, json={"resourceType": "Patient", "id": "p1"})
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset"})

    with httpx.Client(transport=httpx.MockTransport(server)) as http:
        client = FhirClient("http://fhir.example/fhir", http, record_query="auto")
        assert client.record("p1") == [{"resourceType": "Patient", "id": "p1"}]
    assert client.record_query == "searches"
    assert len(paths) == 11 and not any("$everything" in path for path in paths)  # metadata + ten queries
