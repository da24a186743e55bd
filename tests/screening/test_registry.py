"""The rule registry is consistent, and its check catches each way a rule could fail silently or a card fail to
render (the module refuses to import when `problems()` finds one)."""

from __future__ import annotations

import dataclasses

import pytest

from service.screening.context import CODED_FINDINGS
from service.screening.registry import CARD_TYPES, RULES, CardType, Rule, Topic, problems


def test_the_registry_is_consistent() -> None:
    assert problems() == []


def test_every_coded_finding_is_read_by_a_rule() -> None:
    read = {name for rule in RULES.values() for name in rule.value_sets}
    assert set(CODED_FINDINGS) <= read


def test_a_rule_naming_a_missing_value_set_or_source_is_caught() -> None:
    broken = {**RULES, "R9": Rule("R9", "Planted", ("no_such_set",), ("no_such_source",))}
    assert problems(broken) == ["rule R9: no value set 'no_such_set'", "rule R9: no source 'no_such_source'"]


def test_a_topic_without_a_card_type_or_with_an_unknown_override_is_caught() -> None:
    without = {topic: card for topic, card in CARD_TYPES.items() if topic != Topic.PLO_CONSIDER}
    assert "topic plo-consider: no card type" in problems(card_types=without)
    assert any("rule G: no card type" in problem for problem in problems(card_types=without))
    odd = {**CARD_TYPES, Topic.DXA_INTERPRETATION: CardType("DXA", ("no-such-reason",))}
    assert problems(card_types=odd) == ["topic dxa-interpretation: no override reason 'no-such-reason'"]


def test_a_value_set_no_rule_reads_is_caught() -> None:
    unread = {
        rule_id: dataclasses.replace(rule, value_sets=()) if rule_id == "R6" else rule
        for rule_id, rule in RULES.items()
    }
    assert problems(unread) == [
        "value set 'meralgia_paresthetica': no rule reads it",
        "value set 'symphysis_dysfunction': no rule reads it",
    ]


def test_a_rule_naming_a_value_set_no_reader_reads_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """As when a value set is missing from CODED_FINDINGS: it exists, a rule names it, and it never fires."""
    from service.screening import context

    monkeypatch.setattr(context, "READ_VALUE_SETS", context.READ_VALUE_SETS - {"venous_thromboembolism"})
    assert problems() == ["rule R7: value set 'venous_thromboembolism' is read by no reader"]


def test_a_red_flag_without_summary_or_advice_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.screening import advice, red_flags

    monkeypatch.delitem(red_flags.SUMMARIES, "R7")
    monkeypatch.delitem(advice.RED_FLAG_ADVICE, "R4")
    found = problems()
    assert "red flag R7: no summary" in found and "red flag R4: no advice" in found


def test_a_coded_finding_without_a_clinician_label_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.screening import context

    monkeypatch.delitem(context.CODED_LABELS, "venous_thromboembolism")
    assert problems() == ["coded finding 'venous_thromboembolism': no label for clinicians"]


def test_every_value_set_the_context_declares_it_reads_it_reads() -> None:
    """READ_VALUE_SETS is the readers' own word: each name in it appears where a reader uses it."""
    from pathlib import Path

    from service.screening import context, orders

    sources = "".join(Path(module.__file__ or "").read_text() for module in (context, orders))
    declared = context.READ_VALUE_SETS | orders.READ_VALUE_SETS
    assert [name for name in sorted(declared) if f'"{name}"' not in sources] == []
