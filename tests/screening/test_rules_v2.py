"""Rules version 2 (clinical.md 2.7): one test per item, each of which failed on rules version 1."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures.builder import CPT, ICD, LOINC, RXNORM, SCT, Record, coding
from fixtures.scenarios import (
    BREASTFEEDING,
    CRP,
    HIP_PAIN,
    LEFT_HIP,
    MRI_HIP,
    PAIN_SCORE,
    TEMPERATURE,
    XR_HIP,
    delivered,
    hip_pain,
    pregnant,
)
from service.cds.cards import card
from tests.screening.rule_checks import NOW, assess, order_cards, outcome, text_of, topics

HIP_SITE = coding(SCT, "24136001", "Hip joint structure")
GROIN_SITE = coding(SCT, "26893007", "Inguinal region structure")


def record(slug: str = "v2", **patient: Any) -> Record:
    return Record(slug, NOW, **patient)


# --- Population and trigger ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pain_onset", "expected"), [(-200, []), (-50, ["toh-consider"])])
def test_without_a_gestational_age_the_pregnancy_began_at_most_42_weeks_ago_or_at_its_condition(
    pain_onset: int, expected: list[str]
) -> None:
    r = record()
    r.condition(coding(ICD, "Z34.82", "Supervision of normal pregnancy, second trimester"), onset=-100)
    hip_pain(r, pain_onset)
    assert topics(r) == expected


@pytest.mark.parametrize(("due_in_days", "pregnant_now"), [(-7, True), (-13, True), (-20, False), (275, True)])
def test_the_edd_window_runs_from_14_days_ago_to_280_days_ahead(due_in_days: int, pregnant_now: bool) -> None:
    r = record()
    r.observation(coding(LOINC, "11778-8", "Delivery date Estimated"), at=-30, when=due_in_days)
    hip_pain(r, -5)
    assert ("P1" in assess(r).fired) is pregnant_now


@pytest.mark.parametrize("code", ["O99.013", "O98.513", "O9A.113", "O26.893", "O99.019", "O24.410"])
def test_o_chapter_codes_that_denote_pregnancy_count_for_p1(code: str) -> None:
    r = record()
    r.condition(coding(ICD, code, "complicating pregnancy"), onset=-20)
    hip_pain(r, -6)
    assert "P1" in assess(r).fired
    assert topics(r) == ["toh-consider"]


@pytest.mark.parametrize("code", ["O99.03", "O98.13", "O9A.23", "O86.4", "O90.89", "O99.893"])
def test_o_codes_in_childbirth_or_the_puerperium_are_postpartum_evidence_dated_by_their_onset(code: str) -> None:
    r = record()
    r.condition(coding(ICD, code, "in the puerperium"), onset=-30)
    hip_pain(r, -6)
    fired = assess(r).fired
    assert "P1" not in fired and "P2" in fired


@pytest.mark.parametrize("code", ["O03.9", "O80", "O82"])
def test_abortive_outcomes_and_delivery_encounters_are_not_pregnancy(code: str) -> None:
    r = record()
    r.condition(coding(ICD, code, "not a pregnancy"), onset=-30)
    assert "P1" not in assess(r).fired


def test_an_old_breastfeeding_entry_without_a_delivery_date_expires() -> None:
    old, recent = record("old"), record("recent")
    old.condition(BREASTFEEDING, onset=-900)
    recent.condition(BREASTFEEDING, onset=-200)
    for r in (old, recent):
        hip_pain(r, -10)
    assert topics(old) == []
    assert topics(recent) == ["toh-consider"]


def test_sex_for_clinical_use_female_typical_is_screened() -> None:
    r = record(gender="other", sex_for_clinical_use="female-typical")
    pregnant(r, 33)
    hip_pain(r, -7)
    assert topics(r) == ["toh-consider"]


def test_right_lower_quadrant_pain_alone_is_only_the_weak_trigger() -> None:
    r = record()
    pregnant(r, 30)
    r.condition(coding(ICD, "R10.31", "Right lower quadrant pain"), onset=-2)
    found = outcome(r, "toh-consider")
    assert found.priority == "low" and found.indicator == "info"
    assert "appendicitis" in text_of(found)


@pytest.mark.parametrize("site", [HIP_SITE, GROIN_SITE])
def test_lower_quadrant_pain_with_a_hip_or_groin_site_is_a_hip_trigger(site: dict[str, str]) -> None:
    r = record()
    pregnant(r, 30)
    r.condition(coding(ICD, "R10.32", "Left lower quadrant pain"), onset=-2, body_site=[site])
    assert "T1" in assess(r).fired


def test_periumbilical_pain_is_never_a_trigger() -> None:
    r = record()
    pregnant(r, 30)
    r.condition(coding(ICD, "R10.33", "Periumbilical pain"), onset=-2)
    assert topics(r) == []


# --- Red flags ----------------------------------------------------------------------------------------------------


def infection_record(*, fever: bool, crp: float | None, delivered_days_ago: float | None = None) -> Record:
    r = record()
    if delivered_days_ago is None:
        pregnant(r, 34)
    else:
        r.procedure(coding(SCT, "11466000", "Cesarean section"), at=-delivered_days_ago)
    hip_pain(r, -2)
    if fever:
        r.observation(TEMPERATURE, at=-1, quantity=(38.6, "Cel"), category="vital-signs")
    if crp is not None:
        r.observation(CRP, at=-1, quantity=(crp, "mg/L"), category="laboratory")
    return r


@pytest.mark.parametrize(
    ("fever", "crp", "indicator"), [(True, 80.0, "critical"), (True, None, "warning"), (False, 80.0, "warning")]
)
def test_infection_red_flag_is_graded(fever: bool, crp: float | None, indicator: str) -> None:
    assert outcome(infection_record(fever=fever, crp=crp), "red-flag-infection").indicator == indicator


def test_crp_alone_within_a_week_of_delivery_is_not_a_red_flag() -> None:
    assert "red-flag-infection" not in topics(infection_record(fever=False, crp=80.0, delivered_days_ago=3))
    assert "red-flag-infection" in topics(infection_record(fever=False, crp=80.0, delivered_days_ago=10))


def mri(conclusion: str) -> Record:
    r = record()
    pregnant(r, 35)
    hip_pain(r, -12)
    r.report(MRI_HIP, conclusion, at=-1)
    return r


def test_a_subchondral_fracture_line_in_marrow_oedema_keeps_card_b_with_a_warning_note() -> None:
    found = outcome(
        mri("Bone marrow oedema of the left femoral head with a subchondral fracture line."), "toh-consistent"
    )
    assert found.indicator == "warning"
    assert "strict non-weight-bearing" in text_of(found)


@pytest.mark.parametrize(
    "conclusion",
    [
        "Bone marrow oedema of the left femoral head; increased fracture risk.",
        "Bone marrow oedema of the left femoral head. No fracture.",
        "Bone marrow oedema of the left femoral head. Fracture excluded.",
        "Bone marrow oedema of the left femoral head; fracture cannot be excluded on this study.",
    ],
)
def test_hedged_or_negated_fracture_text_never_fires_the_fracture_flag(conclusion: str) -> None:
    assert topics(mri(conclusion)) == ["toh-consistent"]  # rules v3: a hedged fracture adds "review" to card B


def test_a_femoral_neck_fracture_on_mri_is_critical() -> None:
    assert outcome(mri("Fracture line of the left femoral neck."), "red-flag-fracture").indicator == "critical"


@pytest.mark.parametrize(
    ("codes", "body_site", "fires"),
    [
        ([coding(ICD, "S72.142A", "Displaced intertrochanteric fracture of left femur")], None, True),
        ([coding(SCT, "240197007", "Stress fracture")], None, False),
        ([coding(SCT, "240197007", "Stress fracture")], [HIP_SITE], True),
        ([coding(ICD, "M84.350A", "Stress fracture, pelvis")], None, False),
    ],
)
def test_the_fracture_flag_needs_a_hip_or_femur_site(
    codes: list[dict[str, str]], body_site: list[dict[str, str]] | None, fires: bool
) -> None:
    r = record()
    pregnant(r, 34)
    hip_pain(r, -5)
    r.condition(*codes, onset=-1, body_site=body_site)
    assert ("red-flag-fracture" in topics(r)) is fires


@pytest.mark.parametrize("code", ["C50.911", "C78.00", "C7B.00"])
def test_any_active_malignancy_is_the_neoplasm_flag_with_toh_left_as_differential(code: str) -> None:
    r = record()
    pregnant(r, 30)
    hip_pain(r, -8)
    r.condition(coding(ICD, code, "Malignant neoplasm"), onset=-60)
    found = outcome(r, "red-flag-neoplasm")
    # Rules version 3 (clinical.md 2.8) words it as the MRI that shows a metastasis and TOH alike.
    assert "metastasis and TOH alike" in text_of(found)


def test_trauma_after_onset_names_toh_as_the_underlying_differential() -> None:
    r = record()
    pregnant(r, 33)
    hip_pain(r, -20)
    r.condition(coding(ICD, "W19.XXXA", "Unspecified fall"), onset=-3)
    text = text_of(outcome(r, "red-flag-trauma"))
    assert "underlying differential" in text
    assert "anti-D" in text and "do not delay imaging" in text


# --- Supporting findings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "system"), [("67108", RXNORM), ("8640", RXNORM), ("3264", RXNORM)])
def test_heparins_and_glucocorticoids_count_by_rxnorm_ingredient(code: str, system: str) -> None:
    r = record()
    pregnant(r, 24)
    hip_pain(r, -5)
    r.add(
        {
            "resourceType": "MedicationStatement",
            "id": "med-1",
            "status": "active",
            "medicationCodeableConcept": {"coding": [{"system": system, "code": code}]},
            "subject": r.subject,
            "effectiveDateTime": r.at(-60),
        }
    )
    assert "S6" in assess(r).fired


@pytest.mark.parametrize(("loinc", "value", "fires"), [("85394-5", -2.1, True), ("38267-1", -2.8, False)])
def test_low_bone_density_counts_by_z_score_only(loinc: str, value: float, fires: bool) -> None:
    r = record()
    delivered(r, 40)
    hip_pain(r, -10)
    r.observation(coding(LOINC, loinc, "DXA Lumbar spine"), at=-2, quantity=(value, "{score}"))
    assert ("S8" in assess(r).fired) is fires


# --- Orders -------------------------------------------------------------------------------------------------------


def test_no_imaging_safety_card_without_a_hip_or_groin_complaint() -> None:
    r = record()
    pregnant(r, 30)
    r.service_request(XR_HIP)
    assert order_cards(r) == ()


def test_the_suggested_mri_gives_the_pain_as_its_reason() -> None:
    r = record()
    pregnant(r, 30)
    pain = r.condition(HIP_PAIN, LEFT_HIP, onset=-5)
    r.service_request(XR_HIP)
    [found] = order_cards(r)
    [suggestion] = card(found, "v2")["suggestions"]
    created = suggestion["actions"][-1]["resource"]
    assert created["reasonReference"] == [{"reference": f"Condition/{pain['id']}"}]
    assert "reasonCode" not in created


@pytest.mark.parametrize(
    ("order", "words"),
    [
        (coding(CPT, "72193", "CT pelvis with contrast"), "preferred"),
        (coding(CPT, "74177", "CT abdomen and pelvis with contrast"), "preferred"),
        (coding(LOINC, "36199-8", "MR Hip W contrast IV"), "gadolinium"),
        (coding(CPT, "72196", "MRI pelvis with contrast"), "gadolinium"),
    ],
)
def test_ct_by_cpt_and_mri_with_gadolinium_get_the_imaging_safety_card(order: dict[str, str], words: str) -> None:
    r = record()
    pregnant(r, 32)
    hip_pain(r, -5)
    r.service_request(order)
    [found] = order_cards(r)
    assert found.topic == "imaging-safety"
    assert words in text_of(found)
    assert "without contrast" in found.orders[0].display


def breastfeeding_mother() -> Record:
    r = record()
    delivered(r, 90)
    r.condition(BREASTFEEDING, onset=-90)
    return r


def test_card_d_for_an_rxnorm_prescribing_code() -> None:
    r = breastfeeding_mother()
    r.medication_request(coding(RXNORM, "904431", "alendronate sodium 70 MG Oral Tablet"))
    assert [o.topic for o in order_cards(r)] == ["antiresorptive-caution"]


def test_card_d_for_the_ingredients_of_a_contained_or_referenced_medication() -> None:
    contained, referenced = breastfeeding_mother(), breastfeeding_mother()
    medication = {
        "resourceType": "Medication",
        "id": "zol",
        "ingredient": [{"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "77655"}]}}],
    }
    request = contained.medication_request(None, text="infusion")
    del request["medicationCodeableConcept"]
    request["contained"] = [medication]
    request["medicationReference"] = {"reference": "#zol"}
    request = referenced.medication_request(None, text="infusion")
    del request["medicationCodeableConcept"]
    request["medicationReference"] = {"reference": "Medication/zol"}
    referenced.add({**medication, "status": "draft"})  # in the draft orders bundle
    for r in (contained, referenced):
        assert [o.topic for o in order_cards(r)] == ["antiresorptive-caution"]


def test_card_d_by_name_as_the_last_resort_says_so() -> None:
    r = record()
    pregnant(r, 30)
    r.medication_request(None, text="Prolia 60 mg subcutaneous")
    [found] = order_cards(r)
    assert found.indicator == "critical"
    assert "Recognised by its name" in text_of(found)


# --- Card G and calibrated urgency --------------------------------------------------------------------------------


def test_a_vertebral_fragility_fracture_in_lactation_gives_the_plo_card() -> None:
    r = breastfeeding_mother()
    r.condition(coding(ICD, "M80.08XA", "Age-related osteoporosis with current pathological fracture, vertebra"), onset=-10)  # fmt: skip
    found = outcome(r, "plo-consider")
    assert found.indicator == "warning"
    assert "weaning" in text_of(found) and "coeliac" in text_of(found)


@pytest.mark.parametrize(("z_score", "plo"), [(-2.4, True), (-1.2, False)])
def test_new_back_pain_with_a_low_z_score_gives_the_plo_card(z_score: float, plo: bool) -> None:
    r = breastfeeding_mother()
    r.condition(coding(ICD, "M54.50", "Low back pain"), onset=-20)
    r.observation(coding(LOINC, "85394-5", "DXA Lumbar spine [Z-score]"), at=-2, quantity=(z_score, "{Z-score}"))
    assert ("plo-consider" in topics(r)) is plo


def test_card_a_is_info_at_medium_priority_and_warning_at_high() -> None:
    medium, high = record("medium"), record("high")
    for r in (medium, high):
        pregnant(r, 33)
        hip_pain(r, -7)
    high.observation(PAIN_SCORE, at=-1, quantity=(8, "{score}"))
    assert (outcome(medium, "toh-consider").priority, outcome(medium, "toh-consider").indicator) == ("medium", "info")
    assert (outcome(high, "toh-consider").priority, outcome(high, "toh-consider").indicator) == ("high", "warning")


def test_card_b_turns_to_follow_up_when_toh_is_on_the_problem_list() -> None:
    r = breastfeeding_mother()
    hip_pain(r, -30)
    r.report(MRI_HIP, "Bone marrow oedema of the left femoral head and neck.", at=-20)
    r.condition(coding(SCT, "240160002", "Transient osteoporosis of hip in pregnancy"), recorded=-19)
    found = outcome(r, "toh-consistent")
    assert found.indicator == "info"
    assert "follow-up" in found.summary


def test_card_b_names_an_old_mri_by_its_age_and_turns_to_follow_up() -> None:
    r = breastfeeding_mother()
    r.observation(PAIN_SCORE, at=-1, quantity=(4, "{score}"))
    hip_pain(r, -150)
    r.report(MRI_HIP, "Bone marrow oedema of the left femoral head and neck.", at=-140)
    found = outcome(r, "toh-consistent")
    assert found.indicator == "info" and "follow-up" in found.summary
    text = text_of(found)
    assert "5 months ago" in text
    assert "until pain and oedema settle" not in text  # acute-phase advice only while the findings are recent
