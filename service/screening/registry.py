"""One home per rule and per card type (clinical.md sections 2 and 2.7).

A rule declares its label, the value sets it reads and its sources; a card type its display and override reasons.
`problems()` checks them against the value sets (valuesets.toml), the citations and each other, and importing this
module fails when it finds one: a rule that names a value set that does not exist would otherwise never fire, and a
topic without a card type would raise KeyError when a card is rendered. Value sets that no rule reads are reported
too (dead weight, or a rule that was never wired).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from service.screening.advice import XRAY_APPROPRIATE
from service.screening.assessment import Recommendation
from service.screening.citations import CITATIONS
from service.screening.valuesets import value_set_names

__all__ = [
    "CARD_TYPES",
    "CONTEXT_VALUE_SETS",
    "ORDER_HOOK_TOPICS",
    "OVERRIDE_REASONS",
    "RED_FLAG_CARDS",
    "RULES",
    "SUPPRESSIONS",
    "CardType",
    "Rule",
    "Suppression",
    "Topic",
    "problems",
    "silenced_by",
]


class Topic(StrEnum):
    """The card-type code system `urn:toh-cds:card-type` (mission.md)."""

    TOH_CONSIDER = "toh-consider"
    TOH_CONSISTENT = "toh-consistent"
    IMAGING_SAFETY = "imaging-safety"
    ANTIRESORPTIVE_CAUTION = "antiresorptive-caution"
    RED_FLAG_INFECTION = "red-flag-infection"
    RED_FLAG_FRACTURE = "red-flag-fracture"
    RED_FLAG_AVN = "red-flag-avn"
    RED_FLAG_NEOPLASM = "red-flag-neoplasm"
    RED_FLAG_TRAUMA = "red-flag-trauma"
    RED_FLAG_VTE = "red-flag-vte"
    DXA_INTERPRETATION = "dxa-interpretation"
    PLO_CONSIDER = "plo-consider"


OVERRIDE_REASONS = {
    "already-imaged": "MRI already done or scheduled",
    "not-hip-pain": "Pain is not from the hip",
    "alternative-diagnosis": "Another diagnosis explains the findings",
    "already-addressed": "Already addressed",
    "patient-declined": "Patient declined",
    "clinically-necessary": "Clinically necessary despite the caution",
    "specialist-decision": "Specialist decision",
}


@dataclass(frozen=True)
class CardType:
    display: str
    overrides: tuple[str, ...]


_RED_FLAG_OVERRIDES = ("already-addressed", "alternative-diagnosis")
CARD_TYPES: dict[Topic, CardType] = {
    Topic.TOH_CONSIDER: CardType(
        "Consider transient osteoporosis of the hip",
        ("already-imaged", "not-hip-pain", "alternative-diagnosis", "patient-declined"),
    ),
    Topic.TOH_CONSISTENT: CardType(
        "Findings consistent with transient osteoporosis of the hip", ("already-addressed", "alternative-diagnosis")
    ),
    Topic.IMAGING_SAFETY: CardType(
        "Imaging safety in pregnancy: MRI preferred", ("clinically-necessary", "already-imaged", "patient-declined")
    ),
    Topic.ANTIRESORPTIVE_CAUTION: CardType(
        "Antiresorptive in pregnancy or lactation", ("specialist-decision", "clinically-necessary")
    ),
    Topic.RED_FLAG_INFECTION: CardType("Red flag: infection", _RED_FLAG_OVERRIDES),
    Topic.RED_FLAG_FRACTURE: CardType("Red flag: fracture", _RED_FLAG_OVERRIDES),
    Topic.RED_FLAG_AVN: CardType("Red flag: avascular necrosis", _RED_FLAG_OVERRIDES),
    Topic.RED_FLAG_NEOPLASM: CardType("Red flag: neoplasm", _RED_FLAG_OVERRIDES),
    Topic.RED_FLAG_TRAUMA: CardType("Red flag: trauma", _RED_FLAG_OVERRIDES),
    Topic.RED_FLAG_VTE: CardType("Red flag: venous thromboembolism", _RED_FLAG_OVERRIDES),
    Topic.DXA_INTERPRETATION: CardType("DXA interpretation before menopause", ("already-addressed",)),
    Topic.PLO_CONSIDER: CardType(
        "Consider pregnancy- or lactation-associated osteoporosis",
        ("already-addressed", "alternative-diagnosis", "patient-declined"),
    ),
}


@dataclass(frozen=True)
class Rule:
    id: str
    label: str  # for the evidence trail; a rule may say more when it fires ("Pregnant, 33+0 weeks")
    value_sets: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    card: Topic | None = None  # the card a red flag or an order rule gives


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule("P0", "Female"),
        Rule("P1", "Pregnant", ("pregnancy_condition", "pregnancy_status", "pregnant_answer", "not_pregnant_answer",
                                "estimated_delivery_date", "gestational_age_weeks", "gestational_age_days")),
        Rule("P2", "Postpartum", ("delivery_date", "delivery_procedure", "postpartum_condition")),
        Rule("P3", "Breastfeeding", ("lactation",)),
        Rule("P4", "Age within the screened range"),
        Rule("T1", "New hip, groin or thigh pain", ("hip_pain", "groin_pain", "lower_limb_pain", "hip_body_site",
                                             "lower_abdominal_pain", "groin_body_site", "toh_diagnosis")),
        Rule("T2", "Onset in pregnancy or the postpartum window"),
        Rule("T3", "Pelvic or lower abdominal pain only: may be referred from the hip", ("pelvic_pain",)),
        Rule("S1", "Third trimester or early postpartum at onset", (), ("asadipooya2017",)),
        Rule("S2", "Severe or mechanical pain, limp or stiffness", ("pain_score", "gait_or_stiffness")),
        Rule("S3", "Decreased bone density on imaging", ("osteopenia",), ("radiopaedia",)),
        Rule("S4", "Bone-marrow oedema of the femoral head or neck on MRI", ("bone_marrow_oedema", "hip_effusion"),
             ("asadipooya2017", "vassalou2019")),
        Rule("S5", "Inflammatory markers normal", ("crp", "wbc"), ("radiolmed1995",)),
        Rule("S6", "Risk factors for pregnancy-associated bone loss",
             ("heparin", "systemic_glucocorticoid", "smoker", "vitamin_d_deficiency", "family_history_osteoporosis",
              "multiple_pregnancy", "vitamin_d", "bmi"), ("carsote2023",)),
        Rule("S7", "Bilateral or sequential hip involvement", ("left", "right", "bilateral"), ("thanasa2024",)),
        Rule("S8", "Low bone density on DXA (Z-score)", (), ("iscd2005",)),
        Rule("S9", "Earlier transient osteoporosis of the hip: recurrence is reported", ("toh_diagnosis",),
             ("asadipooya2017",)),
        Rule("R1", "Infection: fever or raised inflammatory markers",
             ("fever", "bone_or_joint_infection", "crp", "wbc", "body_temperature"), ("radiolmed1995",),
             Topic.RED_FLAG_INFECTION),
        Rule("R2", "Femoral neck, subcapital or intertrochanteric fracture",
             ("femoral_fracture", "fracture_needing_site", "mri_study", "radiograph_study", "ct_study"),
             ("wright2021",), Topic.RED_FLAG_FRACTURE),
        Rule("R3", "Avascular necrosis pattern", ("avascular_necrosis",), ("asadipooya2017", "radiopaedia"),
             Topic.RED_FLAG_AVN),
        Rule("R4", "Malignancy or metastatic disease", ("bone_neoplasm", "malignant_neoplasm"), ("radiolmed1995",),
             Topic.RED_FLAG_NEOPLASM),
        Rule("R5", "Trauma before or since the pain began", ("trauma",), ("asadipooya2017",), Topic.RED_FLAG_TRAUMA),
        Rule("R7", "Deep vein thrombosis or pulmonary embolism", ("venous_thromboembolism",), ("rcog37a",),
             Topic.RED_FLAG_VTE),
        Rule("R6", "Pain explained by symphysis dysfunction or meralgia paresthetica",
             ("symphysis_dysfunction", "meralgia_paresthetica")),
        Rule("F", "DXA result in a premenopausal or postpartum woman", (), ("iscd2005",), Topic.DXA_INTERPRETATION),
        Rule("G", "Fragility fracture, or back pain with a low Z-score, in pregnancy or lactation",
             ("fragility_fracture", "back_pain"), ("kovacs_ralston2015",), Topic.PLO_CONSIDER),
        Rule("C", "Ionising imaging or gadolinium ordered in pregnancy",
             ("radiograph_study", "ct_study", "dxa_study", "mri_with_contrast", "ionising_modality"), ("acog723",),
             Topic.IMAGING_SAFETY),
        Rule("D", "Bone agent ordered or taken in pregnancy or after delivery", ("bisphosphonate", "denosumab", "other_bone_agent"),
             (), Topic.ANTIRESORPTIVE_CAUTION),
        Rule("resolved", "Resolved", ("toh_diagnosis", "pain_score")),
    )
}  # fmt: skip
# Red flag rule -> the card that replaces the TOH card (an override never silences one).
RED_FLAG_CARDS = {rule.id: rule.card for rule in RULES.values() if rule.id.startswith("R") and rule.card is not None}


@dataclass(frozen=True)
class Suppression:
    """Cards shown together must not contradict each other (clinical.md 2.8, "One coherent set of cards"): while a
    card of topic `by` is shown, a card of topic `target` is dropped (`what` "card") or loses its MRI suggestion
    (`what` "mri-suggestion"), saying `summary` and `advice` instead where given."""

    by: Topic
    target: Topic
    what: Literal["card", "mri-suggestion"]
    why: str
    summary: str | None = None
    advice: tuple[Recommendation, ...] = ()


_XRAY_FIRST = "the drafted X-ray is the right first test: ACOG 723 says not to withhold it when needed"
_XRAY_SUMMARY = "The drafted X-ray is appropriate here: with a fracture or after trauma, do not delay it for an MRI."
SUPPRESSIONS: tuple[Suppression, ...] = (
    *(
        Suppression(flag, toh, "card", "a red flag replaces the TOH card")
        for flag in RED_FLAG_CARDS.values()
        for toh in (Topic.TOH_CONSIDER, Topic.TOH_CONSISTENT)
    ),
    Suppression(Topic.RED_FLAG_FRACTURE, Topic.IMAGING_SAFETY, "mri-suggestion", _XRAY_FIRST, _XRAY_SUMMARY, XRAY_APPROPRIATE),
    Suppression(Topic.RED_FLAG_TRAUMA, Topic.IMAGING_SAFETY, "mri-suggestion", _XRAY_FIRST, _XRAY_SUMMARY, XRAY_APPROPRIATE),
    Suppression(Topic.PLO_CONSIDER, Topic.DXA_INTERPRETATION, "card", "a Z-score of -2.0 or less is not expected in lactation"),
)  # fmt: skip
# What an order hook shows (clinical.md 2.8): the cards about the drafted orders, and red flags; the patient's TOH
# card is for patient-view.
ORDER_HOOK_TOPICS = frozenset({Topic.IMAGING_SAFETY, Topic.ANTIRESORPTIVE_CAUTION, *RED_FLAG_CARDS.values()})
# Value sets the patient context reads for facts no single rule owns (labs shown on cards, modality of a study).
CONTEXT_VALUE_SETS = ("esr", "calcium", "phosphate", "mri_study")


def silenced_by(topic: str, indicator: str, reason: str) -> bool:
    """Whether an override with `reason` silences this card for the same data (clinical.md 2.7 and 2.8, "Snoozing"):
    any reason silences an ordinary card; a red flag or a critical card only "already-addressed", so that a managed
    fracture does not fire critical at every chart open, while new data (a new uuid) shows it again."""
    grave = indicator == "critical" or topic in RED_FLAG_CARDS.values()
    return reason == "already-addressed" or not grave


def problems(
    rules: Mapping[str, Rule] = RULES,
    card_types: Mapping[Topic, CardType] = CARD_TYPES,
    value_sets: frozenset[str] | None = None,
    *,
    wiring: bool = True,
) -> list[str]:
    """Everything that would make a rule fail silently or a card fail to render: in the declarations here and, with
    `wiring`, in the rules' code (wiring.py: value sets no reader reads, findings without labels, red flags without
    a summary or advice). The engine runs both when it is imported."""
    known = value_set_names() if value_sets is None else value_sets
    found: list[str] = []
    for rule in rules.values():
        found += [f"rule {rule.id}: no value set {name!r}" for name in rule.value_sets if name not in known]
        found += [f"rule {rule.id}: no source {key!r}" for key in rule.sources if key not in CITATIONS]
        if rule.card is not None and rule.card not in card_types:
            found.append(f"rule {rule.id}: no card type {rule.card!r}")
    found += [f"topic {topic}: no card type" for topic in Topic if topic not in card_types]
    found += [f"suppression {s.by} -> {s.target}: a card suppresses itself" for s in SUPPRESSIONS if s.by == s.target]
    for topic, card_type in card_types.items():
        found += [f"topic {topic}: no override reason {code!r}" for code in card_type.overrides if code not in OVERRIDE_REASONS]  # fmt: skip
    read = {name for rule in rules.values() for name in rule.value_sets} | set(CONTEXT_VALUE_SETS)
    found += [f"value set {name!r}: no rule reads it" for name in sorted(known - read)]
    if wiring:
        from service.screening.wiring import wiring_problems  # imports the rule families, which import this module

        found += wiring_problems(rules)
    return found


_found = problems(wiring=False)  # the declarations alone: the rules' code imports this module
if _found:
    raise RuntimeError("the screening rules are inconsistent: " + "; ".join(_found))
