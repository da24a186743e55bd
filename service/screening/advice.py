"""What each card recommends, in the order a clinician acts, for the patient's phase (clinical.md 2.7 and 2.8, "Card
text"): at most five recommendations, plain words, no rule ids. Pregnancy: paracetamol first and no NSAIDs from 20
weeks, delivery planning only where a fracture is possible; after delivery: breastfeeding-compatible analgesia and no
delivery planning. Where breastfeeding is only known from an old entry, the text says "if still breastfeeding"."""

from __future__ import annotations

from typing import Literal

from service.screening.assessment import Recommendation as R

__all__ = [
    "DXA_ADVICE",
    "DXA_LOW_ADVICE",
    "GADOLINIUM",
    "IMAGING_SAFETY",
    "RED_FLAG_ADVICE",
    "VTE_RISK",
    "XRAY_APPROPRIATE",
    "BoneDrug",
    "Phase",
    "analgesia",
    "antiresorptive",
    "plo_consider",
    "red_flag",
    "toh_consider",
    "toh_consistent",
    "toh_localise",
    "toh_unlikely",
]

Phase = Literal["pregnancy", "postpartum", "lactation"]
BoneDrug = Literal["bisphosphonate", "denosumab", "romosozumab", "teriparatide", "abaloparatide", "other"]

_VTE = "reduced mobility raises VTE risk: assess it (RCOG Green-top 37a)"
VTE_RISK = _VTE  # for the rules that word a weight-bearing line of their own
_NO_ANTIRESORPTIVES = R("No antiresorptives in pregnancy or breastfeeding: TOH resolves on its own.", ("kovacs2025",))
_MRI = "MRI of both hips and pelvis without contrast"


def analgesia(phase: Phase, breastfeeding_unknown: bool = False) -> R:
    if phase == "pregnancy":
        return R("Analgesia: paracetamol first; avoid NSAIDs from 20 weeks of pregnancy.", ("fda2020nsaid",))
    if phase == "lactation":
        lead = "If still breastfeeding, analgesia" if breastfeeding_unknown else "Analgesia"
        return R(f"{lead} compatible with breastfeeding: paracetamol; ibuprofen is compatible.")
    return R("Analgesia as needed: paracetamol, ibuprofen.")


def toh_consider(phase: Phase, breastfeeding_unknown: bool = False) -> tuple[R, ...]:
    """Card A: the examination that separates TOH from pelvic girdle pain first, then the MRI."""
    labs = "Bloods: CBC, CRP, ESR, calcium, phosphate, ALP, 25-OH vitamin D, PTH, creatinine"
    return (
        R("Examine: pain on weight bearing, painful or restricted hip rotation and a limp point to the hip, not the "
          "pelvic girdle."),
        R(f"{_MRI}: oedema shows within days, X-rays stay normal for 4-8 weeks.", ("acog723", "asadipooya2017")),
        R(f"Crutches until imaging; {_VTE}.", ("galanis2023", "rcog37a")),
        R(f"{labs} (ALP rises normally late in pregnancy)." if phase == "pregnancy" else f"{labs}."),
        analgesia(phase, breastfeeding_unknown),
    )  # fmt: skip


def toh_unlikely(named: str, phase: Phase, breastfeeding_unknown: bool = False) -> tuple[R, ...]:
    """Card A when symphysis dysfunction or meralgia paresthetica is coded and nothing points at the hip."""
    return (
        R(f"Examine: pain on weight bearing, painful or restricted hip rotation or a limp point to the hip; pain "
          f"that fits {named} does not."),
        R(f"Only if it is the hip: {_MRI}, and crutches until then; {_VTE}.", ("acog723", "rcog37a")),
        analgesia(phase, breastfeeding_unknown),
    )  # fmt: skip


def toh_localise() -> tuple[R, ...]:
    """Pelvic or lower abdominal pain only (the low-confidence variant): first find out where the pain is."""
    return (
        R("Ask and examine: is the pain in the hip or groin, worse on weight bearing, with painful hip rotation?"),
        R("Exclude other causes first (appendicitis, urinary infection, labour, symphysis pain)."),
        R(f"If it is the hip: {_MRI}, crutches until then; {_VTE}.", ("acog723", "rcog37a")),
    )


def toh_consistent(phase: Phase, follow_up: bool, breastfeeding_unknown: bool = False) -> tuple[R, ...]:
    """Card B. Fracture risk is stated for confirmed TOH only, and delivery planning only in pregnancy."""
    if follow_up:
        return (
            R("Review pain, walking and the other hip; repeat MRI only if worse or not improving.", ("asadipooya2017",)),
            _NO_ANTIRESORPTIVES,
            R("DXA read by Z-score after weaning, if not yet done." if phase != "pregnancy" else
              "DXA read by Z-score after delivery and weaning.", ("iscd2005",)),
            R("Expected resolution 6-12 months after onset.", ("anzjog1997",)),
        )  # fmt: skip
    care = R(f"Crutches until pain and oedema settle; {_VTE}.", ("asadipooya2017", "rcog37a"))
    risk = R(
        "If TOH is confirmed, about 1 in 8 fractured in one series: review at once if she cannot bear weight.",
        ("archosteoporos2017",),
    )
    if phase == "pregnancy":
        review = R("Obstetric and orthopaedic review: delivery planning; repeat MRI only if not improving.", ("wright2021",))  # fmt: skip
        return (care, analgesia(phase), risk, _NO_ANTIRESORPTIVES, review)
    later = R("Correct vitamin D and calcium; watch the other hip; repeat MRI only if not improving.", ("thanasa2024",))
    return (care, analgesia(phase, breastfeeding_unknown), risk, _NO_ANTIRESORPTIVES, later)


def _infection(phase: Phase, after_onset: bool, critical: bool) -> tuple[R, ...]:
    if critical:
        return (
            R("Urgent: exclude septic arthritis or osteomyelitis: blood cultures, CBC, CRP; ultrasound the hip and "
              "aspirate an effusion now, do not wait for MRI.", ("radiolmed1995", "vassalou2019")),
            R("Urgent orthopaedic review; MRI without contrast when available.", ("asadipooya2017",)),
            R("Urgent obstetric review: fetal monitoring and the source of the fever." if phase == "pregnancy" else
              "Obstetric review for the source of a postpartum fever."),
        )  # fmt: skip
    recs = [
        R("Exclude infection: examine, CBC, CRP, blood cultures if febrile.", ("radiolmed1995",)),
        R("Ultrasound the hip and aspirate an effusion: do not wait for MRI.", ("vassalou2019",)),
    ]
    if phase != "pregnancy":
        recs.append(R("Obstetric review for the source of a postpartum fever."))
    return tuple(recs)


def _fracture(phase: Phase, after_onset: bool, critical: bool) -> tuple[R, ...]:
    if not critical:  # only a hedged report says so
        return (
            R("Read the report with the radiologist: a fracture is not excluded.", ("vassalou2019",)),
            R(f"Non-weight-bearing until a fracture is excluded; {_VTE}.", ("archosteoporos2017", "rcog37a")),
        )
    recs = [
        R(f"Strict non-weight-bearing now; {_VTE}.", ("archosteoporos2017", "rcog37a")),
        R("Urgent orthopaedic review.", ("aldourobi2021",)),
    ]
    if phase == "pregnancy":
        recs.append(R("Urgent obstetric review: plan the delivery with orthopaedics.", ("wright2021",)))
    return tuple(recs)


def _avascular_necrosis(phase: Phase, after_onset: bool, critical: bool) -> tuple[R, ...]:
    return (R("Orthopaedic referral for avascular necrosis (TOH can progress to it).", ("asadipooya2017",)),)


def _neoplasm(phase: Phase, after_onset: bool, critical: bool) -> tuple[R, ...]:
    return (
        R(f"{_MRI} now: it shows a metastasis and TOH alike.", ("radiolmed1995", "acog723")),
        R(f"Protected weight bearing (crutches) until then; {_VTE}.", ("galanis2023", "rcog37a")),
        R("Oncology and obstetric review." if phase == "pregnancy" else "Oncology review."),
    )


def _trauma(phase: Phase, after_onset: bool, critical: bool) -> tuple[R, ...]:
    recs = [R("Exclude a fracture first: do not delay imaging for MRI availability.", ("acog723",))]
    if phase == "pregnancy":
        recs.append(R("Obstetric assessment after trauma: fetal monitoring; anti-D if Rh-negative."))
    if after_onset:
        recs.append(
            R("The hip pain began before the injury: TOH remains the underlying differential.", ("asadipooya2017",))
        )
    return tuple(recs)


def _thromboembolism(phase: Phase, after_onset: bool, critical: bool) -> tuple[R, ...]:
    return (
        R("Thigh or groin pain with a recent DVT or PE is VTE until shown otherwise: assess for a new or extending "
          "clot now (compression ultrasound), with obstetric and haematology care.", ("rcog37a",)),
        R("Reassess the hip once the VTE is managed, if the pain persists."),
    )  # fmt: skip


# Red flag rule -> its card's advice (phase, trauma after onset, critical). One entry per red flag of the registry:
# `registry.problems()` refuses a red flag without one, rather than let it fall through to another flag's advice.
RED_FLAG_ADVICE = {
    "R1": _infection,
    "R2": _fracture,
    "R3": _avascular_necrosis,
    "R4": _neoplasm,
    "R5": _trauma,
    "R7": _thromboembolism,
}


def red_flag(rule: str, phase: Phase, *, after_onset: bool = False, critical: bool = True) -> tuple[R, ...]:
    return RED_FLAG_ADVICE[rule](phase, after_onset, critical)


def plo_consider(phase: Phase, dxa_done: str | None = None) -> tuple[R, ...]:
    if dxa_done:
        dxa = R(f"{dxa_done}: repeat after weaning, read by Z-score.", ("iscd2005",))
    elif phase == "pregnancy":
        dxa = R("DXA of spine and hip after delivery, read by Z-score.", ("iscd2005",))
    else:
        dxa = R("DXA of spine and hip, read by Z-score.", ("iscd2005",))
    recs = [
        dxa,
        R("Bloods: 25-OH vitamin D, PTH, calcium, TSH, coeliac screen.", ("kovacs_ralston2015",)),
        R("Specialist (bone metabolism) review.", ("scioscia2023",)),
        R("Antiresorptives only after weaning, on specialist advice.", ("kovacs2025",)),
    ]
    if phase == "lactation":
        recs.insert(2, R("Discuss weaning: bone recovers after breastfeeding stops.", ("kovacs_ralston2015",)))
    return tuple(recs)


_BONE_DRUG_LINES: dict[BoneDrug, R] = {
    "bisphosphonate": R("Bisphosphonates stay in bone for years: not in pregnancy or breastfeeding.", ("kovacs2014",)),
    "denosumab": R(
        "Denosumab is contraindicated in pregnancy, and stopping it brings rebound bone loss: do not start it now.",
        ("prolia",),
    ),
    "romosozumab": R("Romosozumab is approved only after menopause: not in pregnancy or breastfeeding."),
    "teriparatide": R(
        "Teriparatide is not for pregnancy or breastfeeding; after weaning it is a specialist option in severe PLO.",
        ("kovacs_ralston2015",),
    ),
    "abaloparatide": R("Abaloparatide is approved only after menopause: not in pregnancy or breastfeeding."),
    "other": R("Not for use in pregnancy or breastfeeding."),
}
# What to say of a drug she already takes: stop it, and for denosumab plan the rebound.
_ACTIVE_DRUG_LINES: dict[BoneDrug, R] = {
    "bisphosphonate": R("Stop the bisphosphonate: not for pregnancy or breastfeeding, and it stays in bone for years.",
                        ("kovacs2014",)),
    "denosumab": R("Denosumab is contraindicated in pregnancy: stop it, and plan with a specialist for the rebound "
                   "bone loss that follows stopping.", ("prolia",)),
}  # fmt: skip


def antiresorptive(drug: BoneDrug, *, active: bool = False) -> tuple[R, ...]:
    """Card D, drug by drug (clinical.md 2.8); for a drug she already takes (active), what to do about it now."""
    if active:
        first = _ACTIVE_DRUG_LINES.get(drug) or R(f"{_BONE_DRUG_LINES[drug].text} Stop it.", _BONE_DRUG_LINES[drug].citations)  # fmt: skip
        return (
            first,
            R("Not indicated: bone loss of pregnancy and lactation recovers after delivery and weaning.", ("kovacs2025",)),
            R("Specialist review now: what to stop, and what, if anything, after weaning.", ("thanasa2024",)),
        )  # fmt: skip
    return (
        _BONE_DRUG_LINES[drug],
        R("Not indicated: bone loss of pregnancy and lactation recovers after delivery and weaning.", ("kovacs2025",)),
        R("Specialist decision only, after weaning.", ("thanasa2024",)),
    )


DXA_ADVICE = (
    R("Read the Z-score: before menopause a T-score is not diagnostic; a Z-score of -2.0 or less is below the "
      "expected range.", ("iscd2005",)),
    R("Low BMD in lactation is expected and recovers after weaning: re-measure then.", ("kovacs2025",)),
)  # fmt: skip
DXA_LOW_ADVICE = (
    R("A Z-score of -2.0 or less is below the expected range, in lactation too: not explained by breastfeeding alone.",
      ("iscd2005",)),
    R("Work up bone loss: 25-OH vitamin D, PTH, calcium, TSH, coeliac screen; specialist (bone metabolism) review.",
      ("kovacs_ralston2015",)),
)  # fmt: skip
IMAGING_SAFETY = (
    R("MRI without contrast is the preferred first test in pregnancy and detects TOH earlier.", ("acog723",)),
    R(
        "If an X-ray or CT is clinically needed, do not withhold it: the dose is far below harmful levels.",
        ("acog723",),
    ),
)
XRAY_APPROPRIATE = (
    R("With a fracture or after trauma the drafted X-ray is appropriate: the dose is far below harmful levels; do "
      "not delay it for an MRI.", ("acog723",)),
)  # fmt: skip
GADOLINIUM = (R("Avoid gadolinium in pregnancy unless essential: order the study without contrast.", ("acog723",)),)
