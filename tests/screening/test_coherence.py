"""One coherent card set per patient (clinical.md 2.8): over every fixture scenario and 1,000 generated records, no
two cards a hook returns contradict each other. The checks read the rendered cards, not the registry's suppressions,
so a suppression missing from the registry shows here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from service.cds.cards import cards
from service.screening import ScreeningConfig, screen_orders
from service.screening.registry import ORDER_HOOK_TOPICS, RED_FLAG_CARDS
from tests.screening.generated import generated_records
from tests.screening.scenario_data import CASES

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
RED_FLAGS = {str(topic) for topic in RED_FLAG_CARDS.values()}
TOH = {"toh-consider", "toh-consistent"}
GENERATED = 1000


def contradictions(shown: list[dict[str, Any]], *, ordering: bool) -> list[str]:
    """Every pair (or set) of cards in one answer that a clinician would read as contradicting each other."""
    topics = [card["source"]["topic"]["code"] for card in shown]
    found: list[str] = []
    mri = [card for card in shown for s in card.get("suggestions", []) if "MRI" in s["label"]]
    delay = [card for card in shown if "do not delay" in card["detail"].lower()]
    if mri and delay:
        found.append("an MRI suggestion beside 'do not delay imaging'")
    if {"red-flag-fracture", "red-flag-trauma"} & set(topics) and mri:
        found.append("an MRI instead of the X-ray beside a fracture or trauma card")
    if len(mri) > 1:
        found.append(f"{len(mri)} MRI suggestions")
    if "plo-consider" in topics and "dxa-interpretation" in topics:
        found.append("card F ('low BMD is expected') beside card G")
    if TOH & set(topics) and RED_FLAGS & set(topics):
        found.append("a TOH card beside a red flag that replaces it")
    twice = {t for t in topics if topics.count(t) > 1} - {"imaging-safety", "antiresorptive-caution"}  # one per order
    if twice:
        found.append(f"the same card twice: {sorted(twice)}")
    for card in shown:  # clinical.md 2.8: a card that takes weight off the hip says what that does to VTE risk
        detail = card["detail"].lower()
        if (
            any(words in detail for words in ("crutches", "weight bearing", "weight-bearing"))
            and "vte risk" not in detail
        ):
            found.append(f"{card['source']['topic']['code']}: weight bearing advised without the VTE-risk line")
    if ordering and not set(topics) <= {str(t) for t in ORDER_HOOK_TOPICS}:
        found.append(f"an order hook showing {sorted(set(topics) - {str(t) for t in ORDER_HOOK_TOPICS})}")
    return found


def answers(resources: list[dict[str, Any]], now: datetime, config: dict[str, Any] | None = None) -> list[str]:
    drafts = [r for r in resources if r.get("status") == "draft"]
    assessment, order_cards = screen_orders(resources, drafts, now, ScreeningConfig(**(config or {})))
    patient_view = cards(assessment.outcomes, assessment.patient_id)
    found = contradictions(patient_view, ordering=False)
    if drafts:
        found += [f"order hook: {c}" for c in contradictions(cards(order_cards, assessment.patient_id), ordering=True)]
    return found


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_no_scenario_gives_contradicting_cards(case: Any) -> None:
    assert answers(case.resources, case.now, case.config) == []


def test_no_generated_record_gives_contradicting_cards() -> None:
    failures: dict[str, list[str]] = {}
    fired: set[str] = set()
    for r in generated_records(GENERATED, NOW):
        found = answers(r.resources, NOW)
        if found:
            failures[r.patient_id] = found
        drafts = [x for x in r.resources if x.get("status") == "draft"]
        assessment, order_cards = screen_orders(r.resources, drafts, NOW)
        fired |= {str(o.topic) for o in (*assessment.outcomes, *order_cards)}
    assert failures == {}
    # The records reach every card, so the checks above had something to check.
    assert fired >= {"toh-consider", "toh-consistent", "imaging-safety", "antiresorptive-caution", "plo-consider",
                     "dxa-interpretation", *RED_FLAGS}  # fmt: skip


def test_the_checks_find_a_contradiction_when_there_is_one() -> None:
    trauma = {"source": {"topic": {"code": "red-flag-trauma"}}, "detail": "Exclude a fracture first: do not delay imaging."}  # fmt: skip
    xray = {"source": {"topic": {"code": "imaging-safety"}}, "detail": "MRI preferred.",
            "suggestions": [{"label": "Replace with MRI of both hips and pelvis without contrast"}]}  # fmt: skip
    assert len(contradictions([trauma, xray], ordering=True)) == 2
