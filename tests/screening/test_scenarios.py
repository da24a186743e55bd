"""Every scenario of clinical.md section 3 gives exactly its expected cards, read from fixtures' own table."""

from __future__ import annotations

import json
import re

import pytest
from fhir.resources.R4B.bundle import Bundle

from fixtures.scenarios import SCENARIOS_DIR_NAME, render
from service.cds.cards import cards
from service.screening import Outcome, build_context
from service.screening.valuesets import _tables
from tests.cds_rules import card_errors
from tests.screening.scenario_data import CASES, SCENARIOS_DIR, TABLE, Case, visit


def assess(case: Case) -> tuple[Outcome, ...]:
    return visit(case.resources, case.now, case.config)


def run(case: Case) -> list[dict]:
    return cards(assess(case), patient_of_case(case))


def patient_of_case(case: Case) -> str | None:
    return next((r["id"] for r in case.resources if r["resourceType"] == "Patient"), None)


def summary_of(outcome: Outcome) -> dict[str, str]:
    got = {"topic": outcome.topic, "indicator": outcome.indicator}
    if outcome.priority:
        got["priority"] = outcome.priority
    return got


def test_the_table_covers_every_scenario_of_clinical_md() -> None:
    ids = {entry["id"] for entry in TABLE["scenarios"]}
    assert {f"{n:02d}" for n in range(1, 23)} <= ids
    assert {"seed-1", "seed-2", "seed-3", "seed-4"} <= ids


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_scenario_gives_exactly_its_expected_cards(case: Case) -> None:
    outcomes = assess(case)
    assert [summary_of(outcome) for outcome in outcomes] == case.expected
    rendered = run(case)
    assert [card["indicator"] for card in rendered] == [outcome.indicator for outcome in outcomes]
    for card in rendered:
        assert card_errors(card) == []
        assert card["source"]["topic"]["system"] == "urn:toh-cds:card-type"
    details = "\n".join(card["detail"] for card in rendered)
    for text in case.detail_contains:
        assert text in details


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_outcome_rests_on_evidence_from_the_record(case: Case) -> None:
    references = {f"{r['resourceType']}/{r['id']}" for r in case.resources}
    for outcome in assess(case):
        cited = {evidence.reference for evidence in outcome.evidence}
        assert cited, outcome.summary
        assert cited <= references
        assert outcome.reasons, outcome.summary


# --- clinical.md 2.7, "Cards as a clinician reads them": on every scenario --------------------------------------
RULE_ID = re.compile(r"\b(?:P[0-4]|T[1-3]|S[1-8]|R[1-6])\b")
VALUE_SET_KEYS = {name for name in _tables() if "_" in name}
CLINICIAN_TEXT = [(case, card) for case in CASES for card in run(case)]
IDS = [f"{case.id}-{card['source']['topic']['code']}" for case, card in CLINICIAN_TEXT]


def clinician_text(card: dict) -> str:
    return "\n".join([card["summary"], card["detail"], *(s["label"] for s in card.get("suggestions", []))])


@pytest.mark.parametrize(("case", "card"), CLINICIAN_TEXT, ids=IDS)
def test_clinician_text_has_no_rule_ids_value_set_keys_or_ucum_annotations(case: Case, card: dict) -> None:
    text = clinician_text(card)
    assert not RULE_ID.findall(text)
    assert not [key for key in VALUE_SET_KEYS if key in text]
    assert not re.findall(r"\{[^}]*\}", text)
    assert "Condition/" not in text and "Observation/" not in text


@pytest.mark.parametrize(("case", "card"), CLINICIAN_TEXT, ids=IDS)
def test_toh_details_stay_short_and_links_resolve(case: Case, card: dict) -> None:
    if card["source"]["topic"]["code"].startswith("toh-"):
        assert len(card["detail"]) < 1200
    urls = [link["url"] for link in card.get("links", [])] + re.findall(r"\]\((https?://[^)]+)\)", card["detail"])
    for url in urls:
        assert url.startswith(("https://doi.org/", "https://pubmed.ncbi.nlm.nih.gov/")), url
        assert "?term=" not in url


@pytest.mark.parametrize(("case", "card"), CLINICIAN_TEXT, ids=IDS)
def test_cards_after_delivery_never_mention_delivery_planning(case: Case, card: dict) -> None:
    context = build_context(case.resources, case.now)
    if not context.pregnant:
        assert "delivery planning" not in clinician_text(card).lower()
        assert "plan the delivery" not in clinician_text(card).lower()


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
    assert [c["code"] for c in create["resource"]["code"]["coding"]] == ["30671-2", "72195"]
    assert create["resource"]["subject"] == {"reference": "Patient/toh-13-xray-order"}
