"""The screening rules of clinical.md section 2, version 3 (sections 2.7 and 2.8 where they differ), run in order:
population (population.py), triggers and red flags (toh.py, red_flags.py), the TOH cards (toh.py), and the bone
density cards (bone.py). Pure: a context and a config in, an Assessment out; `engine.assess` adds the medication
cards and makes the card set coherent."""

from __future__ import annotations

from dataclasses import replace

from service.screening.assessment import Assessment, Outcome, Recommendation
from service.screening.bone import dxa_outcome, plo_outcome
from service.screening.config import ScreeningConfig
from service.screening.context import PatientContext
from service.screening.evaluation import Evaluation
from service.screening.population import in_population
from service.screening.red_flags import Flag, red_flag_outcome, red_flags, review_note
from service.screening.registry import RULES
from service.screening.toh import current_diagnosis, resolved, toh_outcome, triggers

__all__ = ["RULES_VERSION", "evaluate"]

RULES_VERSION = "2026.12.3"  # rules version 3: clinical.md 2.8
MAX_RECOMMENDATIONS = 5


def evaluate(context: PatientContext, config: ScreeningConfig) -> tuple[Assessment, Evaluation]:
    """The rules' own outcomes, and the evaluation (its phase and hits) for the rules that follow."""
    ev = Evaluation(context, config)
    screened = in_population(ev)
    outcomes: list[Outcome] = []
    if screened:
        hip, pelvic = triggers(ev)
        pains = hip or pelvic
        diagnosed = bool(current_diagnosis(ev))
        flags = red_flags(ev, pains, triggered=bool(pains) or diagnosed)
        certain = [flag for flag in flags if flag.certain]
        hedged = [flag for flag in flags if not flag.certain]
        outcomes += [red_flag_outcome(ev, flag, pains) for flag in certain]
        if (pains or diagnosed) and not certain and not resolved(ev, pains):
            outcomes.append(_with_review(toh_outcome(ev, hip, pelvic), [(flag, review_note(ev, flag)) for flag in hedged]))  # fmt: skip
        elif not certain:
            outcomes += [red_flag_outcome(ev, flag, pains) for flag in hedged]
        plo = plo_outcome(ev)
        if plo is not None:
            outcomes.append(plo)
    dxa = dxa_outcome(ev, screened)
    if dxa is not None:
        outcomes.append(dxa)
    unread = tuple(context.unread)
    assessment = Assessment(
        context.patient_id, ev.now, RULES_VERSION, screened, tuple(ev.hits), tuple(outcomes), unread
    )
    return assessment, ev


def _with_review(outcome: Outcome, reviews: list[tuple[Flag, str]]) -> Outcome:
    """The TOH card led by what hedged reports ask to review (clinical.md 2.8, "say 'MRI reported <date>:
    review'"), at warning and high priority; a fracture not excluded replaces "crutches" by non-weight-bearing."""
    if not reviews:
        return outcome
    fracture = any(flag.rule == "R2" for flag, _ in reviews)
    kept = [r for r in outcome.recommendations if not (fracture and r.text.startswith(("Crutches", "Protected")))]
    first = [Recommendation(text, RULES[flag.rule].sources) for flag, text in reviews]
    recommendations = (*first, *kept)[:MAX_RECOMMENDATIONS]
    return replace(outcome, indicator="warning", priority="high", recommendations=recommendations)
