"""Every card links to its full evidence trail (clinical.md 2.7), stored beside it in Redis and served as JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fixtures.scenarios import SCENARIOS
from tests.cds.conftest import BASE
from tests.cds.test_hooks import context, full_prefetch


def test_a_card_links_to_the_evidence_behind_it(make_client: Any) -> None:
    client, hook_client = make_client()
    resources = next(s for s in SCENARIOS if s.id == "02").build(datetime.now(UTC)).resources
    response = hook_client.call(
        "toh-patient-view", "patient-view", context(resources[0]["id"]), prefetch=full_prefetch(resources)
    )
    [card] = response.json()["cards"]
    link = next(link for link in card["links"] if link["url"].startswith(f"{BASE}/evidence/"))
    trail = client.get(link["url"].removeprefix(BASE))
    assert trail.status_code == 200 and trail.headers["cache-control"] == "no-store"
    body = trail.json()
    assert body["card"] == card["uuid"] and body["topic"] == "toh-consistent"
    cited = {e["reference"] for rule in body["rules"] for e in rule["evidence"]}
    assert {f"{r['resourceType']}/{r['id']}" for r in resources if r["resourceType"] == "DiagnosticReport"} <= cited
    assert {rule["rule"] for rule in body["rules"]} >= {"P2", "T1", "S4"}
    assert "Testpatient" not in trail.text and "MRN-" not in trail.text  # no names or identifiers


def test_an_unknown_or_malformed_card_is_404(make_client: Any) -> None:
    client, _ = make_client()
    for path in ("/evidence/00000000-0000-0000-0000-000000000000", "/evidence/not-a-uuid"):
        response = client.get(path)
        assert response.status_code == 404 and response.json()["resourceType"] == "OperationOutcome"
