"""A rule has one home, and the code behind it must be there too: the checks `registry.problems()` adds over the
rules' code. A rule naming a value set that no reader reads would never fire; a coded finding without a label would
show its key to a clinician; a red flag without a summary or advice would fail to render (or, as in rules version 2,
fall through to another flag's advice). Imported on demand: it imports the rule families, which import the registry.
"""

from __future__ import annotations

from collections.abc import Mapping

from service.screening import advice, context, orders, red_flags
from service.screening.registry import RED_FLAG_CARDS, Rule
from service.screening.valuesets import value_set_names

__all__ = ["wiring_problems"]


def wiring_problems(rules: Mapping[str, Rule]) -> list[str]:
    known = value_set_names()
    read = context.READ_VALUE_SETS | orders.READ_VALUE_SETS
    found: list[str] = []
    for rule in rules.values():
        if not rule.label.strip():
            found.append(f"rule {rule.id}: no label")
        found += [f"rule {rule.id}: value set {name!r} is read by no reader" for name in rule.value_sets if name in known and name not in read]  # fmt: skip
        if rule.card is not None and rule.card in RED_FLAG_CARDS.values():
            if rule.id not in red_flags.SUMMARIES:
                found.append(f"red flag {rule.id}: no summary")
            if rule.id not in advice.RED_FLAG_ADVICE:
                found.append(f"red flag {rule.id}: no advice")
    found += [f"coded finding {name!r}: no label for clinicians" for name in context.CODED_FINDINGS if name not in context.CODED_LABELS]  # fmt: skip
    return found
