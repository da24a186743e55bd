"""Order and medication rules: what a draft order, or a bone agent she already takes, means for this patient.

Card C (`imaging-safety`): ionising hip or pelvis imaging (X-ray, CT, DXA) or MRI with gadolinium drafted for a
pregnant patient with hip or groin pain; MRI without contrast is preferred, never a hard stop. Card D
(`antiresorptive-caution`): a bisphosphonate, denosumab or other bone agent drafted, or active, in pregnancy or after
delivery; critical for denosumab in pregnancy; its text names the drug's own concern (clinical.md 2.8).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from service.screening import advice
from service.screening.advice import BoneDrug
from service.screening.assessment import Assessment, Indicator, Outcome, Recommendation, RuleHit
from service.screening.config import ScreeningConfig
from service.screening.context import BONE_AGENTS, Evidence, PatientContext
from service.screening.fhir import codings, reference_of
from service.screening.medications import DrugMatch, recognise
from service.screening.mri import mri_order
from service.screening.registry import RULES, Topic
from service.screening.valuesets import value_set

__all__ = ["READ_VALUE_SETS", "active_agent_outcomes", "bone_drug", "order_outcomes"]

_IONISING_STUDIES = (("radiograph_study", "X-ray"), ("ct_study", "CT"), ("dxa_study", "DXA"))
# The value sets the order rules read (registry.problems() checks the rules' against these and the context's).
READ_VALUE_SETS = frozenset(
    {"mri_with_contrast", "ionising_modality", *(name for name, _ in _IONISING_STUDIES), *BONE_AGENTS}
)
# Card D's drug-specific line: the drug of an "other bone agent", by ATC code or by name.
_OTHER_AGENTS: dict[str, BoneDrug] = {
    "M05BX06": "romosozumab", "H05AA02": "teriparatide", "H05AA04": "abaloparatide",
    "romosozumab": "romosozumab", "evenity": "romosozumab", "teriparatide": "teriparatide", "forteo": "teriparatide",
    "forsteo": "teriparatide", "abaloparatide": "abaloparatide", "tymlos": "abaloparatide",
}  # fmt: skip


def bone_drug(match: DrugMatch) -> BoneDrug:
    if match.drug_class == "bisphosphonate":
        return "bisphosphonate"
    if match.drug_class == "denosumab":
        return "denosumab"
    key = match.code.replace(".", "").upper() if match.code else (match.name or "").lower()
    return _OTHER_AGENTS.get(key, "other")


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


def _imaging_safety(
    context: PatientContext, assessment: Assessment, order: Mapping[str, Any], config: ScreeningConfig
) -> Outcome | None:
    reference = reference_of(order)
    found = _imaging(order)
    # Card C needs a hip or groin complaint (T), as clinical.md 2.6 and 2.7 say.
    triggers = [hit for hit in assessment.hits if hit.rule in ("T1", "T3")]
    if reference is None or found is None or not context.pregnant or not triggers:
        return None
    kind, what, code = found
    pains = tuple(
        dict.fromkeys(e.reference for hit in triggers for e in hit.evidence if e.reference.startswith("Condition/"))
    )
    recommendations: tuple[Recommendation, ...]
    if kind == "gadolinium":
        summary = "Avoid gadolinium in pregnancy unless essential: the same MRI without contrast is suggested."
        recommendations, label = advice.GADOLINIUM, "MRI with gadolinium ordered in pregnancy"
    else:
        summary = f"MRI without contrast is preferred in pregnancy and detects TOH earlier; {'a CT' if what == 'CT' else 'an X-ray'} is not forbidden."  # fmt: skip
        recommendations, label = advice.IMAGING_SAFETY, "Ionising imaging ordered in pregnancy"
    hits = (
        RuleHit("C", label, (Evidence(reference, f"{what} order ({code})"),), RULES["C"].sources),
        *(hit for hit in assessment.hits if hit.rule in ("P1", "T1", "T3")),
    )
    reasons = (f"Pregnant; {what} drafted", *(e.plain for hit in triggers for e in hit.evidence if e.plain))
    mri = mri_order(config, "pregnancy", pains, replaces=reference)
    return Outcome(Topic.IMAGING_SAFETY, "info", summary, hits, recommendations, orders=(mri,), reasons=reasons[:4])


def _states(assessment: Assessment) -> tuple[bool, bool, bool]:
    fired = set(assessment.fired)
    return "P1" in fired, "P2" in fired, "P3" in fired


_DRUG_NAMES = {"romosozumab": "Romosozumab", "teriparatide": "Teriparatide", "abaloparatide": "Abaloparatide"}


def _bone_agent_card(
    assessment: Assessment, match: DrugMatch, evidence: Evidence, *, drafted: bool, breastfeeding_unknown: bool
) -> Outcome | None:
    pregnant, postpartum, breastfeeding = _states(assessment)
    if not (pregnant or breastfeeding or (postpartum and not drafted)):
        return None
    drug = bone_drug(match)
    label = _DRUG_NAMES.get(drug, BONE_AGENTS[match.drug_class])
    unsure = breastfeeding and breastfeeding_unknown and not pregnant  # breastfeeding last recorded long ago
    state = "pregnancy" if pregnant else ("breastfeeding" if breastfeeding else "the year after delivery")
    indicator: Indicator = "critical" if match.drug_class == "denosumab" and pregnant else "warning"
    population = tuple(hit for hit in assessment.hits if hit.rule in ("P1", "P2", "P3"))
    verb = "ordered" if drafted else "taken"
    order_hit = RuleHit("D", f"{label} {verb} during {state}", (evidence,), RULES["D"].sources)
    notes: list[str] = []
    if match.by_name:
        notes.append(f"Recognised by its name ('{match.name}'): the order carries no code we know.")
    if unsure:
        notes.append("Breastfeeding was last recorded over 6 months ago: ask whether she still breastfeeds.")
    if any(topic in (Topic.TOH_CONSIDER, Topic.TOH_CONSISTENT) for topic in assessment.topics):
        notes.append("Transient osteoporosis of the hip is self-limited (6-12 months): antiresorptives are not needed.")
    if indicator == "critical":
        summary = f"Denosumab is contraindicated in pregnancy: {'do not sign this order' if drafted else 'stop it and plan the rebound with a specialist'}."  # fmt: skip
    elif unsure:
        summary = f"{label}, if she still breastfeeds, is not recommended: ask; bone loss recovers after weaning."
    else:
        summary = f"{label} during {state} is not recommended: bone loss recovers after delivery and weaning."
    phase_word = "Pregnant" if pregnant else ("Breastfeeding last recorded over 6 months ago" if unsure else
                                              "Breastfeeding" if breastfeeding else "Postpartum")  # fmt: skip
    since = f" since {evidence.date.date().isoformat()}" if evidence.date and not drafted else ""
    reasons = (f"{phase_word}; {label.lower()} {'drafted' if drafted else 'active'}{since}",)
    withdrawals = (evidence.reference,) if drafted else ()
    return Outcome(
        Topic.ANTIRESORPTIVE_CAUTION, indicator, summary, (order_hit, *population),
        advice.antiresorptive(drug, active=not drafted), notes=tuple(notes), withdrawals=withdrawals, reasons=reasons,
    )  # fmt: skip


def _drafted_agent(
    assessment: Assessment, order: Mapping[str, Any], medications: Mapping[str, Any], breastfeeding_unknown: bool
) -> Outcome | None:
    reference = reference_of(order)
    if reference is None or order.get("resourceType") != "MedicationRequest":
        return None
    match = recognise(order, BONE_AGENTS, medications)
    if match is None:
        return None
    how = f"name '{match.name}'" if match.by_name else match.code
    evidence = Evidence(reference, f"{BONE_AGENTS[match.drug_class]} order ({how})")
    return _bone_agent_card(assessment, match, evidence, drafted=True, breastfeeding_unknown=breastfeeding_unknown)


def active_agent_outcomes(
    context: PatientContext, assessment: Assessment, breastfeeding_unknown: bool = False
) -> tuple[Outcome, ...]:
    """Card D at patient-view for a bone agent that is active, not only drafted (clinical.md 2.8)."""
    outcomes = []
    for resource in context.bone_agent_resources:
        match = recognise(resource, BONE_AGENTS, context.medications)
        reference = reference_of(resource)
        if match is None or reference is None:
            continue
        evidence = next(e for e in context.bone_agents if e.reference == reference)
        outcome = _bone_agent_card(assessment, match, evidence, drafted=False, breastfeeding_unknown=breastfeeding_unknown)  # fmt: skip
        if outcome is not None:
            outcomes.append(outcome)
    return tuple(outcomes[:1])  # one card for the drugs she takes: the first, oldest first


def order_outcomes(
    context: PatientContext,
    assessment: Assessment,
    draft_orders: Iterable[Any],
    config: ScreeningConfig | None = None,
    breastfeeding_unknown: bool = False,
) -> tuple[Outcome, ...]:
    """Outcomes of the draft orders of an ordering session, one per order that needs a card."""
    if context.sex != "female":
        return ()  # P0: obstetric cards only for women, whatever else the record says
    config = config or ScreeningConfig()
    orders = [order for order in draft_orders if isinstance(order, Mapping)]
    medications: dict[str, Any] = dict(context.medications)
    for order in orders:
        if order.get("resourceType") == "Medication" and (reference := reference_of(order)) is not None:
            medications[reference] = order
    outcomes: list[Outcome] = []
    for order in orders:
        for outcome in (
            _imaging_safety(context, assessment, order, config),
            _drafted_agent(assessment, order, medications, breastfeeding_unknown),
        ):
            if outcome is not None:
                outcomes.append(outcome)
    return tuple(outcomes)
