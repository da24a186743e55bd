"""The TOH screening engine: pure, no I/O, no clock. `screen(resources, now)` is all most callers need."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from service.screening.assessment import Assessment, Outcome, ProposedOrder, Recommendation, RuleHit
from service.screening.config import ScreeningConfig
from service.screening.context import Evidence, PatientContext, build_context
from service.screening.orders import order_outcomes
from service.screening.rules import RULES_VERSION, assess

__all__ = [
    "RULES_VERSION",
    "Assessment",
    "Evidence",
    "Outcome",
    "PatientContext",
    "ProposedOrder",
    "Recommendation",
    "RuleHit",
    "ScreeningConfig",
    "assess",
    "build_context",
    "order_outcomes",
    "screen",
    "screen_orders",
]


def screen(resources: Iterable[Any], now: datetime, config: ScreeningConfig | None = None) -> Assessment:
    """Assess one patient's FHIR R4 resources (JSON dicts) as of `now` (timezone-aware). With a context already
    built (the case view draws it too), `assess(context, config)` is the same without building it twice."""
    config = config or ScreeningConfig()
    context = build_context(resources, now, gestational_age_recent_days=config.gestational_age_recent_days)
    return assess(context, config)


def screen_orders(
    resources: Iterable[Any], draft_orders: Iterable[Any], now: datetime, config: ScreeningConfig | None = None
) -> tuple[Assessment, tuple[Outcome, ...]]:
    """The patient's assessment and the outcomes of the draft orders of an ordering session."""
    config = config or ScreeningConfig()
    context = build_context(resources, now, gestational_age_recent_days=config.gestational_age_recent_days)
    assessment = assess(context, config)
    return assessment, order_outcomes(context, assessment, draft_orders)
