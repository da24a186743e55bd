"""Order rules for order-select and order-sign: what a draft order means for this patient.

Card C (`imaging-safety`): ionising hip or pelvis imaging (X-ray, CT, DXA) or MRI with gadolinium drafted for a
pregnant patient with hip or groin pain; MRI without contrast is preferred, never a hard stop. Card D
(`antiresorptive-caution`): a bisphosphonate, denosumab or other bone agent drafted in pregnancy or lactation;
critical for denosumab in pregnancy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from service.screening import advice
from service.screening.assessment import Assessment, Indicator, Outcome, ProposedOrder, Recommendation, RuleHit
from service.screening.context import Evidence, PatientContext
from service.screening.fhir import codings, reference_of
from service.screening.medications import recognise
from service.screening.registry import RULES, Topic
from service.screening.rules import MRI_HIP, MRI_PELVIS_AND_HIPS
from service.screening.valuesets import value_set

__all__ = ["order_outcomes"]

MRI_PELVIS = ProposedOrder("30673-8", "MR Pelvis WO contrast")
_IONISING_STUDIES = (("radiograph_study", "X-ray"), ("ct_study", "CT"), ("dxa_study", "DXA"))
_BONE_AGENTS = {"denosumab": "Denosumab", "bisphosphonate": "Bisphosphonate", "other_bone_agent": "Bone agent"}
_PELVIS_CODES = {"72196", "72197"}


def _imaging(order: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(kind, label, code) of imaging that needs a safety card in pregnancy; kind "ionising" or "gadolinium"."""
    code = order.get("code")
    gadolinium = value_set("mri_with_contrast").matches(code)
    if gadolinium:
        return "gadolinium", "MRI with contrast", gadolinium[1]
    for name, label in _IONISING_STUDIES:
        match = value_set(name).matches(code)
        if match:
            return "ionising", label, match[1]
    pairs = list(codings(code)) + list(codings(order.get("modality")))
    if value_set("ionising_modality").any_in(pairs):
        return "ionising", "Ionising imaging", next((c for _, c in pairs), "")
    return None


def _imaging_safety(context: PatientContext, assessment: Assessment, order: Mapping[str, Any]) -> Outcome | None:
    reference = reference_of(order)
    found = _imaging(order)
    # Card C needs a hip or groin complaint (T), as clinical.md 2.6 and 2.7 say.
    triggers = [hit for hit in assessment.hits if hit.rule in ("T1", "T3")]
    if reference is None or found is None or not context.pregnant or not triggers:
        return None
    kind, what, code = found
    bilateral = any(hit.rule == "S7" for hit in assessment.hits)
    pains = tuple(
        dict.fromkeys(e.reference for hit in triggers for e in hit.evidence if e.reference.startswith("Condition/"))
    )
    recommendations: tuple[Recommendation, ...]
    if kind == "gadolinium":
        pelvis = any(code in _PELVIS_CODES for _, code in codings(order.get("code")))
        template = MRI_PELVIS if pelvis else (MRI_PELVIS_AND_HIPS if bilateral else MRI_HIP)
        summary = "Avoid gadolinium in pregnancy unless essential: the same MRI without contrast is suggested."
        recommendations, label = advice.GADOLINIUM, "MRI with gadolinium ordered in pregnancy"
    else:
        template = MRI_PELVIS_AND_HIPS if bilateral else MRI_HIP
        summary = "MRI without contrast is preferred in pregnancy and detects TOH earlier; X-ray is not forbidden."
        recommendations, label = advice.IMAGING_SAFETY, "Ionising imaging ordered in pregnancy"
    hits = (
        RuleHit("C", label, (Evidence(reference, f"{what} order ({code})"),), RULES["C"].sources),
        *(hit for hit in assessment.hits if hit.rule in ("P1", "T1", "T3")),
    )
    reasons = (f"Pregnant; {what} drafted", *(e.plain for hit in triggers for e in hit.evidence if e.plain))
    mri = ProposedOrder(template.loinc, template.display, replaces=reference, reasons=pains)
    return Outcome(Topic.IMAGING_SAFETY, "info", summary, hits, recommendations, orders=(mri,), reasons=reasons[:4])


def _antiresorptive(
    context: PatientContext, assessment: Assessment, order: Mapping[str, Any], medications: Mapping[str, Any]
) -> Outcome | None:
    reference = reference_of(order)
    if reference is None or order.get("resourceType") != "MedicationRequest":
        return None
    pregnant = any(hit.rule == "P1" for hit in assessment.hits)
    breastfeeding = any(hit.rule == "P3" for hit in assessment.hits)
    match = recognise(order, _BONE_AGENTS, medications)
    if match is None or not (pregnant or breastfeeding):
        return None
    label = _BONE_AGENTS[match.drug_class]
    state = "pregnancy" if pregnant else "breastfeeding"
    indicator: Indicator = "critical" if match.drug_class == "denosumab" and pregnant else "warning"
    population = tuple(hit for hit in assessment.hits if hit.rule in ("P1", "P3"))
    how = f"name '{match.name}'" if match.by_name else match.code
    order_hit = RuleHit(
        "D", f"{label} ordered during {state}", (Evidence(reference, f"{label} order ({how})"),), RULES["D"].sources
    )
    notes: list[str] = []
    if match.by_name:
        notes.append(f"Recognised by its name ('{match.name}'): the order carries no code we know.")
    if any(topic in (Topic.TOH_CONSIDER, Topic.TOH_CONSISTENT) for topic in assessment.topics):
        notes.append("Transient osteoporosis of the hip is self-limited (6-12 months): antiresorptives are not needed.")
    if indicator == "critical":
        summary = "Denosumab is contraindicated in pregnancy: do not sign this order."
    else:
        summary = f"{label} during {state} is not recommended: bone loss recovers after delivery and weaning."
    reasons = (f"{'Pregnant' if pregnant else 'Breastfeeding'}; {label.lower()} drafted",)
    return Outcome(
        Topic.ANTIRESORPTIVE_CAUTION, indicator, summary, (order_hit, *population), advice.ANTIRESORPTIVE,
        notes=tuple(notes), withdrawals=(reference,), reasons=reasons,
    )  # fmt: skip


def order_outcomes(context: PatientContext, assessment: Assessment, draft_orders: Iterable[Any]) -> tuple[Outcome, ...]:
    """Outcomes of the draft orders of an ordering session, one per order that needs a card."""
    if context.sex != "female":
        return ()  # P0: obstetric cards only for women, whatever else the record says
    orders = [order for order in draft_orders if isinstance(order, Mapping)]
    medications: dict[str, Any] = dict(context.medications)
    for order in orders:
        if order.get("resourceType") == "Medication" and (reference := reference_of(order)) is not None:
            medications[reference] = order
    outcomes: list[Outcome] = []
    for order in orders:
        for outcome in (
            _imaging_safety(context, assessment, order),
            _antiresorptive(context, assessment, order, medications),
        ):
            if outcome is not None:
                outcomes.append(outcome)
    return tuple(outcomes)
