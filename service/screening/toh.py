"""The TOH rules (clinical.md 2.3, 2.4, 2.6-2.8): triggers T1-T3, supporting findings S1-S9, resolution, and cards A
(consider TOH) and B (findings consistent with TOH).

History raises attention and never silences it (2.8): a TOH of an earlier pregnancy is a risk factor (S9), and only
a resolution after the current pain began closes the current episode.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from service.screening import advice
from service.screening.assessment import Indicator, Outcome, ProposedOrder, Recommendation, RuleHit
from service.screening.config import DAYS_PER_MONTH
from service.screening.context import PREGNANCY_DAYS, Evidence, ImagingReport, Pain
from service.screening.evaluation import Evaluation, after, ago, days
from service.screening.mri import mri_order
from service.screening.registry import Topic

__all__ = ["current_diagnosis", "resolved", "toh_outcome", "triggers"]

_WEIGHT = ("S4", "S7", "S9", "S2", "S3", "S1", "S5", "S6", "S8")  # what weighs most is said first


def current_diagnosis(ev: Evaluation) -> list[Evidence]:
    """A TOH on the problem list that belongs to this pregnancy (begun within its window); an older one is history."""
    start = ev.window_start()
    return [e for e in ev.c.coded.get("toh_diagnosis", []) if e.date is None or e.date >= start]


def _earlier_episodes(ev: Evaluation, pains: list[Pain]) -> list[Evidence]:
    """S9: a TOH of an earlier pregnancy, still on the list or resolved before the current pain began."""
    start = ev.window_start()
    onset = min((p.onset for p in pains if p.onset is not None), default=ev.now)
    old = [e for e in ev.c.coded.get("toh_diagnosis", []) if e.date is not None and e.date < start]
    return old + [e for e in ev.c.resolved_toh if e.date is not None and e.date < onset]


def triggers(ev: Evaluation) -> tuple[list[Pain], list[Pain]]:
    c = ev.c
    hip = [p for p in c.pains if p.region in ("hip", "groin") and ev.recent(p)]
    pelvic = [p for p in c.pains if p.region == "pelvic" and ev.recent(p)]
    if hip:
        ev.fire("T1", [p.evidence for p in hip])
        ev.fire("T2", [p.evidence for p in hip])
    diagnosed = current_diagnosis(ev)
    if diagnosed and not hip:
        ev.fire("T1", diagnosed, "Transient osteoporosis of the hip diagnosed")
    if pelvic and not hip and not diagnosed:
        if _alternatives(ev):
            ev.fire("R6", _alternatives(ev))
            pelvic = []
        else:
            ev.fire("T3", [p.evidence for p in pelvic])
    return hip, pelvic


def _alternatives(ev: Evaluation) -> list[Evidence]:
    return ev.c.coded.get("symphysis_dysfunction", []) + ev.c.coded.get("meralgia_paresthetica", [])


def resolved(ev: Evaluation, pains: list[Pain]) -> bool:
    """Cards A and B close on a TOH resolved after the pain began, an MRI that reports resolution, or two pain
    scores of 0-1 at least `resolution_scores_days` apart after the last positive finding; or 12 months on."""
    c, config = ev.c, ev.config
    onsets = [p.onset for p in pains if p.onset is not None]
    last_onset = max(onsets, default=None)
    evidence = [e for e in c.resolved_toh if e.date is None or after(e.date, last_onset)]
    dated = sorted((r for r in c.reports if r.at is not None), key=lambda r: (r.at or ev.now, r.evidence.reference))
    if dated and _reports_resolution(dated):
        evidence.append(dated[-1].evidence)
    evidence += _settled_scores(ev, last_onset)
    max_age = timedelta(days=round(config.toh_card_max_months * DAYS_PER_MONTH))
    expired = bool(onsets) and all(ev.now - onset > max_age for onset in onsets)
    if evidence or expired:
        label = "Resolved" if evidence else f"More than {config.toh_card_max_months} months since onset"
        ev.fire("resolved", evidence, label)
        return True
    return False


def _reports_resolution(dated: list[ImagingReport]) -> bool:
    """The latest report says the oedema resolved, or an MRI after one that showed oedema shows none: partial or
    one-sided resolution ("persists on the left") is no resolution (clinical.md 2.8)."""
    latest = dated[-1]
    if {"bone_marrow_oedema", "transient_osteoporosis"} & latest.findings or latest.uncertain or latest.unread:
        return False
    if "resolution" in latest.findings:
        return True
    earlier = any("bone_marrow_oedema" in r.findings for r in dated[:-1])
    return earlier and latest.modality == "MR" and not latest.findings


def _settled_scores(ev: Evaluation, last_onset: datetime | None) -> list[Evidence]:
    """Two pain scores of 0-1, far enough apart, with nothing positive since the first of them (clinical.md 2.8):
    one score of 0 is a good day, not a resolution."""
    scores = [m for m in ev.c.measurements.get("pain_score", []) if m.at is not None]
    oedema = [r.at for r in ev.c.reports if "bone_marrow_oedema" in r.findings and r.at is not None]
    positive = [m.at for m in scores if m.value > 1 and m.at is not None] + oedema
    last_positive = max([*positive, *([last_onset] if last_onset else [])], default=None)
    low = sorted((m for m in scores if m.value <= 1 and after(m.at, last_positive)), key=lambda m: m.at or ev.now)
    if len(low) >= 2 and low[0].at and low[-1].at and days(low[-1].at - low[0].at) >= ev.config.resolution_scores_days:
        return [low[0].evidence, low[-1].evidence]
    return []


def _supporting(ev: Evaluation, pains: list[Pain]) -> dict[str, list[str]]:
    """Supporting rule -> its reasons in plain words."""
    c, config = ev.c, ev.config
    found: dict[str, list[str]] = {}

    def support(rule: str, evidence: list[Evidence], say: str | None = None) -> None:
        if evidence:
            hit = ev.fire(rule, evidence)
            found[rule] = [say] if say else [ev.reason(e) for e in hit.evidence]

    before_delivery = c.pregnant or _onset_before_delivery(ev, pains)
    when = "in the third trimester" if before_delivery else "within 3 months of delivery"
    support("S1", _late_pregnancy(ev, pains), say=f"Began {when}")
    score = c.latest("pain_score")
    severe = [score.evidence] if score is not None and score.value >= config.severe_pain_score else []
    support("S2", severe + c.coded.get("gait_or_stiffness", []))
    support("S3", c.coded.get("osteopenia", []) + [r.evidence for r in c.reports if "osteopenia" in r.findings])
    oedema = c.coded.get("bone_marrow_oedema", []) + [
        r.evidence
        for r in c.reports
        if {"bone_marrow_oedema", "transient_osteoporosis"} & r.findings and r.modality in ("MR", None)
    ]
    support("S4", oedema + current_diagnosis(ev))
    normal = _normal_labs(ev)
    support("S5", normal, say=", ".join(e.plain for e in normal) + ": normal" if normal else None)
    risks = list(c.risk_medications)
    for name in ("smoker", "vitamin_d_deficiency", "family_history_osteoporosis", "multiple_pregnancy"):
        risks += c.coded.get(name, [])
    for name, below in (("vitamin_d", config.vitamin_d_low_ng_per_ml), ("bmi", config.bmi_low)):
        latest = c.latest(name)
        if latest is not None and latest.value < below:
            risks.append(latest.evidence)
    support("S6", risks)
    sides = {p.side for p in pains}
    bilateral = [p.evidence for p in pains] if "bilateral" in sides or {"left", "right"} <= sides else []
    bilateral += [r.evidence for r in c.reports if "bilateral" in r.findings and "bone_marrow_oedema" in r.findings]
    support("S7", bilateral, say="Both hips involved")
    # S8: before menopause and after delivery only the Z-score counts (ISCD; clinical.md 2.7).
    support("S8", [d.evidence for d in c.dxa if d.measure == "Z" and d.value <= config.z_score_low])
    earlier = _earlier_episodes(ev, pains)
    support("S9", earlier, say="Transient osteoporosis of the hip in an earlier pregnancy: it can recur" if earlier else None)  # fmt: skip
    return found


def _onset_before_delivery(ev: Evaluation, pains: list[Pain]) -> bool:
    delivered = ev.c.delivery_date
    return delivered is not None and any(p.onset is not None and p.onset < delivered for p in pains)


def _late_pregnancy(ev: Evaluation, pains: list[Pain]) -> list[Evidence]:
    c, config = ev.c, ev.config
    evidence: list[Evidence] = []
    for pain in pains:
        when = pain.onset or ev.now
        if c.pregnancy_start is not None and when >= c.pregnancy_start:
            ga_weeks: float | None = days(when - c.pregnancy_start) / 7
        elif c.delivery_date is not None and when < c.delivery_date:
            ga_weeks = (PREGNANCY_DAYS - days(c.delivery_date - when)) / 7
        else:
            ga_weeks = None
        after_delivery = None if c.delivery_date is None else days(when - c.delivery_date)
        if (ga_weeks is not None and ga_weeks >= config.third_trimester_weeks) or (
            after_delivery is not None and 0 <= after_delivery <= config.early_postpartum_days
        ):
            evidence.append(pain.evidence)
    return evidence


def _normal_labs(ev: Evaluation) -> list[Evidence]:
    crp, wbc = ev.c.latest("crp"), ev.c.latest("wbc")
    if crp is None or crp.value >= ev.config.crp_normal_below_mg_per_l:
        return []
    if wbc is not None and wbc.value > ev.config.wbc_10e9_per_l:
        return []
    return [crp.evidence] + ([wbc.evidence] if wbc is not None else [])


def toh_outcome(ev: Evaluation, hip: list[Pain], pelvic: list[Pain]) -> Outcome:
    supporting = _supporting(ev, hip or pelvic)
    hits = ev.hits_of("P1", "P2", "P3", "T1", "T2", "T3") + tuple(h for h in ev.hits if h.rule.startswith("S"))
    sides = {p.side for p in hip}
    bilateral = "S7" in supporting or {"left", "right"} <= sides
    pain_conditions = tuple(dict.fromkeys(p.evidence.reference for p in hip or pelvic if p.evidence.reference.startswith("Condition/")))  # fmt: skip
    mri = mri_order(ev.config, ev.phase, pain_conditions)
    pain_reasons = [ev.reason(e) for e in ev.ordered(p.evidence for p in hip or pelvic)]
    support_reasons = [line for rule in _WEIGHT if rule in supporting for line in supporting[rule]]
    if "S4" in supporting:
        return _consistent(ev, hits, bilateral, pain_reasons, support_reasons)
    reasons = ev.reasons([ev.phase_line()], pain_reasons, support_reasons)
    if not hip:
        summary = "Pelvic or lower abdominal pain in pregnancy or postpartum: does it localise to the hip or groin?"
        notes: tuple[str, ...] = ("Low confidence: no hip or groin pain recorded.",)
        return Outcome(Topic.TOH_CONSIDER, "info", summary, hits, advice.toh_localise(), "low", notes, (mri,), reasons=reasons)  # fmt: skip
    when = "in pregnancy" if ev.c.pregnant else "after delivery"
    alternatives = _alternatives(ev)
    if alternatives and not {"S3", "S4"} & supporting.keys():
        # Symphysis dysfunction or meralgia paresthetica is coded and nothing points at the hip (clinical.md 2.8):
        # find out where the pain is before crutches or an MRI.
        named = "symphysis pubis dysfunction" if ev.c.coded.get("symphysis_dysfunction") else "meralgia paresthetica"
        summary = f"Hip pain {when} with {named} recorded: examine the hip; MRI only if the pain is in the hip."
        notes = (
            f"Low likelihood: {named} is recorded and may explain the pain; no imaging finding points at the hip.",
        )
        recommendations = advice.toh_unlikely(named, ev.phase, ev.breastfeeding_unknown)
        return Outcome(Topic.TOH_CONSIDER, "info", summary, hits, recommendations, "low", notes, reasons=reasons)
    recommendations = advice.toh_consider(ev.phase, ev.breastfeeding_unknown)
    imaged = _imaged_since(ev, hip)
    orders: tuple[ProposedOrder, ...] = (mri,)
    if imaged is not None:  # an MRI reported since the pain began, or one ordered: name it, suggest no other
        orders = ()
        reasons = ev.reasons([ev.phase_line()], pain_reasons, [ev.reason(imaged)], support_reasons)
        recommendations = tuple(_instead_of_mri(r, imaged) for r in recommendations)
    notes = ()
    if any(p.thigh for p in hip):
        notes = ("Thigh pain on one side: exclude a deep vein thrombosis (swelling, calf tenderness; compression "
                 "ultrasound) before crutches.",)  # fmt: skip
    # Calibrated urgency (clinical.md 2.7): warning only at high priority, since TOH is rare and pelvic girdle
    # pain common; an earlier TOH raises it (2.8).
    others = [rule for rule in supporting if rule != "S1"]
    high = ("S1" in supporting and others) or len(others) >= 2 or "S9" in supporting
    priority: Literal["high", "medium"] = "high" if high else "medium"
    indicator: Indicator = "warning" if high else "info"
    summary = f"Hip pain {when}: examine, and consider transient osteoporosis of the hip; MRI without contrast."
    return Outcome(Topic.TOH_CONSIDER, indicator, summary, hits, recommendations, priority, notes, orders, reasons=reasons)  # fmt: skip


def _imaged_since(ev: Evaluation, pains: list[Pain]) -> Evidence | None:
    """The latest hip MRI reported since the pain began, else an MRI order active now."""
    onset = min((p.onset for p in pains if p.onset is not None), default=None)
    reports = [r for r in ev.c.reports if r.modality == "MR" and r.at is not None and after(r.at, onset) and not r.unread]  # fmt: skip
    if reports:
        return max(reports, key=lambda r: (r.at or ev.now, r.evidence.reference)).evidence
    return max(ev.c.mri_orders, key=lambda e: (e.date or ev.now, e.reference), default=None)


def _instead_of_mri(recommendation: Recommendation, imaged: Evidence) -> Recommendation:
    if not recommendation.text.startswith("MRI"):
        return recommendation
    if imaged.reference.startswith("ServiceRequest/"):
        return Recommendation(f"{imaged.plain}: keep crutches until it is reported.", recommendation.citations)
    return Recommendation(
        f"{imaged.plain}: if the pain persists or worsens, review the images with the radiologist.",
        recommendation.citations,
    )


def _side_mismatch(ev: Evaluation) -> str | None:
    """The MRI finds oedema on one side and the pain is on the other: a side to check, not a diagnosis to trust."""
    pain_sides = {p.side for p in ev.c.pains if p.region in ("hip", "groin") and p.side in ("left", "right")}
    oedema_sides = {
        side for r in ev.c.reports if "bone_marrow_oedema" in r.findings for side in ("left", "right") if side in r.findings
    }  # fmt: skip
    if len(pain_sides) == 1 and len(oedema_sides) == 1 and pain_sides != oedema_sides:
        return f"The MRI finding is on the {next(iter(oedema_sides))} and the pain on the {next(iter(pain_sides))}: check the side."  # fmt: skip
    return None


def _consistent(
    ev: Evaluation, hits: tuple[RuleHit, ...], bilateral: bool, pain_reasons: list[str], support_reasons: list[str]
) -> Outcome:
    c = ev.c
    diagnosed = bool(current_diagnosis(ev))
    oedema_dates = [r.at for r in c.reports if {"bone_marrow_oedema", "transient_osteoporosis"} & r.findings and r.at]
    latest = max(oedema_dates, default=None)
    stale = latest is not None and days(ev.now - latest) > ev.config.recent_findings_days
    follow_up = diagnosed or stale
    notes: list[str] = []
    subchondral = any("subchondral_fracture" in r.findings for r in c.reports)
    if subchondral:
        notes.append(
            "Subchondral fracture line on MRI (seen in about half of TOH): strict non-weight-bearing and "
            "orthopaedic review; reduced mobility raises VTE risk: assess it."
        )
    if bilateral:
        notes.append("Both hips involved: watch for migration and protect both.")
    mismatch = _side_mismatch(ev)
    if mismatch:
        notes.append(mismatch)
    if stale and latest is not None:
        notes.append(f"The MRI is {ago(latest, ev.now)}: repeat only if the pain is not settling.")
    reasons = ev.reasons([ev.phase_line()], support_reasons[:1], pain_reasons, support_reasons[1:])
    recommendations = advice.toh_consistent(ev.phase, follow_up, ev.breastfeeding_unknown)
    if follow_up:
        summary = "Transient osteoporosis of the hip: follow-up; no antiresorptives, expect recovery in 6-12 months."
        indicator: Indicator = "warning" if subchondral else "info"
        return Outcome(Topic.TOH_CONSISTENT, indicator, summary, hits, recommendations, "medium", tuple(notes), reasons=reasons)  # fmt: skip
    summary = "Findings consistent with transient osteoporosis of the hip: protect the hip, no antiresorptives; recovery in 6-12 months."  # fmt: skip
    return Outcome(Topic.TOH_CONSISTENT, "warning", summary, hits, recommendations, "high", tuple(notes), reasons=reasons)  # fmt: skip
