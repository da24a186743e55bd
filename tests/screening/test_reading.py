"""How the engine reads FHIR data: dates, units, codes and report text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.screening import build_context, screen
from service.screening.fhir import parse_datetime
from service.screening.valuesets import value_set

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
ICD = "http://hl7.org/fhir/sid/icd-10-cm"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-03", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-04", datetime(2026, 3, 4, tzinfo=UTC)),
        ("2026-03-04T10:20:30Z", datetime(2026, 3, 4, 10, 20, 30, tzinfo=UTC)),
        ("2026-03-04T10:20:30.123+02:00", datetime(2026, 3, 4, 8, 20, 30, 123000, tzinfo=UTC)),
        ("2026-03-04T10:20:30", datetime(2026, 3, 4, 10, 20, 30, tzinfo=UTC)),
        ("2026-02-30", None),
        ("yesterday", None),
        (20260304, None),
    ],
)
def test_fhir_dates_at_every_precision(text: Any, expected: datetime | None) -> None:
    assert parse_datetime(text) == expected


@pytest.mark.parametrize("code", ["M25.552", "M25552", "m25.552"])
def test_icd_codes_match_with_or_without_the_dot(code: str) -> None:
    assert value_set("hip_pain").contains(ICD, code)
    assert value_set("hip_pain").contains("http://hl7.org/fhir/sid/icd-10", code)


def test_codes_match_by_code_never_by_display() -> None:
    displayed = {"coding": [{"system": "http://snomed.info/sct", "code": "000000", "display": "Hip pain"}]}
    assert value_set("hip_pain").matches(displayed) is None
    assert value_set("hip_pain").matches({"text": "hip pain"}) is None


def report(text: str, code: str = "30687-8") -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport",
        "id": "mri-1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": (NOW - timedelta(days=2)).isoformat(),
        "conclusion": text,
    }


@pytest.mark.parametrize(
    ("text", "present", "absent"),
    [
        ("No fracture line or double-line sign.", set(), {"fracture", "avascular_necrosis"}),
        ("Marrow edema of the left femoral head, without effusion", {"bone_marrow_oedema", "left"}, {"effusion"}),
        ("Resolution of marrow oedema.", {"resolution"}, {"bone_marrow_oedema"}),
        ("Subtle subchondral fracture line; otherwise normal.", {"fracture"}, {"subchondral_fracture"}),
        ("Femoral head marrow oedema with a subchondral fracture line.", {"subchondral_fracture"}, {"fracture"}),
        ("Osteopenia of the proximal femur but no fracture.", {"osteopenia"}, {"fracture"}),
        ("Bilateral femoral head BME.", {"bone_marrow_oedema", "bilateral"}, set()),
        ("Left femoral neck AVN.", {"avascular_necrosis"}, set()),
        ("In keeping with transient osteoporosis of the right hip.", {"transient_osteoporosis", "right"}, set()),
        ("Sacral insufficiency fracture with surrounding marrow oedema.", set(), {"bone_marrow_oedema", "fracture"}),
    ],
)
def test_report_findings_at_the_hip_respect_negation_and_site(text: str, present: set[str], absent: set[str]) -> None:
    reports = build_context([report(text)], NOW).reports  # a report with nothing asserted is not kept
    found = reports[0].findings if reports else frozenset()
    assert present <= found
    assert not absent & found


@pytest.mark.parametrize(
    ("text", "uncertain", "elsewhere"),
    [
        ("Femoral neck fracture cannot be excluded.", {"fracture"}, set()),
        ("Possible early AVN of the left femoral head.", {"avascular_necrosis"}, set()),
        ("Femoral neck stress reaction.", {"fracture"}, set()),
        ("Sacral insufficiency fracture with surrounding marrow oedema.", set(), {"sacral_fracture", "oedema_elsewhere"}),
        ("Right superior pubic ramus fracture.", set(), {"pubic_ramus_fracture"}),
        ("L1 vertebral body fracture.", set(), {"vertebral_fracture"}),
    ],
)  # fmt: skip
def test_hedged_findings_and_findings_elsewhere_are_kept_apart(text: str, uncertain: set[str], elsewhere: set[str]) -> None:  # fmt: skip
    [read] = build_context([report(text)], NOW).reports
    assert read.uncertain == uncertain
    assert read.elsewhere == elsewhere
    assert not read.findings & {"fracture", "avascular_necrosis", "bone_marrow_oedema"}


def test_an_unsited_fracture_counts_at_the_hip_only_in_a_hip_study() -> None:
    assert "fracture" in build_context([report("Fracture.")], NOW).reports[0].findings
    knee = build_context([report("Fracture.", code="24590-2")], NOW).reports[0]  # no hip study code
    assert "fracture" not in knee.findings and knee.elsewhere == {"fracture_elsewhere"}


def observation(code: str, value: float, unit: str, days: float = -1) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"obs-{code}-{value}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": (NOW + timedelta(days=days)).isoformat(),
        "valueQuantity": {"value": value, "unit": unit, "code": unit},
    }


@pytest.mark.parametrize(
    ("name", "code", "value", "unit", "expected"),
    [
        ("crp", "1988-5", 5.2, "mg/dL", 52.0),
        ("crp", "1988-5", 52, "mg/L", 52.0),
        ("body_temperature", "8310-5", 101.3, "[degF]", 38.5),
        ("wbc", "6690-2", 16500, "/uL", 16.5),
        ("vitamin_d", "62292-8", 49.92, "nmol/L", 20.0),
    ],
)
def test_units_are_converted_before_thresholds(name: str, code: str, value: float, unit: str, expected: float) -> None:
    context = build_context([observation(code, value, unit)], NOW)
    assert context.measurements[name][0].value == pytest.approx(expected, abs=0.01)


def test_a_normal_temperature_in_fahrenheit_is_not_a_fever() -> None:
    pain = {
        "resourceType": "Condition",
        "id": "pain",
        "code": {"coding": [{"system": ICD, "code": "M25.551"}]},
        "onsetDateTime": (NOW - timedelta(days=3)).isoformat(),
    }
    patient = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1990-01-01"}
    delivery = observation("93857-1", 0, "", days=-20) | {"valueDateTime": (NOW - timedelta(days=21)).isoformat()}
    afebrile = screen([patient, pain, delivery, observation("8310-5", 99.0, "[degF]")], NOW)
    febrile = screen([patient, pain, delivery, observation("8310-5", 101.3, "[degF]")], NOW)
    assert afebrile.topics == ["toh-consider"]
    assert febrile.topics == ["red-flag-infection"]


def test_a_value_in_an_unknown_unit_is_never_compared() -> None:
    context = build_context([observation("1988-5", 900, "furlongs")], NOW)
    assert "crp" not in context.measurements


def test_data_dated_after_now_is_not_yet_known() -> None:
    future = observation("1988-5", 200, "mg/L", days=+2)
    assert "crp" not in build_context([future], NOW).measurements


def test_gestational_age_from_the_estimated_delivery_date() -> None:
    edd = {
        "resourceType": "Observation",
        "id": "edd",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "11778-8"}]},
        "effectiveDateTime": "2026-01-01",
        "valueDateTime": (NOW + timedelta(weeks=7)).date().isoformat(),
    }
    context = build_context([edd], NOW)
    assert context.pregnant
    assert context.gestational_age_days is not None and context.gestational_age_days // 7 == 33


def test_a_delivery_after_the_pregnancy_evidence_ends_the_pregnancy() -> None:
    status = {
        "resourceType": "Observation",
        "id": "status",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "82810-3"}]},
        "effectiveDateTime": (NOW - timedelta(days=60)).isoformat(),
        "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA15173-0"}]},
    }
    delivery = {
        "resourceType": "Procedure",
        "id": "cs",
        "status": "completed",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "11466000"}]},
        "performedDateTime": (NOW - timedelta(days=10)).isoformat(),
    }
    context = build_context([status, delivery], NOW)
    assert not context.pregnant
    assert context.days_postpartum == 10


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        screen([], datetime(2026, 1, 15))  # noqa: DTZ001 - the point of the test


def test_an_empty_record_gives_no_card() -> None:
    assessment = screen([], NOW)
    assert (assessment.in_population, assessment.outcomes) == (False, ())


def test_imaging_studies_are_read_with_modality_site_and_side() -> None:
    study = {
        "resourceType": "ImagingStudy",
        "id": "xr",
        "status": "available",
        "started": (NOW - timedelta(days=3)).isoformat(),
        "series": [
            {
                "uid": "1.2.3",
                "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "DX"},
                "bodySite": {"system": "http://snomed.info/sct", "code": "24136001"},
                "laterality": {"system": "http://snomed.info/sct", "code": "7771000"},
            }
        ],
    }
    [imaging] = build_context([study], NOW).imaging
    assert (imaging.modality, imaging.ionising, imaging.hip_region, imaging.side) == ("XR", True, True, "left")
    assert imaging.evidence.description.startswith("Radiograph of the left hip (ionising)")


def test_encounter_reasons_count_as_findings() -> None:
    encounter = {
        "resourceType": "Encounter",
        "id": "visit",
        "status": "finished",
        "period": {"start": (NOW - timedelta(days=2)).isoformat()},
        "reasonCode": [{"coding": [{"system": ICD, "code": "M25.552"}]}],
    }
    [pain] = build_context([encounter], NOW).pains
    assert (pain.region, pain.side, pain.evidence.reference) == ("hip", "left", "Encounter/visit")
