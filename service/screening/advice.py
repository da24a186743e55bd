"""What each card recommends, in the order a clinician acts, for the patient's phase (clinical.md 2.7, "Cards as a
clinician reads them"): at most five recommendations, plain words, no rule ids. Pregnancy: pregnancy-compatible
analgesia and delivery planning; after delivery: breastfeeding-compatible analgesia and no delivery planning."""

from __future__ import annotations

from typing import Literal

from service.screening.assessment import Recommendation as R

__all__ = [
    "ANTIRESORPTIVE",
    "DXA_ADVICE",
    "GADOLINIUM",
    "IMAGING_SAFETY",
    "Phase",
    "plo_consider",
    "red_flag",
    "toh_consider",
    "toh_consistent",
    "toh_localise",
]

Phase = Literal["pregnancy", "postpartum", "lactation"]

_ANALGESIA: dict[Phase, R] = {
    "pregnancy": R("Analgesia compatible with pregnancy (paracetamol first), per obstetric policy."),
    "lactation": R("Analgesia compatible with breastfeeding."),
    "postpartum": R("Analgesia as needed."),
}
_NO_ANTIRESORPTIVES = R("No antiresorptives in pregnancy or breastfeeding: TOH resolves on its own.", ("kovacs2025",))


def toh_consider(phase: Phase, bilateral: bool) -> tuple[R, ...]:
    site = "both hips and pelvis" if bilateral else "the painful hip"
    mri = R(
        f"MRI of {site} without contrast: oedema shows within days, X-rays stay normal for 4-8 weeks.",
        ("acog723", "asadipooya2017"),
    )
    crutches = R(
        "Crutches (protected weight bearing) until imaging: about 1 in 8 had a hip fracture in one series.",
        ("archosteoporos2017",),
    )
    labs = R("Bloods: CBC, CRP, ESR, calcium, phosphate, 25-OH vitamin D, PTH, creatinine.")
    if phase == "pregnancy":
        return (
            mri,
            crutches,
            R(f"{labs.text[:-1]} (ALP rises normally late in pregnancy)."),
            _ANALGESIA[phase],
            R("Tell obstetrics and orthopaedics: fracture-risk counselling, delivery planning.", ("wright2021",)),
        )
    return (mri, crutches, labs, _ANALGESIA[phase], R("Orthopaedic review if pain is severe or MRI is abnormal."))


def toh_localise(bilateral: bool) -> tuple[R, ...]:
    """Pelvic or lower abdominal pain only (the low-confidence variant): first find out where the pain is."""
    site = "both hips and pelvis" if bilateral else "the hip"
    return (
        R("Ask and examine: is the pain in the hip or groin, worse on weight bearing?"),
        R("Exclude other causes first (appendicitis, urinary infection, labour, symphysis pain)."),
        R(f"If it is the hip: MRI of {site} without contrast, crutches until then.", ("acog723", "asadipooya2017")),
    )


def toh_consistent(phase: Phase, follow_up: bool) -> tuple[R, ...]:
    if follow_up:
        return (
            R("Review pain, walking and the other hip; repeat MRI only if worse or not improving.", ("asadipooya2017",)),
            _NO_ANTIRESORPTIVES,
            R("DXA read by Z-score after weaning, if not yet done." if phase != "pregnancy" else
              "DXA read by Z-score after delivery and weaning.", ("iscd2005",)),
            R("Expected resolution 6-12 months after onset.", ("anzjog1997",)),
        )  # fmt: skip
    care = R("Protected weight bearing (crutches) and analgesia until pain and oedema settle.", ("asadipooya2017",))
    shared = (
        R("Check and correct vitamin D and calcium; watch the other hip.", ("thanasa2024",)),
        R("Repeat MRI only if pain worsens or fails to improve; resolution in 6-12 months.", ("anzjog1997",)),
    )
    if phase == "pregnancy":
        review = R("Obstetric and orthopaedic review: fracture-risk counselling, delivery planning.", ("wright2021",))
        return (care, _NO_ANTIRESORPTIVES, review, *shared)
    return (care, _NO_ANTIRESORPTIVES, *shared, R("DXA read by Z-score after weaning.", ("iscd2005",)))


def red_flag(rule: str, phase: Phase, *, after_onset: bool = False) -> tuple[R, ...]:
    if rule == "R1":
        return (
            R("Urgent: exclude septic arthritis or osteomyelitis (blood cultures, joint aspiration).", ("radiolmed1995",)),
            R("Urgent orthopaedic review; MRI remains the first imaging test.", ("asadipooya2017", "vassalou2019")),
        )  # fmt: skip
    if rule == "R2":
        recs = [
            R("Strict non-weight-bearing now.", ("archosteoporos2017",)),
            R("Urgent orthopaedic review.", ("aldourobi2021",)),
        ]
        if phase == "pregnancy":
            recs.append(R("Urgent obstetric review: plan the delivery with orthopaedics.", ("wright2021",)))
        return tuple(recs)
    if rule == "R3":
        return (R("Orthopaedic referral for avascular necrosis (TOH can progress to it).", ("asadipooya2017",)),)
    if rule == "R4":
        return (
            R("Work up the painful hip for a tumour or metastasis before any other diagnosis.", ("radiolmed1995",)),
            R("Once metastasis is excluded, TOH remains a differential: MRI of the hip.", ("asadipooya2017",)),
        )
    recs = [R("Exclude a fracture first: do not delay imaging for MRI availability.", ("acog723",))]
    if phase == "pregnancy":
        recs.append(R("Obstetric assessment after trauma: fetal monitoring; anti-D if Rh-negative."))
    if after_onset:
        recs.append(
            R("The hip pain began before the injury: TOH remains the underlying differential.", ("asadipooya2017",))
        )
    return tuple(recs)


def plo_consider(phase: Phase) -> tuple[R, ...]:
    recs = [
        R("DXA of spine and hip, read by Z-score.", ("iscd2005",)),
        R("Bloods: 25-OH vitamin D, PTH, calcium, TSH, coeliac screen.", ("kovacs_ralston2015",)),
        R("Specialist (bone metabolism) review.", ("scioscia2023",)),
        R("Antiresorptives only after weaning, on specialist advice.", ("kovacs2025",)),
    ]
    if phase == "lactation":
        recs.insert(2, R("Discuss weaning: bone recovers after breastfeeding stops.", ("kovacs_ralston2015",)))
    return tuple(recs)


DXA_ADVICE = (
    R("Read the Z-score: before menopause a T-score is not diagnostic; Z <= -2.0 is below expected.", ("iscd2005",)),
    R("Low BMD in lactation is expected and recovers after weaning: re-measure then.", ("kovacs2025",)),
)
IMAGING_SAFETY = (
    R("MRI without contrast is the preferred first test in pregnancy and detects TOH earlier.", ("acog723",)),
    R(
        "If an X-ray or CT is clinically needed, do not withhold it: the dose is far below harmful levels.",
        ("acog723",),
    ),
)
GADOLINIUM = (R("Avoid gadolinium in pregnancy unless essential: order the study without contrast.", ("acog723",)),)
ANTIRESORPTIVE = (
    R("Not indicated: bone loss of pregnancy and lactation recovers after delivery and weaning.", ("kovacs2025",)),
    R("Denosumab is contraindicated in pregnancy; bisphosphonates stay in bone for years.", ("prolia", "kovacs2014")),
    R("Specialist decision only, after weaning.", ("thanasa2024",)),
)
