"""Red flags R1-R5 and R7 (clinical.md 2.5, 2.7 and 2.8): findings that replace the TOH card with their own.

A red flag read from a report is certain only when the report asserts it. A hedged one ("cannot be excluded",
"possible") never fires as certain: it adds "review the report" to the TOH card it does not replace, or, with no TOH
card to carry it, gives its own card at warning grade, never a critical one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from service.screening import advice
from service.screening.assessment import Indicator, Outcome
from service.screening.context import Evidence, Pain
from service.screening.evaluation import PHASE_RULES, Evaluation, after, days
from service.screening.registry import RED_FLAG_CARDS

__all__ = ["SUMMARIES", "Flag", "red_flag_outcome", "red_flags", "review_note"]


@dataclass(frozen=True)
class Flag:
    rule: str
    indicator: Indicator
    after_onset: bool = False  # R5: the injury came after the pain began
    certain: bool = True  # False: only a hedged report says so


def red_flags(ev: Evaluation, pains: list[Pain], triggered: bool) -> list[Flag]:
    """Every red flag that fires. R2 and R3 need no pain (a fracture or AVN is never TOH); R7 needs a TOH trigger
    (pain or a TOH diagnosis), since its card replaces the TOH card; R1, R4 and R5 explain a pain."""
    c = ev.c
    flags: list[Flag] = []
    for rule, coded, finding in (
        ("R2", "femoral_fracture", "fracture"),
        ("R3", "avascular_necrosis", "avascular_necrosis"),
    ):
        certain = c.coded.get(coded, []) + [r.evidence for r in c.reports if finding in r.findings]
        hedged = [r for r in c.reports if finding in r.uncertain]
        if certain:
            ev.fire(rule, certain)
            flags.append(Flag(rule, "critical" if rule == "R2" else "warning"))
        elif hedged:
            dates = ", ".join(r.at.date().isoformat() for r in hedged if r.at is not None) or "undated"
            ev.fire(rule, [r.evidence for r in hedged], f"Report ({dates}) says it is possible: review")
            flags.append(Flag(rule, "warning", certain=False))
    vte = c.coded.get("venous_thromboembolism", [])
    if triggered and vte:
        ev.fire("R7", vte)
        flags.append(Flag("R7", "critical"))
    if not pains:
        return flags
    infection = _infection(ev)
    if infection is not None:
        flags.append(Flag("R1", infection))
    neoplasm = c.coded.get("bone_neoplasm", []) + c.coded.get("malignant_neoplasm", [])
    if neoplasm:
        ev.fire("R4", neoplasm)
        flags.append(Flag("R4", "warning"))
    if not any(flag.rule == "R2" and flag.certain for flag in flags):
        onset = min((p.onset for p in pains if p.onset is not None), default=ev.now)
        since = onset - timedelta(days=ev.config.trauma_lookback_days)
        trauma = [e for e in c.coded.get("trauma", []) if e.date is None or since <= e.date <= ev.now]
        if trauma:
            later = all(e.date is not None and e.date > onset for e in trauma)
            ev.fire("R5", trauma, "Trauma after the pain began" if later else "Trauma before the pain began")
            flags.append(Flag("R5", "warning", after_onset=later))
    return flags


def _infection(ev: Evaluation) -> Indicator | None:
    """R1 graded (clinical.md 2.7): critical for coded infection, or fever with CRP >= 50 or WBC > 15; warning
    for CRP or fever alone. CRP alone within a week of delivery is physiological, not a red flag."""
    c, config = ev.c, ev.config
    acute = ev.now - timedelta(days=config.acute_lookback_days)
    coded = list(c.coded.get("bone_or_joint_infection", []))
    fever = [e for e in c.coded.get("fever", []) if e.date is None or e.date >= acute]
    fever += [m.evidence for m in c.measurements.get("body_temperature", []) if m.value >= config.fever_celsius and after(m.at, acute)]  # fmt: skip
    crp = [m for m in c.measurements.get("crp", []) if m.value >= config.crp_mg_per_l and after(m.at, acute)]
    wbc = [m.evidence for m in c.measurements.get("wbc", []) if m.value > config.wbc_10e9_per_l and after(m.at, acute)]  # fmt: skip
    delivered = c.delivery_date
    crp_alone = [
        m.evidence
        for m in crp
        if delivered is None or m.at is None or not (0 <= days(m.at - delivered) < config.postpartum_crp_days)
    ]
    if coded or (fever and (crp or wbc)):
        ev.fire(
            "R1", coded + fever + [m.evidence for m in crp] + wbc, "Infection: fever with raised inflammatory markers"
        )
        return "critical"
    if fever or crp_alone:
        ev.fire("R1", fever + crp_alone, "Fever or raised CRP")
        return "warning"
    return None


def _infection_summary(flag: Flag) -> str:
    if flag.indicator == "critical":
        return "Hip pain with fever or raised inflammatory markers: exclude septic arthritis or osteomyelitis now."
    return "Hip pain with fever or a raised CRP: exclude infection before attributing it to TOH."


def _fracture_summary(flag: Flag) -> str:
    if not flag.certain:
        return "A report says a hip fracture is possible: review it; non-weight-bearing until excluded."
    return "Hip fracture in pregnancy or postpartum: strict non-weight-bearing, urgent orthopaedic review."


def _avn_summary(flag: Flag) -> str:
    if not flag.certain:
        return "A report says avascular necrosis is possible: review it with the radiologist before calling it TOH."
    return "Findings suggest avascular necrosis of the femoral head, not TOH: refer to orthopaedics."


def _trauma_summary(flag: Flag) -> str:
    if flag.after_onset:
        return "Injury during weeks of hip pain: exclude a fracture; TOH remains the underlying differential."
    return "Hip pain after recent trauma: follow the trauma pathway and exclude a fracture."


# Red flag rule -> its card's summary. One entry per red flag of the registry (`registry.problems()` checks).
SUMMARIES: dict[str, Callable[[Flag], str]] = {
    "R1": _infection_summary,
    "R2": _fracture_summary,
    "R3": _avn_summary,
    "R4": lambda flag: (
        "Hip pain with a known malignancy: MRI of pelvis and both hips now; protect the hip; oncology review."
    ),
    "R5": _trauma_summary,
    "R7": lambda flag: "Deep vein thrombosis or pulmonary embolism recorded: treat the VTE first; not a TOH card.",
}


_REVIEW = {
    "R2": f"possible fracture: review the report; non-weight-bearing until a fracture is excluded; {advice.VTE_RISK}",
    "R3": "possible avascular necrosis: review it with the radiologist",
}


def review_note(ev: Evaluation, flag: Flag) -> str:
    """What a hedged red flag puts first on the TOH card it does not replace: "MRI reported <date>: review" (2.8)."""
    fired = next(hit for hit in ev.hits if hit.rule == flag.rule)
    dated = sorted({e.date.date().isoformat() for e in fired.evidence if e.date is not None})
    return f"Imaging reported {', '.join(dated) if dated else 'undated'}: {_REVIEW[flag.rule]}."


def red_flag_outcome(ev: Evaluation, flag: Flag, pains: list[Pain]) -> Outcome:
    hits = ev.hits_of(flag.rule, *PHASE_RULES, "T1")
    fired = next(hit for hit in ev.hits if hit.rule == flag.rule)
    pain_evidence: list[Evidence] = [p.evidence for p in pains]
    reasons = ev.reasons(
        [ev.phase_line()],
        [ev.reason(e) for e in fired.evidence],
        [ev.reason(e) for e in ev.ordered(pain_evidence)],
    )
    # R1's advice follows its grade; R2's follows whether the report is certain.
    critical = flag.indicator == "critical" if flag.rule == "R1" else flag.certain
    recommendations = advice.red_flag(flag.rule, ev.phase, after_onset=flag.after_onset, critical=critical)
    notes = ("Not read as certain: the report hedges (for example 'cannot be excluded').",) if not flag.certain else ()
    return Outcome(RED_FLAG_CARDS[flag.rule], flag.indicator, SUMMARIES[flag.rule](flag), hits, recommendations, notes=notes, reasons=reasons)  # fmt: skip
