"""What the rules tests (test_rules_v2.py, test_rules_v3.py) ask of a record built with fixtures.builder: its cards
at patient-view, its order hook's cards, and a card's text as a clinician reads it, all at one evaluation time."""

from __future__ import annotations

from datetime import UTC, datetime

from fixtures.builder import Record
from service.cds.cards import card
from service.screening import Assessment, Outcome, ScreeningConfig, screen, screen_orders

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def assess(r: Record, config: ScreeningConfig | None = None) -> Assessment:
    return screen(r.resources, NOW, config)


def order_cards(r: Record) -> tuple[Outcome, ...]:
    drafts = [x for x in r.resources if x.get("status") == "draft"]
    return screen_orders(r.resources, drafts, NOW)[1]


def topics(r: Record) -> list[str]:
    return assess(r).topics


def outcome(r: Record, topic: str) -> Outcome:
    found = assess(r).outcome(topic)
    assert found is not None, assess(r).topics
    return found


def text_of(found: Outcome) -> str:
    rendered = card(found, "rules")
    return f"{rendered['summary']}\n{rendered['detail']}"
