"""The screening as its callers see it: the rules, then the cards of the bone agents she takes, then one coherent
card set (coherence.py). Patient-view shows the assessment's outcomes; an order hook shows the cards about its draft
orders and the red flags (registry.ORDER_HOOK_TOPICS)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from service.screening.assessment import Assessment, Outcome
from service.screening.coherence import coherent
from service.screening.config import ScreeningConfig
from service.screening.context import PatientContext, build_context
from service.screening.evaluation import Evaluation
from service.screening.orders import active_agent_outcomes, order_outcomes
from service.screening.registry import RED_FLAG_CARDS, problems
from service.screening.report_sources import unread_words
from service.screening.rules import evaluate

__all__ = ["assess", "screen", "screen_orders"]

_RED_FLAG_TOPICS = frozenset(RED_FLAG_CARDS.values())


def _assess(context: PatientContext, config: ScreeningConfig) -> tuple[Assessment, Evaluation]:
    raw, ev = evaluate(context, config)
    active = active_agent_outcomes(context, raw, ev.breastfeeding_unknown)
    outcomes = coherent((*raw.outcomes, *active))
    return replace(raw, outcomes=_unread_said(outcomes, context)), ev


def _unread_said(outcomes: tuple[Outcome, ...], context: PatientContext) -> tuple[Outcome, ...]:
    """A card must say when a report it could not read may hold what it lacks (clinical.md 2.8: a red flag stated
    only in the full report must still fire; issue 25, bad input): the evidence trail lists each part, the card
    names the report."""
    unread = [r for r in context.reports if r.unread]
    if not unread or not outcomes:
        return outcomes
    notes = []
    for report in sorted(unread, key=lambda r: (r.at or context.now, r.evidence.reference))[-2:]:
        words = sorted({unread_words(line) for line in report.unread})
        day = f" of {report.at.date().isoformat()}" if report.at else ""
        notes.append(f"Imaging report{day} {', '.join(words)}: read it before relying on this card.")
    return tuple(replace(outcome, notes=(*notes, *outcome.notes)) for outcome in outcomes)


def assess(context: PatientContext, config: ScreeningConfig | None = None) -> Assessment:
    """The patient-view assessment of a context already built (the case view draws the same context)."""
    return _assess(context, config or ScreeningConfig())[0]


def _context(resources: Iterable[Any], now: datetime, config: ScreeningConfig) -> PatientContext:
    return build_context(resources, now, gestational_age_recent_days=config.gestational_age_recent_days)


def screen(resources: Iterable[Any], now: datetime, config: ScreeningConfig | None = None) -> Assessment:
    """Assess one patient's FHIR R4 resources (JSON dicts) as of `now` (timezone-aware)."""
    config = config or ScreeningConfig()
    return assess(_context(resources, now, config), config)


def screen_orders(
    resources: Iterable[Any], draft_orders: Iterable[Any], now: datetime, config: ScreeningConfig | None = None
) -> tuple[Assessment, tuple[Outcome, ...]]:
    """The patient's assessment, and the cards of an ordering session: those about its draft orders (C, D) and the
    patient's red flags, coherent together."""
    config = config or ScreeningConfig()
    context = _context(resources, now, config)
    assessment, ev = _assess(context, config)
    drafted = order_outcomes(context, assessment, draft_orders, config, ev.breastfeeding_unknown)
    flags = [outcome for outcome in assessment.outcomes if outcome.topic in _RED_FLAG_TOPICS]
    return assessment, coherent((*flags, *drafted))


_found = problems()  # declarations and code together, once every rule family is imported
if _found:
    raise RuntimeError("the screening rules are inconsistent: " + "; ".join(_found))
