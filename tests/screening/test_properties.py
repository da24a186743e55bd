"""Properties of the engine that must hold for any record, checked with generated data (hypothesis)."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from service.cds.cards import cards
from service.screening import build_context
from tests.screening.scenario_data import CASES, Case, visit

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOH_TOPICS = {"toh-consider", "toh-consistent"}
WITH_TOH = [case for case in CASES if any(e["topic"] in TOH_TOPICS for e in case.expected)]


def run(case: Case, resources: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    resources = case.resources if resources is None else resources
    patient = next((r.get("id") for r in resources if isinstance(r, dict) and r.get("resourceType") == "Patient"), None)
    return cards(visit(resources, case.now, case.config), patient)


def topics(rendered: list[dict[str, Any]]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in rendered]


def at(case: Case, days: float) -> str:
    from datetime import timedelta

    return (case.now + timedelta(days=days)).isoformat()


@FAST
@given(case=st.sampled_from(CASES), gender=st.sampled_from(["male", "unknown", "other", None]))
def test_a_patient_who_is_not_female_never_gets_an_obstetric_card(case: Case, gender: str | None) -> None:
    resources = copy.deepcopy(case.resources)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    patient.pop("extension", None)  # no sex-for-clinical-use, which outranks gender
    if gender is None:
        del patient["gender"]
    else:
        patient["gender"] = gender
    assert run(case, resources) == []


@FAST
@given(case=st.sampled_from(CASES))
def test_sex_for_clinical_use_outranks_gender(case: Case) -> None:
    resources = copy.deepcopy(case.resources)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    system = "http://terminology.hl7.org/CodeSystem/sex-parameter-for-clinical-use"
    patient["extension"] = [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/patient-sexParameterForClinicalUse",
            "extension": [
                {"url": "value", "valueCodeableConcept": {"coding": [{"system": system, "code": "male-typical"}]}}
            ],
        }
    ]
    assert run(case, resources) == []


def delivered_within(case: Case, days: int) -> bool:
    context = build_context(case.resources, case.now)
    return context.days_postpartum is not None and context.days_postpartum < days


def red_flag(case: Case, kind: str, days_ago: float, value: float) -> dict[str, Any]:
    subject = {"reference": f"Patient/{case.resources[0]['id']}"}
    conditions = {
        "fracture": ("http://hl7.org/fhir/sid/icd-10-cm", "S72.001A"),
        "avn": ("http://snomed.info/sct", "203476003"),
        "neoplasm": ("http://hl7.org/fhir/sid/icd-10-cm", "C79.51"),
        "trauma": ("http://snomed.info/sct", "1912002"),
        "infection": ("http://snomed.info/sct", "396234004"),
    }
    if kind in conditions:
        system, code = conditions[kind]
        return {
            "resourceType": "Condition",
            "id": f"flag-{kind}",
            "code": {"coding": [{"system": system, "code": code}]},
            "subject": subject,
            "onsetDateTime": at(case, -days_ago),
        }
    loinc, unit = {"fever": ("8310-5", "Cel"), "crp": ("1988-5", "mg/L")}[kind]
    return {
        "resourceType": "Observation",
        "id": f"flag-{kind}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": subject,
        "effectiveDateTime": at(case, -days_ago),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


@FAST
@given(
    case=st.sampled_from(WITH_TOH),
    kind=st.sampled_from(["fracture", "avn", "neoplasm", "trauma", "infection", "fever", "crp"]),
    days_ago=st.floats(min_value=0.01, max_value=1.0),
    extra=st.floats(min_value=0.0, max_value=100.0),
)
def test_adding_a_red_flag_never_leaves_a_toh_card(case: Case, kind: str, days_ago: float, extra: float) -> None:
    # CRP alone within a week after delivery is physiological, not a red flag (clinical.md 2.7).
    assume(not (kind == "crp" and delivered_within(case, days=7)))
    value = {"fever": 38.0 + extra / 25, "crp": 50.0 + extra * 3}.get(kind, 0.0)
    shown = topics(run(case, [*case.resources, red_flag(case, kind, days_ago, value)]))
    assert not TOH_TOPICS & set(shown)
    assert any(topic.startswith("red-flag-") for topic in shown)


UNRELATED = st.one_of(
    st.builds(
        lambda n, v: {
            "resourceType": "Observation",
            "id": f"unrelated-obs-{n}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
            "valueQuantity": {"value": v, "unit": "/min"},
        },
        st.integers(0, 10_000),
        st.floats(40, 180),
    ),
    st.builds(lambda n: {"resourceType": "Encounter", "id": f"enc-{n}", "status": "finished"}, st.integers(0, 10_000)),
    st.builds(lambda n: {"resourceType": "Practitioner", "id": f"pr-{n}", "name": [{"family": "Doe"}]}, st.integers()),
    st.builds(
        lambda n: {
            "resourceType": "Condition",
            "id": f"unrelated-cond-{n}",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"}]},
        },
        st.integers(0, 10_000),
    ),
)


@FAST
@given(data=st.data(), case=st.sampled_from(CASES))
def test_order_and_unrelated_resources_change_nothing(data: st.DataObject, case: Case) -> None:
    extra = data.draw(st.lists(UNRELATED, max_size=8, unique_by=lambda r: r["id"]))
    shuffled = data.draw(st.permutations([*case.resources, *extra]))
    assert run(case, shuffled) == run(case)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
FIELDS = [
    "id", "status", "code", "subject", "valueQuantity", "valueCodeableConcept", "valueDateTime", "valueInteger",
    "effectiveDateTime", "effectivePeriod", "issued", "onsetDateTime", "onsetPeriod", "recordedDate",
    "abatementDateTime", "clinicalStatus", "verificationStatus", "bodySite", "conclusion", "conclusionCode",
    "imagingStudy", "modality", "series", "performedDateTime", "medicationCodeableConcept", "medicationReference",
    "contained", "gender", "birthDate", "procedureCode", "authoredOn",
]  # fmt: skip
TYPES = [
    "Patient", "Condition", "Observation", "Procedure", "ImagingStudy", "DiagnosticReport", "MedicationRequest",
    "MedicationStatement", "ServiceRequest", "Encounter", "coded", "measurement", "settle_pregnancy", "", "Unknown",
]  # fmt: skip
MALFORMED = st.builds(
    lambda kind, fields: {"resourceType": kind, **fields},
    st.sampled_from(TYPES),
    st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=8),
)


@settings(max_examples=400, deadline=None)
@given(case=st.sampled_from(CASES), junk=st.lists(MALFORMED | JSON, max_size=6), drop=st.integers(0, 30))
def test_malformed_or_unknown_resources_never_raise(case: Case, junk: list[Any], drop: int) -> None:
    resources: list[Any] = [r for i, r in enumerate(case.resources) if i != drop]
    rendered = run(case, [*resources, *junk])
    json.dumps(rendered)  # always serialisable


@FAST
@given(case=st.sampled_from(CASES), data=st.data())
def test_mangling_a_field_of_a_real_resource_never_raises(case: Case, data: st.DataObject) -> None:
    resources = copy.deepcopy(case.resources)
    target = data.draw(st.sampled_from(resources))
    field = data.draw(st.sampled_from(sorted(target)))
    target[field] = data.draw(JSON)
    json.dumps(run(case, resources))
