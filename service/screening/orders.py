"""Order rules for order-select and order-sign: what a draft order means for this patient.

Card C (`imaging-safety`): ionising hip or pelvis imaging drafted for a pregnant patient; MRI is preferred, never
a hard stop. Card D (`antiresorptive-caution`): a bisphosphonate, denosumab or other bone agent drafted in
pregnancy or lactation; critical for denosumab in pregnancy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from service.screening.assessment import Assessment, Indicator, Outcome, ProposedOrder, Recommendation, RuleHit
from service.screening.context import Evidence, PatientContext, medication_concept
from service.screening.fhir import codings, reference_of
from service.screening.rules import MRI_HIP, MRI_PELVIS_AND_HIPS
from service.screening.valuesets import value_set

__all__ = ["order_outcomes"]

IMAGING_SAFETY = (
    Recommendation(
        "MRI without contrast is the preferred first test in pregnancy and detects TOH earlier. If radiography is "
        "clinically necessary it should not be withheld: its dose is far below harmful levels.",
        ("acog723", "asadipooya2017"),
    ),
)
ANTIRESORPTIVE = (
    Recommendation(
        "Not indicated: TOH and pregnancy- or lactation-associated bone loss recover after delivery and weaning. "
        "Denosumab is contraindicated in pregnancy. Bisphosphonates are not recommended in pregnancy and are "
        "retained in bone for years. Specialist decision only, after weaning.",
        ("kovacs2025", "prolia", "thanasa2024"),
    ),
)
_IONISING_STUDIES = ("radiograph_study", "ct_study", "dxa_study")
_BONE_AGENTS = (("denosumab", "Denosumab"), ("bisphosphonate", "Bisphosphonate"), ("other_bone_agent", "Bone agent"))


def _ionising(order: Mapping[str, Any]) -> tuple[str, bool] | None:
    """(description, hip-specific) of an ionising imaging order, else None."""
    code = order.get("code")
    for name in _IONISING_STUDIES:
        match = value_set(name).matches(code)
        if match:
            return f"{name.split('_')[0].upper()} order ({match[1]})", True
    pairs = list(codings(code)) + list(codings(order.get("modality")))
    if value_set("ionising_modality").any_in(pairs):
        return "Ionising imaging order", False
    return None


def _imaging_safety(context: PatientContext, assessment: Assessment, order: Mapping[str, Any]) -> Outcome | None:
    reference = reference_of(order)
    found = _ionising(order)
    if reference is None or found is None or not context.pregnant:
        return None
    described, hip_specific = found
    has_trigger = any(hit.rule in ("T1", "T3") for hit in assessment.hits)
    if not (hip_specific or has_trigger):
        return None
    bilateral = any(hit.rule == "S7" for hit in assessment.hits)
    template = MRI_PELVIS_AND_HIPS if bilateral else MRI_HIP
    hits = (
        RuleHit("C", "Ionising imaging ordered in pregnancy", (Evidence(reference, described),), ("acog723",)),
        *(hit for hit in assessment.hits if hit.rule in ("P1", "T1", "T3")),
    )
    summary = "MRI without contrast is preferred in pregnancy and detects TOH earlier; radiography is not forbidden."
    mri = ProposedOrder(template.loinc, template.display, replaces=reference)
    return Outcome("imaging-safety", "info", summary, hits, IMAGING_SAFETY, orders=(mri,))


def _antiresorptive(context: PatientContext, assessment: Assessment, order: Mapping[str, Any]) -> Outcome | None:
    reference = reference_of(order)
    if reference is None or order.get("resourceType") != "MedicationRequest":
        return None
    concept = medication_concept(order)
    agent = next(((name, label) for name, label in _BONE_AGENTS if value_set(name).matches(concept)), None)
    if agent is None or not (context.pregnant or context.lactating):
        return None
    name, label = agent
    match = value_set(name).matches(concept)
    state = "pregnancy" if context.pregnant else "breastfeeding"
    indicator: Indicator = "critical" if name == "denosumab" and context.pregnant else "warning"
    population = tuple(hit for hit in assessment.hits if hit.rule in ("P1", "P3"))
    order_hit = RuleHit(
        "D", f"{label} ordered during {state}", (Evidence(reference, f"{label} order ({match[1] if match else ''})"),)
    )
    notes: tuple[str, ...] = ()
    if any(topic in ("toh-consider", "toh-consistent") for topic in assessment.topics):
        notes = ("Transient osteoporosis of the hip is self-limited (6-12 months): antiresorptives are not needed.",)
    if indicator == "critical":
        summary = "Denosumab is contraindicated in pregnancy: do not sign this order."
    else:
        summary = f"{label} during {state} is not recommended: bone loss recovers after delivery and weaning."
    return Outcome(
        "antiresorptive-caution", indicator, summary, (order_hit, *population), ANTIRESORPTIVE, notes=notes,
        withdrawals=(reference,),
    )  # fmt: skip


def order_outcomes(context: PatientContext, assessment: Assessment, draft_orders: Iterable[Any]) -> tuple[Outcome, ...]:
    """Outcomes of the draft orders of an ordering session, one per order that needs a card."""
    outcomes: list[Outcome] = []
    if context.sex != "female":
        return ()  # P0: obstetric cards only for women, whatever else the record says
    for order in draft_orders:
        if not isinstance(order, Mapping):
            continue
        for rule in (_imaging_safety, _antiresorptive):
            outcome = rule(context, assessment, order)
            if outcome is not None:
                outcomes.append(outcome)
    return tuple(outcomes)
