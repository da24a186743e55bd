"""The phrase bank: radiology report phrasings and how each must be read (kind, polarity, certainty, site, side).

Each row lists every finding the text holds, in order, as (kind, state, site, side), where state is "asserted",
"negated" (negated, whether hedged or not), "hypothetical" (risk of, to prevent, history of: no current finding) or
"uncertain" (hedged, not negated).
"""

from __future__ import annotations

import concurrent.futures

import pytest

from service.screening import report_reading
from service.screening.report_reading import MAX_CHARS, Finding, read_report, warm

A, N, U, H = "asserted", "negated", "uncertain", "hypothetical"

PHRASE_BANK: list[tuple[str, tuple[tuple[str, str, str | None, str | None], ...]]] = [
    # Negated, the cue before the finding.
    (
        "No fracture, effusion or marrow oedema.",
        (("fracture", N, None, None), ("effusion", N, None, None), ("bone_marrow_oedema", N, None, None)),
    ),
    ("No evidence of avascular necrosis.", (("avascular_necrosis", N, None, None),)),
    ("There is no fracture line.", (("fracture", N, None, None),)),
    ("NO FRACTURE OR DISLOCATION.", (("fracture", N, None, None),)),
    ("Negative for fracture.", (("fracture", N, None, None),)),
    ("Absence of fracture.", (("fracture", N, None, None),)),
    ("Without fracture.", (("fracture", N, None, None),)),
    ("No evidence of stress fracture.", (("insufficiency_fracture", N, None, None),)),
    ("No joint effusion.", (("effusion", N, None, None),)),
    (
        "No fracture or bone marrow oedema of the femoral neck.",
        (("fracture", N, "femoral_neck", None), ("bone_marrow_oedema", N, "femoral_neck", None)),
    ),
    (
        "Bilateral femoral heads bone marrow oedema, no fracture line or double-line sign.",
        (
            ("bone_marrow_oedema", A, "femoral_head", "bilateral"),
            ("fracture", N, "femoral_head", "bilateral"),
            ("avascular_necrosis", N, "femoral_head", "bilateral"),
        ),
    ),
    (
        "No double-line sign or subchondral collapse to suggest AVN.",
        (
            ("avascular_necrosis", N, None, None),
            ("avascular_necrosis", N, None, None),
            ("avascular_necrosis", N, None, None),
        ),
    ),
    ("Normal marrow signal throughout the pelvis.", (("bone_marrow_oedema", N, None, None),)),
    # Negated, the cue after the finding.
    ("Fracture: none.", (("fracture", N, None, None),)),
    ("Effusion: none.", (("effusion", N, None, None),)),
    ("Fracture - none seen.", (("fracture", N, None, None),)),
    ("Femoral neck fracture not identified.", (("fracture", N, "femoral_neck", None),)),
    ("AVN: absent.", (("avascular_necrosis", N, None, None),)),
    ("AVN is absent.", (("avascular_necrosis", N, None, None),)),
    ("Fracture: absent", (("fracture", N, None, None),)),
    ("Marrow oedema is not seen.", (("bone_marrow_oedema", N, None, None),)),
    ("Marrow oedema not present.", (("bone_marrow_oedema", N, None, None),)),
    ("Fracture excluded.", (("fracture", N, None, None),)),
    ("Marrow signal is normal.", (("bone_marrow_oedema", N, None, None),)),
    ("Previously noted marrow oedema is no longer seen.", (("bone_marrow_oedema", N, None, None),)),
    # Hedged: never a certain finding.
    ("Fracture cannot be excluded.", (("fracture", U, None, None),)),
    ("Possible subtle femoral neck stress reaction.", (("stress_reaction", U, "femoral_neck", None),)),
    ("? early AVN", (("avascular_necrosis", U, None, None),)),
    ("Equivocal marrow signal.", (("bone_marrow_oedema", U, None, None),)),
    ("Findings may represent early AVN.", (("avascular_necrosis", U, None, None),)),
    ("Suspected stress fracture of the left femoral neck.", (("insufficiency_fracture", U, "femoral_neck", "left"),)),
    ("Stress fracture suspected.", (("insufficiency_fracture", U, None, None),)),
    (
        "Subchondral insufficiency fracture of the femoral head cannot be excluded.",
        (("subchondral_fracture", U, "femoral_head", None),),
    ),
    ("Stress reaction of the femoral neck is not excluded.", (("stress_reaction", U, "femoral_neck", None),)),
    ("Probable stress reaction of the right femoral neck.", (("stress_reaction", U, "femoral_neck", "right"),)),
    ("Questionable subtle fracture line.", (("fracture", U, None, None),)),
    ("Differential includes stress reaction.", (("stress_reaction", U, None, None),)),
    ("Stress reaction? Recommend follow-up.", (("stress_reaction", U, None, None),)),
    ("Query stress fracture left femoral neck.", (("insufficiency_fracture", U, "femoral_neck", "left"),)),
    ("TOH vs AVN.", (("transient_osteoporosis", U, "hip", None), ("avascular_necrosis", U, None, None))),
    (
        "Clinical details: 34/40 pregnant, left hip pain. ?TOH ?AVN",
        (("transient_osteoporosis", U, "hip", None), ("avascular_necrosis", U, None, None)),
    ),
    (
        "Subtle marrow oedema in the left femoral neck, possibly a stress reaction.",
        (("bone_marrow_oedema", A, "femoral_neck", "left"), ("stress_reaction", U, "femoral_neck", "left")),
    ),
    (
        "MRI findings favour transient osteoporosis over avascular necrosis.",
        (("transient_osteoporosis", U, "hip", None), ("avascular_necrosis", U, None, None)),
    ),
    ("History of left femoral neck fracture.", (("fracture", H, "femoral_neck", "left"),)),
    # Risk and prevention are no fracture, not even one to review.
    ("Increased risk of fracture.", (("fracture", H, None, None),)),
    ("Increased fracture risk.", (("fracture", H, None, None),)),
    ("To prevent fracture, calcium and vitamin D are advised.", (("fracture", H, None, None),)),
    # A heading before the negation, and a cue after a comma that must not reach back past it.
    ("Impression: no fracture.", (("fracture", N, None, None),)),
    ("LEFT HIP: NO FRACTURE.", (("fracture", N, "hip", "left"),)),
    (
        "Findings: No fracture or bone marrow oedema of either hip.",
        (("fracture", N, "hip", None), ("bone_marrow_oedema", N, "hip", None)),
    ),
    (
        "Marrow oedema of the left femoral head, fracture: none.",
        (("bone_marrow_oedema", A, "femoral_head", "left"), ("fracture", N, "femoral_head", "left")),
    ),
    # Comparison with an earlier study, and what has not resolved.
    ("Comparison: prior MRI showed left femoral head oedema.", (("bone_marrow_oedema", H, "femoral_head", "left"),)),
    (
        "Partial resolution of the left femoral head marrow oedema.",
        (("persisting", A, "femoral_head", "left"), ("bone_marrow_oedema", N, "femoral_head", "left")),
    ),
    # Sited away from the hip.
    (
        "Sacral insufficiency fracture with surrounding marrow oedema.",
        (("insufficiency_fracture", A, "sacrum", None), ("bone_marrow_oedema", A, "sacrum", None)),
    ),
    (
        "Oedema about the left pubic ramus fracture.",
        (("bone_marrow_oedema", A, "pubic_ramus", "left"), ("fracture", A, "pubic_ramus", "left")),
    ),
    ("Acetabular marrow oedema.", (("bone_marrow_oedema", A, "acetabulum", None),)),
    (
        "Bone marrow oedema in the medial femoral condyle of the right knee.",
        (("bone_marrow_oedema", A, "knee", "right"),),
    ),
    ("Tibial plateau insufficiency fracture.", (("insufficiency_fracture", A, "knee", None),)),
    ("Mild knee effusion.", (("effusion", A, "knee", None),)),
    ("Hip MRI: there is a fracture of the sacrum.", (("fracture", A, "sacrum", None),)),
    (
        "Fracture of the sacrum with marrow oedema of the femoral head",
        (("fracture", A, "sacrum", None), ("bone_marrow_oedema", A, "femoral_head", None)),
    ),
    (
        "Hip MRI. Findings: oedema in the sacral ala with a fracture line.",
        (("bone_marrow_oedema", A, "sacrum", None), ("fracture", A, "sacrum", None)),
    ),
    ("Insufficiency fracture of the sacrum.", (("insufficiency_fracture", A, "sacrum", None),)),
    ("Oedema in the right sacral ala.", (("bone_marrow_oedema", A, "sacrum", "right"),)),
    ("Bilateral sacral insufficiency fractures.", (("insufficiency_fracture", A, "sacrum", "bilateral"),)),
    ("Left superior pubic ramus fracture.", (("fracture", A, "pubic_ramus", "left"),)),
    ("Parasymphyseal insufficiency fracture.", (("insufficiency_fracture", A, "pubic_ramus", None),)),
    ("Vertebral compression fracture at L1.", (("fracture", A, "spine", None),)),
    ("Wedge fracture of T12.", (("fracture", A, "spine", None),)),
    ("L1 vertebral body fracture.", (("fracture", A, "spine", None),)),
    (
        "Pregnancy-associated osteoporosis with bilateral sacral insufficiency fractures.",
        (("osteopenia", A, "sacrum", "bilateral"), ("insufficiency_fracture", A, "sacrum", "bilateral")),
    ),
    ("Soft tissue oedema around the left hip.", ()),
    # At the hip, abbreviated or not.
    ("NOF #", (("fracture", A, "femoral_neck", None),)),
    ("Displaced right NOF #.", (("fracture", A, "femoral_neck", "right"),)),
    ("L femoral head BME", (("bone_marrow_oedema", A, "femoral_head", "left"),)),
    ("BME right femoral neck.", (("bone_marrow_oedema", A, "femoral_neck", "right"),)),
    ("Oedema-like marrow signal in the right femoral neck.", (("bone_marrow_oedema", A, "femoral_neck", "right"),)),
    ("Right subcapital fracture.", (("fracture", A, "femoral_neck", "right"),)),
    ("Intertrochanteric fracture of the right femur.", (("fracture", A, "proximal_femur", "right"),)),
    ("Subchondral fracture line in the left femoral head.", (("subchondral_fracture", A, "femoral_head", "left"),)),
    ("The right femoral head is osteonecrotic.", (("avascular_necrosis", A, "femoral_head", "right"),)),
    ("Osteonecrosis of both femoral heads.", (("avascular_necrosis", A, "femoral_head", "bilateral"),)),
    ("Crescent sign in the left femoral head.", (("avascular_necrosis", A, "femoral_head", "left"),)),
    ("Osteopenia of the left femoral head.", (("osteopenia", A, "femoral_head", "left"),)),
    ("Diffuse demineralisation of the right proximal femur.", (("osteopenia", A, "proximal_femur", "right"),)),
    ("Decreased bone density in both hips.", (("osteopenia", A, "hip", "bilateral"),)),
    ("Moderate left hip effusion.", (("effusion", A, "hip", "left"),)),
    ("Bilateral hip effusions.", (("effusion", A, "hip", "bilateral"),)),
    (
        "Findings are in keeping with a femoral neck stress fracture.",
        (("insufficiency_fracture", A, "femoral_neck", None),),
    ),
    (
        "Extensive bone marrow edema pattern in the left femoral head and neck, extending to the intertrochanteric "
        "region, with small joint effusion.",
        (("bone_marrow_oedema", A, "femoral_head", "left"), ("effusion", A, "hip", "left")),
    ),
    # The radiologist's own impression.
    ("in keeping with transient osteoporosis of the hip", (("transient_osteoporosis", A, "hip", None),)),
    ("Consistent with TOH.", (("transient_osteoporosis", A, "hip", None),)),
    (
        "Appearances are in keeping with transient osteoporosis of the left hip.",
        (("transient_osteoporosis", A, "hip", "left"),),
    ),
    ("Impression: transient osteoporosis of the left hip.", (("transient_osteoporosis", A, "hip", "left"),)),
    ("Transient bone marrow oedema syndrome of the right hip.", (("transient_osteoporosis", A, "hip", "right"),)),
    ("Appearances suggest transient osteoporosis of the hip.", (("transient_osteoporosis", U, "hip", None),)),
    # Resolution: the resolved finding is not asserted.
    (
        "Interval resolution of the previously seen marrow oedema.",
        (("resolution", A, None, None), ("bone_marrow_oedema", N, None, None)),
    ),
    (
        "Near-complete resolution of the left femoral head oedema.",
        (("resolution", A, "femoral_head", "left"), ("bone_marrow_oedema", N, "femoral_head", "left")),
    ),
    (
        "The marrow oedema has resolved.",
        (("bone_marrow_oedema", N, None, None), ("resolution", A, None, None)),
    ),
    (
        "Resolving marrow oedema in the left femoral head.",
        (("resolution", A, "femoral_head", "left"), ("bone_marrow_oedema", A, "femoral_head", "left")),
    ),
    # Several sentences or clauses: a negation stays in its own.
    (
        "There is marrow oedema without fracture.",
        (("bone_marrow_oedema", A, None, None), ("fracture", N, None, None)),
    ),
    (
        "No fracture but there is extensive bone marrow oedema of the left femoral head.",
        (("fracture", N, "femoral_head", "left"), ("bone_marrow_oedema", A, "femoral_head", "left")),
    ),
    (
        "No fracture; small right hip joint effusion.",
        (("fracture", N, "hip", "right"), ("effusion", A, "hip", "right")),
    ),
    (
        "No fracture, however there is diffuse BMO in the right femoral head and neck.",
        (("fracture", N, "femoral_head", "right"), ("bone_marrow_oedema", A, "femoral_head", "right")),
    ),
    (
        "There is bone marrow oedema in the left femoral head. No fracture is seen.",
        (("bone_marrow_oedema", A, "femoral_head", "left"), ("fracture", N, None, None)),
    ),
    ("No AVN. Large left hip effusion.", (("avascular_necrosis", N, None, None), ("effusion", A, "hip", "left"))),
    ("No fracture\nLarge right hip effusion.", (("fracture", N, None, None), ("effusion", A, "hip", "right"))),
    (
        "No fracture.\nBone marrow oedema in the left femoral head and neck.",
        (("fracture", N, None, None), ("bone_marrow_oedema", A, "femoral_head", "left")),
    ),
    (
        "No stress fracture. Marrow oedema of the right femoral neck in keeping with a stress reaction.",
        (
            ("insufficiency_fracture", N, None, None),
            ("bone_marrow_oedema", A, "femoral_neck", "right"),
            ("stress_reaction", A, "femoral_neck", "right"),
        ),
    ),
    ("The femoral heads are normal. No marrow oedema.", (("bone_marrow_oedema", N, None, None),)),
    ("Left hip: extensive marrow oedema.", (("bone_marrow_oedema", A, "hip", "left"),)),
    ("The sacrum is intact.", ()),
    # Other languages: nothing is read, nothing raises.
    ("Knochenmarködem im Hüftkopf links, keine Fraktur.", ()),
    ("股骨头骨髓水肿 未见骨折。", ()),
    ("يوجد وذمة في نقي العظم في رأس الفخذ الأيسر", ()),
]


def _state(finding: Finding) -> str:
    return N if finding.negated else H if finding.hypothetical else U if finding.uncertain else A


@pytest.mark.parametrize(("text", "expected"), PHRASE_BANK, ids=[text[:60] for text, _ in PHRASE_BANK])
def test_phrase_bank(text: str, expected: tuple[tuple[str, str, str | None, str | None], ...]) -> None:
    reading = read_report(text)
    assert tuple((f.kind, _state(f), f.site, f.side) for f in reading.findings) == expected


def test_the_bank_is_large_enough() -> None:
    assert len(PHRASE_BANK) >= 70


def test_asserted_and_uncertain_select_by_kind() -> None:
    reading = read_report("Bone marrow oedema of the left femoral head. Fracture cannot be excluded. No AVN.")
    assert [f.site for f in reading.asserted("bone_marrow_oedema")] == ["femoral_head"]
    assert reading.asserted("fracture") == ()
    assert len(reading.uncertain("fracture")) == 1
    assert reading.uncertain("avascular_necrosis") == () and reading.asserted("avascular_necrosis") == ()


def test_a_red_flag_deep_in_a_full_report_is_read() -> None:
    report = (
        "MRI LEFT HIP\nClinical details: 33 weeks pregnant, left hip pain for three weeks.\n"
        "Technique: coronal STIR and T1, axial PD fat-saturated sequences.\n"
        "Findings: There is extensive bone marrow oedema throughout the left femoral head and neck. "
        "A low-signal subchondral fracture line is present in the superolateral left femoral head. "
        "No subchondral collapse. Small left hip joint effusion. The right hip is normal. "
        "The sacrum and pubic rami are intact.\n"
        "Impression: Transient osteoporosis of the left hip with a subchondral insufficiency fracture."
    )
    reading = read_report(report)
    # The findings' fracture line is in the femoral head; the impression's fracture is "of the left hip".
    assert [(f.site, f.side) for f in reading.asserted("subchondral_fracture")] == [
        ("femoral_head", "left"),
        ("hip", "left"),
    ]
    assert reading.asserted("transient_osteoporosis")[0].side == "left"
    assert reading.asserted("avascular_necrosis") == ()


def test_a_reading_is_cached_by_its_text() -> None:
    text = "Left femoral neck stress fracture."
    assert read_report(text) is read_report(text)
    assert read_report(text) is not read_report(text + " ")


def test_text_past_the_bound_is_not_read() -> None:
    padding = "Normal appearances. " * (MAX_CHARS // 20)
    reading = read_report(padding + "Right femoral neck fracture.")
    assert reading.findings == ()


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\x00\x01\x02",
        "\ud800 lone surrogate, right femoral neck fracture",
        "?" * 500,
        "no " * 3000,
        "\n" * 1000,
        "🦴" * 100,
        "AVN" * 5000,
    ],
)
def test_odd_text_never_raises(text: str) -> None:
    assert isinstance(read_report(text).findings, tuple)
    # read_report turns a failure into "no findings"; the pipeline itself must not fail on these either.
    nlp = report_reading._pipeline()
    readable = text[:MAX_CHARS].encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    for piece in report_reading._pieces(report_reading._lines(readable)):
        report_reading._findings(nlp(piece))


def test_a_lone_surrogate_does_not_cost_the_findings() -> None:
    assert [f.site for f in read_report("\ud800 Right femoral neck fracture.").asserted("fracture")] == ["femoral_neck"]


def test_reading_from_threads_agrees_with_reading_alone() -> None:
    texts = [f"No fracture. Left femoral head BME, {n} mm." for n in range(40)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        readings = list(pool.map(read_report, texts))
    assert all(len(r.asserted("bone_marrow_oedema")) == 1 and r.asserted("fracture") == () for r in readings)


def test_nothing_is_printed(capfd: pytest.CaptureFixture[str]) -> None:
    warm()
    read_report("Sacral ala insufficiency fracture on the right, new since the last study.")
    assert capfd.readouterr() == ("", "")
