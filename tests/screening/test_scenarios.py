"""Every scenario of clinical.md section 3 gives exactly its expected cards, read from fixtures' own table."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B.bundle import Bundle

from fixtures.scenarios import SCENARIOS_DIR_NAME, render
from service.cds.cards import cards
from service.screening import ScreeningConfig, screen_orders
from tests.cds_rules import card_errors
from tests.screening.scenario_data import CASES, SCENARIOS_DIR, TABLE, Case


def run(case: Case) -> list[dict]:
    assessment, orders = screen_orders(case.resources, case.drafts, case.now, ScreeningConfig(**case.config))
    return cards((*assessment.outcomes, *orders), assessment.patient_id)


def summary_of(card: dict) -> dict[str, str]:
    topic = card["source"]["topic"]["code"]
    got = {"topic": topic, "indicator": card["indicator"]}
    if topic.startswith("toh-"):
        got["priority"] = card["detail"].split("(priority: ", 1)[1].split(")", 1)[0]
    return got


def test_the_table_covers_every_scenario_of_clinical_md() -> None:
    ids = {entry["id"] for entry in TABLE["scenarios"]}
    assert {f"{n:02d}" for n in range(1, 23)} <= ids
    assert {"seed-1", "seed-2", "seed-3", "seed-4"} <= ids


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_scenario_gives_exactly_its_expected_cards(case: Case) -> None:
    rendered = run(case)
    assert [summary_of(card) for card in rendered] == case.expected
    for card in rendered:
        assert card_errors(card) == []
        assert card["source"]["topic"]["system"] == "urn:toh-cds:card-type"
    details = "\n".join(card["detail"] for card in rendered)
    for text in case.detail_contains:
        assert text in details


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_card_cites_evidence_from_the_record(case: Case) -> None:
    references = {f"{r['resourceType']}/{r['id']}" for r in case.resources}
    for card in run(case):
        cited = {part.split("`")[1] for part in card["detail"].split("\n") if "`" in part}
        assert cited, card["summary"]
        assert cited <= references
        assert "**Sources**" in card["detail"] and "](https://" in card["detail"]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_fixture_bundles_are_valid_fhir_r4(case: Case) -> None:
    bundle = json.loads((SCENARIOS_DIR / next(e["file"] for e in TABLE["scenarios"] if e["id"] == case.id)).read_text())
    Bundle.model_validate(bundle)  # raises on anything R4 (R4B) does not allow


def test_fixture_files_are_what_the_builder_makes() -> None:
    written = {path.name: path.read_text() for path in SCENARIOS_DIR.glob("*.json")}
    assert written == render(), f"run `python -m fixtures.scenarios` to refresh {SCENARIOS_DIR_NAME}/"


def test_card_uuids_are_stable_and_change_with_the_data() -> None:
    case = next(c for c in CASES if c.id == "01")
    first, again = run(case), run(case)
    assert [c["uuid"] for c in first] == [c["uuid"] for c in again]
    changed = [dict(r) for r in case.resources]
    score = next(
        r for r in changed if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "72514-3"
    )
    score["valueQuantity"] = {**score["valueQuantity"], "value": 9}
    altered = Case(case.id, changed, case.now, case.config, case.expected, case.detail_contains)
    assert run(altered)[0]["uuid"] != first[0]["uuid"]


def test_order_cards_suggest_replacing_the_draft_with_mri() -> None:
    case = next(c for c in CASES if c.id == "13")
    imaging = next(card for card in run(case) if card["source"]["topic"]["code"] == "imaging-safety")
    [suggestion] = imaging["suggestions"]
    delete, create = suggestion["actions"]
    assert delete == {
        "type": "delete",
        "description": delete["description"],
        "resourceId": f"ServiceRequest/{case.drafts[0]['id']}",
    }
    assert create["type"] == "create"
    assert create["resource"]["code"]["coding"][0]["code"] == "30687-8"
    assert create["resource"]["subject"] == {"reference": "Patient/toh-13-xray-order"}
