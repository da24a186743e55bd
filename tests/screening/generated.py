"""Generated obstetric records that mix what the fixtures keep apart: a phase, hip or pelvic pain, reports from a pool
of real-world phrasings, red flags, bone findings, history and draft orders, each present or not at random. The same
seed gives the same records; the coherence test reads 1,000 of them."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import datetime

from fixtures.builder import ATC, CPT, ICD, LOINC, RXNORM, SCT, Record, coding
from fixtures.scenarios import (
    BREASTFEEDING,
    CRP,
    HIP_PAIN,
    LEFT_HIP,
    MRI_HIP,
    MRI_PELVIS_HIPS,
    PAIN_SCORE,
    RIGHT_HIP,
    TEMPERATURE,
    WBC,
    XR_HIP,
    delivered,
    pregnant,
)

__all__ = ["generated_records"]

REPORTS = (
    "No fracture, effusion or marrow oedema.",
    "Left femoral head bone marrow oedema with a small effusion. No fracture line.",
    "Bilateral femoral head and neck BME, in keeping with transient osteoporosis.",
    "Fracture: none. AVN: absent.",
    "Subcapital fracture of the right femoral neck.",
    "Femoral neck fracture cannot be excluded.",
    "Double-line sign of the left femoral head: avascular necrosis.",
    "? early AVN of the right femoral head.",
    "Sacral insufficiency fracture with surrounding marrow oedema.",
    "Marrow oedema of the left femoral head with a subchondral fracture line.",
    "Interval resolution of the previously seen marrow oedema.",
    "Right femoral neck stress reaction.",
    "Osteopenia of the proximal femora.",
)
DRUGS = (
    coding(ATC, "M05BA04", "alendronic acid"),
    coding(ATC, "M05BX04", "denosumab"),
    coding(ATC, "M05BX06", "romosozumab"),
    coding(RXNORM, "904431", "alendronate 70 MG Oral Tablet"),
)
IMAGING_ORDERS = (
    XR_HIP,
    coding(LOINC, "37622-8", "XR Pelvis AP"),
    coding(CPT, "72192", "CT pelvis without contrast"),
    coding(CPT, "73722", "MRI lower extremity joint with contrast"),
)


def _phase(rng: random.Random, r: Record) -> None:
    choice = rng.random()
    if choice < 0.45:
        pregnant(r, rng.choice((14, 22, 27, 30, 33, 36, 39)))
    elif choice < 0.9:
        delivered(r, rng.choice((5, 20, 45, 90, 200, 330)))
        if rng.random() < 0.5:
            r.condition(BREASTFEEDING, onset=-rng.choice((3, 40, 220)))
        if rng.random() < 0.2:
            r.condition(coding(ICD, "O91.12", "Abscess of breast associated with the puerperium"), onset=-4)
    else:
        r.condition(BREASTFEEDING, onset=-rng.choice((30, 250)))


def _pain(rng: random.Random, r: Record) -> None:
    choice = rng.random()
    onset = -rng.choice((3, 10, 30, 80))
    if choice < 0.55:
        r.condition(HIP_PAIN, rng.choice((LEFT_HIP, RIGHT_HIP)), onset=onset)
        if rng.random() < 0.25:
            r.condition(HIP_PAIN, RIGHT_HIP, onset=onset + 2)
    elif choice < 0.7:
        r.condition(coding(SCT, "102570003", "Groin pain"), onset=onset)
    elif choice < 0.8:
        r.condition(coding(ICD, "R10.2", "Pelvic and perineal pain"), onset=onset)
    elif choice < 0.9:
        r.condition(coding(SCT, "279039007", "Low back pain"), onset=onset)


# fmt: off
_EXTRAS: tuple[tuple[float, Callable[[random.Random, Record], object]], ...] = (
    (
        0.35,
        lambda rng, r: r.report(
            rng.choice((MRI_HIP, MRI_PELVIS_HIPS)), rng.choice(REPORTS), at=-rng.choice((1, 5, 120))
        ),
    ),
    (0.12, lambda rng, r: r.condition(coding(ICD, "W01.0XXA", "Fall on same level"), onset=-rng.choice((2, 20)))),
    (0.08, lambda rng, r: r.condition(coding(ICD, "I82.412", "Acute DVT of left femoral vein"), onset=-3)),
    (
        0.08,
        lambda rng, r: r.condition(
            coding(ICD, rng.choice(("S72.012A", "S72.012D")), "Fracture of femoral head"), onset=-10
        ),
    ),
    (
        0.08,
        lambda rng, r: r.condition(coding(ICD, rng.choice(("C50.911", "C44.91")), "Malignant neoplasm"), onset=-90),
    ),
    (0.08, lambda rng, r: r.condition(coding(ICD, "O26.713", "Subluxation of symphysis in pregnancy"), onset=-15)),
    (0.12, lambda rng, r: r.observation(TEMPERATURE, at=-1, quantity=(rng.choice((37.1, 38.6)), "Cel"))),
    (0.12, lambda rng, r: r.observation(CRP, at=-1, quantity=(rng.choice((4.0, 65.0)), "mg/L"))),
    (0.08, lambda rng, r: r.observation(WBC, at=-1, quantity=(rng.choice((9.0, 18.0)), "10*9/L"))),
    (
        0.15,
        lambda rng, r: r.observation(
            coding(LOINC, "85394-5", "DXA lumbar spine Z-score"),
            at=-5,
            quantity=(rng.choice((-2.6, -1.1)), "{Z-score}"),
        ),
    ),
    (
        0.08,
        lambda rng, r: r.observation(
            coding(LOINC, "38265-5", "DXA forearm T-score"), at=-5, quantity=(-2.7, "{T-score}")
        ),
    ),
    (0.08, lambda rng, r: r.condition(coding(ICD, "M80.08XA", "Vertebral fragility fracture"), onset=-12)),
    (
        0.1,
        lambda rng, r: r.condition(
            coding(SCT, "240160002", "Transient osteoporosis of hip"),
            onset=-rng.choice((700, 20)),
            status=rng.choice(("resolved", "active")),
            abated=-600 if rng.random() < 0.5 else None,
        ),
    ),
    (
        0.15,
        lambda rng, r: r.observation(PAIN_SCORE, at=-rng.choice((1, 20)), quantity=(rng.choice((0, 1, 8)), "{score}")),
    ),
    (0.25, lambda rng, r: r.service_request(rng.choice(IMAGING_ORDERS))),
    (0.1, lambda rng, r: r.service_request(rng.choice(IMAGING_ORDERS))),
    (
        0.15,
        lambda rng, r: r.medication_request(
            rng.choice(DRUGS), status=rng.choice(("draft", "active")), at=-rng.choice((0, 30))
        ),
    ),
)


def generated_records(count: int, now: datetime, seed: int = 25) -> Iterator[Record]:
    rng = random.Random(seed)
    for index in range(count):
        r = Record(f"gen-{index:04d}", now, age=rng.choice((22, 31, 38, 44)))
        _phase(rng, r)
        _pain(rng, r)
        for chance, add in _EXTRAS:
            if rng.random() < chance:
                add(rng, r)
        yield r
