"""Bone density rules: DXA interpretation before menopause (card F) and pregnancy- or lactation-associated
osteoporosis (card G), clinical.md 2.6-2.8. A sacral or pubic-ramus insufficiency fracture in pregnancy or
lactation is PLO evidence, not TOH."""

from __future__ import annotations

from datetime import timedelta

from service.screening import advice
from service.screening.assessment import Outcome
from service.screening.evaluation import PHASE_RULES, Evaluation, after
from service.screening.registry import Topic
from service.screening.report_findings import PLO_FRACTURES

__all__ = ["dxa_outcome", "plo_outcome"]


def dxa_outcome(ev: Evaluation, in_population: bool) -> Outcome | None:
    c, config = ev.c, ev.config
    since = ev.now - timedelta(days=config.dxa_lookback_days)
    results = [d for d in c.dxa if d.at is None or d.at >= since]
    premenopausal = c.age_years is not None and c.age_years < config.premenopausal_age_below
    if not results or c.sex != "female" or not (in_population or premenopausal):
        return None
    hit = ev.fire("F", [d.evidence for d in results])
    notes: list[str] = []
    z_scores = [d for d in results if d.measure == "Z"]
    if z_scores:
        lowest = min(z_scores, key=lambda d: (d.value, d.site))
        below = lowest.value <= config.z_score_low
        verdict = "below the expected range for age" if below else "within the expected range for age"
        notes.append(f"Lowest Z-score {lowest.value:g} ({lowest.site.replace('-', ' ')}): {verdict}.")
    else:
        notes.append("No Z-score recorded: ask for Z-scores; T-scores alone are not diagnostic before menopause.")
    if any(d.site == "forearm" for d in results):
        notes.append(
            "Data quality: LOINC 38265-5 is the forearm (radius and ulna) T-score, often mislabelled "
            "'DXA [T-score] Bone density'; it is read here as forearm, not hip or spine."
        )
    low = any(d.value <= config.z_score_low for d in z_scores)
    if ev.phase == "lactation" and not low:
        notes.append("Breastfeeding: some bone loss is expected and recovers after weaning.")
    if low:  # a Z-score this low is not "expected in lactation" (clinical.md 2.8)
        summary = "DXA before menopause: a Z-score of -2.0 or less is below the expected range; work up bone loss."
        recommendations = advice.DXA_LOW_ADVICE
    else:
        summary = "DXA before menopause: read the Z-score, not the T-score; low BMD in lactation usually recovers."
        recommendations = advice.DXA_ADVICE
    reasons = ev.reasons([ev.phase_line()] if in_population else [], [ev.reason(e) for e in hit.evidence])
    return Outcome(Topic.DXA_INTERPRETATION, "info", summary, (hit,), recommendations, notes=tuple(notes), reasons=reasons)  # fmt: skip


def plo_outcome(ev: Evaluation) -> Outcome | None:
    c = ev.c
    start = ev.window_start()
    fractures = [e for e in c.coded.get("fragility_fracture", []) if e.date is None or e.date >= start]
    fractures += [r.evidence for r in c.reports if PLO_FRACTURES & r.elsewhere and after(r.at, start)]
    back = [p.evidence for p in c.pains if p.region == "back" and ev.recent(p)]
    low_z = [d.evidence for d in c.dxa if d.measure == "Z" and d.value <= ev.config.z_score_low and after(d.at, start)]
    if not fractures and not (back and low_z):
        return None
    hit = ev.fire("G", fractures or back + low_z)
    summary = "Possible pregnancy- or lactation-associated osteoporosis: DXA (Z-score), bone bloods, specialist review."  # fmt: skip
    reasons = ev.reasons([ev.phase_line()], [ev.reason(e) for e in hit.evidence])
    recent = [d for d in c.dxa if d.measure == "Z" and d.at is not None and (ev.now - d.at).days <= ev.config.dxa_lookback_days]  # fmt: skip
    done = min(recent, key=lambda d: d.value).evidence.plain if recent else None
    recommendations = advice.plo_consider(ev.phase, done)
    return Outcome(Topic.PLO_CONSIDER, "warning", summary, (*ev.hits_of(*PHASE_RULES), hit), recommendations, reasons=reasons)  # fmt: skip
