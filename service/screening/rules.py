"""The screening rules of clinical.md section 2, version 3 (sections 2.7 and 2.8 where they differ), run in order:
population (population.py), triggers and red flags (toh.py, red_flags.py), the TOH cards (toh.py), and the bone
density cards (bone.py). Pure: a context and a config in, an Assessment out; `engine.assess` adds the medication
cards and makes the card set coherent."""

from __future__ import annotations

from dataclasses import replace

from service.screening.assessment import Assessment, Outcome
from service.screening.bone import dxa_outcome, plo_outcome
from service.screening.config import ScreeningConfig
from service.screening.context import PatientContext
from service.screening.evaluation import Evaluation
from service.screening.population import in_population
from service.screening.red_flags import red_flag_outcome, red_flags, review_note
from service.screening.toh import current_diagnosis, resolved, toh_outcome, triggers

__all__ = ["RULES_VERSION", "evaluate"]

RULES_VERSION = "2026.12.3"  # rules version 3: clinical.md 2.8


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
            outcomes.append(_with_review(toh_outcome(ev, hip, pelvic), [review_note(ev, flag) for flag in hedged]))
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


def _with_review(outcome: Outcome, notes: list[str]) -> Outcome:
    """The TOH card with what hedged reports ask to review, first; never below warning then."""
    if not notes:
        return outcome
    indicator = "warning" if outcome.indicator == "info" else outcome.indicator
    return replace(outcome, indicator=indicator, notes=(*notes, *outcome.notes))
