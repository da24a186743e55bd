"""One coherent set of cards per patient (clinical.md 2.8): the suppressions the registry declares, applied to the
outcomes of a screening, and one MRI suggestion across all cards (the first card's, in the order the rules give:
red flags, then TOH, then the orders)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from service.screening.assessment import Outcome
from service.screening.registry import SUPPRESSIONS

__all__ = ["coherent"]


def coherent(outcomes: Iterable[Outcome]) -> tuple[Outcome, ...]:
    shown = list(outcomes)
    topics = {outcome.topic for outcome in shown}
    kept: list[Outcome] = []
    mri_suggested = False
    for outcome in shown:
        applying = [s for s in SUPPRESSIONS if s.target == outcome.topic and s.by in topics and s.by != outcome.topic]
        if any(s.what == "card" for s in applying):
            continue
        for suppression in applying:  # mri-suggestion
            outcome = replace(
                outcome,
                orders=(),
                summary=suppression.summary or outcome.summary,
                recommendations=suppression.advice or outcome.recommendations,
            )
        if outcome.orders and mri_suggested:
            outcome = replace(outcome, orders=())
        mri_suggested = mri_suggested or bool(outcome.orders)
        kept.append(outcome)
    return tuple(kept)
