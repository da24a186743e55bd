"""The TOH screening engine: pure, no I/O, no clock. `screen(resources, now)` is all most callers need."""

from __future__ import annotations

from service.screening.assessment import Assessment, Outcome, ProposedOrder, Recommendation, RuleHit
from service.screening.config import ScreeningConfig
from service.screening.context import Evidence, PatientContext, build_context
from service.screening.engine import assess, screen, screen_orders
from service.screening.rules import RULES_VERSION

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
    "screen",
    "screen_orders",
]
