"""The scenario fixtures as the tests read them: bundles, draft orders and expectations from expected.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from service.screening import Outcome, ScreeningConfig, screen_orders

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"
TABLE = json.loads((SCENARIOS_DIR / "expected.json").read_text())


@dataclass(frozen=True)
class Case:
    id: str
    resources: list[dict[str, Any]]
    now: datetime
    config: dict[str, Any]
    expected: list[dict[str, str]]
    detail_contains: list[str]

    @property
    def drafts(self) -> list[dict[str, Any]]:
        return [r for r in self.resources if r.get("status") == "draft"]


def load(entry: dict[str, Any]) -> Case:
    bundle = json.loads((SCENARIOS_DIR / entry["file"]).read_text())
    return Case(
        entry["id"],
        [item["resource"] for item in bundle["entry"]],
        datetime.fromisoformat(entry["now"].replace("Z", "+00:00")),
        entry["config"],
        entry["expected"],
        entry["detail_contains"],
    )


CASES = [load(entry) for entry in TABLE["scenarios"]]


def visit(resources: list[dict[str, Any]], now: datetime, config: dict[str, Any]) -> tuple[Outcome, ...]:
    """What a clinician sees in one visit: the patient-view cards, then those of an order hook over the record's draft
    orders that patient-view did not show already (the red flags are in both)."""
    drafts = [r for r in resources if isinstance(r, dict) and r.get("status") == "draft"]
    assessment, order_cards = screen_orders(resources, drafts, now, ScreeningConfig(**config))
    return (*assessment.outcomes, *(o for o in order_cards if o not in assessment.outcomes))
