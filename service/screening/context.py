"""The patient context: what one patient's FHIR R4 record says, at an explicit `now`, in the terms the rules use.

One pass over the resources; every fact keeps a reference to the resource it came from (its evidence).
Malformed or unknown resources are skipped, and data dated after `now` is not yet known.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from service.screening.fhir import (
    as_list,
    codings,
    first_date,
    parse_datetime,
    quantity,
    reference_of,
    status_of,
)
from service.screening.medications import medication_concepts, recognise
from service.screening.obstetric_codes import obstetric_phase
from service.screening.report_findings import PLAIN_FINDINGS, SIDES, plain_findings, report_findings
from service.screening.report_reading import MAX_CHARS, read_report
from service.screening.report_sources import ReportText, is_radiology_note, report_text
from service.screening.valuesets import ICD10, ICD10CM, LOINC, SNOMED, ValueSet, classify, dxa_codes, value_set

__all__ = [
    "BONE_AGENTS",
    "CODED_FINDINGS",
    "CODED_LABELS",
    "PREGNANCY_DAYS",
    "PREGNANCY_MAX_DAYS",
    "READ_VALUE_SETS",
    "Dxa",
    "Evidence",
    "Imaging",
    "ImagingReport",
    "Measurement",
    "Pain",
    "PatientContext",
    "build_context",
]

Side = Literal["left", "right", "bilateral"]
Region = Literal["hip", "groin", "pelvic", "back"]
_SIDE_DIGIT: dict[str, Side] = {"1": "right", "2": "left"}
_PELVIC_SIDE_DIGIT: dict[str, Side] = {"1": "right", "2": "left", "3": "bilateral"}
_PAIN_SETS: tuple[tuple[Region, str, str], ...] = (
    ("hip", "hip_pain", "Hip pain"),
    ("groin", "groin_pain", "Groin pain"),
    ("pelvic", "pelvic_pain", "Pelvic pain"),
    ("back", "back_pain", "Back pain"),
)
SPCU = "http://hl7.org/fhir/StructureDefinition/patient-sexParameterForClinicalUse"
_SPCU_SEX = {"female-typical": "female", "male-typical": "male"}
PREGNANCY_DAYS = 280
PREGNANCY_MAX_DAYS = 42 * 7
OVERDUE_DAYS = 14

# Conditions (and symptom observations) kept by value set when active; the rules read them by name.
CODED_FINDINGS = (
    "fever",
    "bone_or_joint_infection",
    "femoral_fracture",
    "avascular_necrosis",
    "bone_neoplasm",
    "malignant_neoplasm",
    "fragility_fracture",
    "gait_or_stiffness",
    "osteopenia",
    "bone_marrow_oedema",
    "hip_effusion",
    "vitamin_d_deficiency",
    "family_history_osteoporosis",
    "smoker",
    "multiple_pregnancy",
    "symphysis_dysfunction",
    "meralgia_paresthetica",
    "toh_diagnosis",
    "trauma",
    "venous_thromboembolism",
)
# How a finding reads in a card (clinical.md 2.7: plain words, no value-set keys).
CODED_LABELS = {
    "fever": "Fever",
    "bone_or_joint_infection": "Septic arthritis or osteomyelitis",
    "femoral_fracture": "Hip fracture",
    "avascular_necrosis": "Avascular necrosis",
    "bone_neoplasm": "Bone malignancy",
    "malignant_neoplasm": "Malignancy",
    "fragility_fracture": "Fragility fracture",
    "gait_or_stiffness": "Limp or stiffness",
    "osteopenia": "Osteopenia",
    "bone_marrow_oedema": "Bone marrow oedema",
    "hip_effusion": "Hip effusion",
    "vitamin_d_deficiency": "Vitamin D deficiency",
    "family_history_osteoporosis": "Family history of osteoporosis",
    "smoker": "Smoker",
    "multiple_pregnancy": "Multiple pregnancy",
    "symphysis_dysfunction": "Symphysis pubis dysfunction",
    "meralgia_paresthetica": "Meralgia paresthetica",
    "toh_diagnosis": "Transient osteoporosis of the hip on the problem list",
    "trauma": "Injury or fall",
    "venous_thromboembolism": "Deep vein thrombosis or pulmonary embolism",
}
# Laboratory and vital-sign observations, with the unit every value is converted to.
MEASUREMENTS = {
    "crp": "mg/L",
    "wbc": "10*9/L",
    "body_temperature": "Cel",
    "vitamin_d": "ng/mL",
    "esr": "mm/h",
    "calcium": "mg/dL",
    "phosphate": "mg/dL",
    "bmi": "kg/m2",
    "pain_score": "{score}",
}
_MEASUREMENT_LABELS = {
    "crp": "CRP", "wbc": "WBC", "esr": "ESR", "bmi": "BMI", "body_temperature": "Temperature",
    "vitamin_d": "25-OH vitamin D", "pain_score": "Pain",
}  # fmt: skip
# Units as clinicians write them, for clinician text (no UCUM annotations such as {score}).
DISPLAY_UNITS = {
    "10*9/L": "×10⁹/L",  # noqa: RUF001 (the multiplication sign is meant)
    "Cel": "°C",
    "kg/m2": "kg/m²",
    "{score}": "/10",
}
_CONVERSIONS: dict[str, dict[str, float | None]] = {
    "crp": {"mg/l": 1.0, "mg/dl": 10.0},
    "wbc": {"10*9/l": 1.0, "10^9/l": 1.0, "10*3/ul": 1.0, "10^3/ul": 1.0, "k/ul": 1.0, "/nl": 1.0, "/ul": 0.001},
    "vitamin_d": {"ng/ml": 1.0, "ug/l": 1.0, "nmol/l": 1 / 2.496},
    "esr": {"mm/h": 1.0, "mm/hr": 1.0},
    "calcium": {"mg/dl": 1.0, "mmol/l": 4.008},
    "phosphate": {"mg/dl": 1.0, "mmol/l": 3.097},
    "bmi": {"kg/m2": 1.0},
}
# Every value set the builder reads, by name: `registry.problems()` refuses a rule naming one that is not here,
# which would never fire (tests/screening/test_registry.py checks each name is really read below).
READ_VALUE_SETS = frozenset(
    {
        *CODED_FINDINGS,
        *(name for _, name, _ in _PAIN_SETS),
        *MEASUREMENTS,
        "pregnancy_condition", "pregnancy_status", "pregnant_answer", "not_pregnant_answer", "estimated_delivery_date",
        "gestational_age_weeks", "gestational_age_days", "delivery_date", "delivery_procedure", "postpartum_condition",
        "lactation", "lower_limb_pain", "lower_abdominal_pain", "hip_body_site", "groin_body_site",
        "fracture_needing_site", "mri_study", "radiograph_study", "ct_study", "dxa_study", "ionising_modality",
        "left", "right", "bilateral", "heparin", "systemic_glucocorticoid", "bisphosphonate", "denosumab",
        "other_bone_agent", "esr", "calcium", "phosphate",
    }
)  # fmt: skip
_ACTIVE = {"active", "recurrence", "relapse"}
_RESOLVED = {"resolved", "inactive", "remission"}
_NOT_TRUE = {"refuted", "entered-in-error"}
_VOID_STATUS = {"entered-in-error", "cancelled"}
# A DVT or PE resolved this recently still counts (clinical.md 2.8, R7); so does a fracture code without an
# encounter character recorded this recently (R2).
RECENT_DAYS = 90
# Radiology report text one record may have read, in characters, newest reports first (see _within_budget).
REPORT_CHARS_PER_RECORD = 50_000
REPORT_SECONDS_PER_RECORD = 1.0


@dataclass(frozen=True)
class Evidence:
    reference: str  # "Condition/123": what a card cites and a RiskAssessment lists as basis
    description: str  # codes and dates only, never names or identifiers: the evidence trail
    date: datetime | None = None
    plain: str = ""  # the same in a clinician's words, without codes ("Left hip pain"); empty when not worth saying


@dataclass(frozen=True)
class Pain:
    evidence: Evidence
    region: Region
    side: Side | None
    onset: datetime | None
    thigh: bool = False  # coded as thigh pain (M79.65x): a hip trigger, and a DVT to exclude first


@dataclass(frozen=True)
class Measurement:
    evidence: Evidence
    value: float
    unit: str
    at: datetime | None


@dataclass(frozen=True)
class Dxa:
    evidence: Evidence
    site: str
    measure: str  # T, Z or BMD
    value: float
    at: datetime | None


@dataclass(frozen=True)
class Imaging:
    evidence: Evidence
    at: datetime | None
    modality: str | None  # MR, XR, CT, DXA
    ionising: bool
    hip_region: bool  # a series imaged the hip, femur or pelvis
    side: Side | None


@dataclass(frozen=True)
class ImagingReport:
    evidence: Evidence
    at: datetime | None
    modality: str | None  # MR, XR, CT, DXA or None when the report does not say
    findings: frozenset[str]  # asserted at the hip: bone_marrow_oedema, fracture, avascular_necrosis, left, ...
    uncertain: frozenset[str] = frozenset()  # hedged at the hip ("fracture cannot be excluded")
    elsewhere: frozenset[str] = frozenset()  # asserted at another site: sacral_fracture, ...
    unread: tuple[str, ...] = ()  # parts of the report whose text was not read, and why


@dataclass
class PatientContext:
    now: datetime
    patient_id: str | None = None
    sex: str | None = None
    age_years: float | None = None
    pregnancy_evidence: list[Evidence] = field(default_factory=list)
    pregnancy_began: datetime | None = None  # earliest onset of this pregnancy's Conditions (T2 without a GA)
    due_date: datetime | None = None
    gestational_age_days: int | None = None
    delivery_date: datetime | None = None
    delivery_evidence: list[Evidence] = field(default_factory=list)
    puerperium_evidence: list[Evidence] = field(default_factory=list)  # after a delivery, dated or not (O85-O92...)
    lactation_evidence: list[Evidence] = field(default_factory=list)
    pains: list[Pain] = field(default_factory=list)
    coded: dict[str, list[Evidence]] = field(default_factory=dict)
    resolved_toh: list[Evidence] = field(default_factory=list)
    fracture_history: list[Evidence] = field(default_factory=list)  # healed or followed-up fracture codes (R2)
    bone_agents: list[Evidence] = field(default_factory=list)  # an active antiresorptive or anabolic bone agent
    bone_agent_resources: list[Mapping[str, Any]] = field(default_factory=list)  # the orders behind bone_agents
    measurements: dict[str, list[Measurement]] = field(default_factory=dict)
    dxa: list[Dxa] = field(default_factory=list)
    imaging: list[Imaging] = field(default_factory=list)
    reports: list[ImagingReport] = field(default_factory=list)
    risk_medications: list[Evidence] = field(default_factory=list)
    unread: list[tuple[str, str]] = field(default_factory=list)  # (report reference, what of its text was not read)
    mri_orders: list[Evidence] = field(default_factory=list)  # MRI orders active now (not this session's drafts)
    medications: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # Medication resources by reference
    recorded_due_dates: list[datetime] = field(default_factory=list)  # every EDD in the record, any pregnancy

    @property
    def pregnant(self) -> bool:
        return bool(self.pregnancy_evidence)

    @property
    def lactating(self) -> bool:
        return bool(self.lactation_evidence)

    @property
    def days_postpartum(self) -> int | None:
        return None if self.delivery_date is None else (self.now - self.delivery_date).days

    @property
    def pregnancy_start(self) -> datetime | None:
        if self.gestational_age_days is None:
            return None
        return self.now - timedelta(days=self.gestational_age_days)

    def latest(self, name: str) -> Measurement | None:
        values = [m for m in self.measurements.get(name, []) if m.at is not None]
        return max(values, key=lambda m: (m.at or self.now, m.evidence.reference, m.value)) if values else None


# --- helpers --------------------------------------------------------------------------------------------------


def _status_code(concept: Any) -> str | None:
    for _, code in codings(concept):
        return code
    return None


def _describe(valueset: ValueSet, concept: Any, label: str, when: datetime | None, prefix: str = "") -> str:
    match = valueset.matches(concept)
    code = f" ({_system_name(match[0])} {match[1]})" if match else ""
    date = f", {prefix}{when.date().isoformat()}" if when else ""
    return f"{label}{code}{date}"


def _system_name(system: str) -> str:
    return {
        SNOMED: "SNOMED CT",
        ICD10CM: "ICD-10-CM",
        ICD10: "ICD-10",
        LOINC: "LOINC",
        "http://www.whocc.no/atc": "ATC",
        "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
        "http://www.ama-assn.org/go/cpt": "CPT",
    }.get(system, system)


def _side_of(resource: Mapping[str, Any], concept: Any = None) -> Side | None:
    """Side from bodySite laterality, else from the ICD-10-CM code's side digit (M25.551 right, M25.552 left)."""
    sites = as_list(resource.get("bodySite"))
    pairs = list(codings(sites))
    if value_set("bilateral").any_in(pairs):
        return "bilateral"
    left, right = value_set("left").any_in(pairs), value_set("right").any_in(pairs)
    if left and right:
        return "bilateral"
    if left or right:
        return "left" if left else "right"
    for system, code in codings(concept):
        if system in (ICD10CM, ICD10):
            compact = code.replace(".", "").upper()
            if compact[:4] in ("M255", "M796") and len(compact) >= 6:  # M25.55x / M79.65x: 1 right, 2 left
                return _SIDE_DIGIT.get(compact[5])
            if compact.startswith("R102") and len(compact) == 5:  # R10.21 right, .22 left, .23 both
                return _PELVIC_SIDE_DIGIT.get(compact[4])
    return None


def _convert(name: str, value: float, unit: str) -> float | None:
    if name == "body_temperature":
        unit = unit.lower().replace("°", "deg")
        if unit in ("cel", "degc", "c"):
            return value
        if unit in ("[degf]", "degf", "f"):
            return (value - 32) * 5 / 9
        return None
    if name not in _CONVERSIONS:
        return value
    factor = _CONVERSIONS[name].get(unit.lower().replace(" ", ""))
    return None if factor is None else value * factor


# --- the builder ----------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, now: datetime, lookback: timedelta) -> None:
        self.context = PatientContext(now=now)
        self.now = now
        self.gestational_age_recent = lookback
        self.studies: dict[str, str] = {}  # ImagingStudy reference -> modality kind
        self.pregnancy_signals: list[tuple[datetime, Evidence]] = []
        self.negations: list[datetime] = []
        self.ga_estimates: list[tuple[int, datetime]] = []  # (GA in days at a date, that date): newest wins
        self.deliveries: list[tuple[datetime, Evidence]] = []  # delivery evidence: it dates the delivery
        self.puerperium: list[tuple[datetime, Evidence]] = []  # after delivery, undated delivery
        self.pregnancy_onsets: list[datetime] = []
        self.due_dates: list[tuple[datetime, datetime]] = []  # (recorded, estimated delivery date)
        self.report_chars_left = REPORT_CHARS_PER_RECORD
        self.reading_deadline = time.perf_counter() + REPORT_SECONDS_PER_RECORD

    def build(self, resources: Iterable[Any]) -> PatientContext:
        resources = [r for r in resources if isinstance(r, Mapping) and isinstance(r.get("resourceType"), str)]
        for resource in resources:
            if resource["resourceType"] == "ImagingStudy":
                self._imaging_study(resource)
            elif resource["resourceType"] == "Medication" and (reference := reference_of(resource)) is not None:
                self.context.medications[reference] = resource
        handlers = {
            "Patient": self._patient,
            "Encounter": self._encounter,
            "Condition": self._condition,
            "Observation": self._observation,
            "Procedure": self._procedure,
            "MedicationRequest": self._medicationrequest,
            "MedicationStatement": self._medicationstatement,
            "ServiceRequest": self._servicerequest,
        }
        for resource in resources:
            handler = handlers.get(resource["resourceType"])
            if handler is not None:
                handler(resource)
        # Reports last, newest first: the reading budget goes to the reports that matter now.
        reports = [r for r in resources if r["resourceType"] in ("DiagnosticReport", "DocumentReference")]
        for report in sorted(reports, key=_newest_first):
            if report["resourceType"] == "DiagnosticReport":
                self._diagnosticreport(report)
            else:
                self._documentreference(report)
        self._settle_pregnancy()
        return self.context

    # Patient -------------------------------------------------------------------------------------------------
    def _patient(self, resource: Mapping[str, Any]) -> None:
        if self.context.patient_id is not None:
            return
        patient_id = resource.get("id")
        self.context.patient_id = patient_id if isinstance(patient_id, str) else None
        gender = resource.get("gender")
        self.context.sex = _clinical_sex(resource) or (gender if isinstance(gender, str) else None)
        birth = parse_datetime(resource.get("birthDate"))
        if birth is not None and birth <= self.now:
            self.context.age_years = (self.now - birth).days / 365.25

    # Conditions ----------------------------------------------------------------------------------------------
    def _condition(self, resource: Mapping[str, Any]) -> None:
        reference = reference_of(resource)
        recorded = first_date(resource, "recordedDate")
        onset = first_date(resource, "onsetDateTime", "onsetPeriod") or recorded
        if reference is None or (recorded or onset or self.now) > self.now:
            return
        if _status_code(resource.get("verificationStatus")) in _NOT_TRUE:
            return
        clinical = _status_code(resource.get("clinicalStatus"))
        abated = first_date(resource, "abatementDateTime", "abatementPeriod")
        active = (clinical is None or clinical in _ACTIVE) and (abated is None or abated > self.now)
        code = resource.get("code")
        if not active:
            when = abated or recorded
            if clinical in _RESOLVED and value_set("toh_diagnosis").matches(code):
                description = _describe(value_set("toh_diagnosis"), code, "TOH diagnosis resolved", when)
                plain = "Transient osteoporosis of the hip marked resolved"
                self.context.resolved_toh.append(Evidence(reference, description, when, plain))
            vte = value_set("venous_thromboembolism")
            if vte.matches(code) and when is not None and (self.now - when).days <= RECENT_DAYS:
                label = _vte_label(code)
                self.context.coded.setdefault("venous_thromboembolism", []).append(
                    Evidence(reference, _describe(vte, code, f"{label}, resolved", when), when,
                             f"{label}, resolved {when.date().isoformat()}")
                )  # fmt: skip
            return
        self._coded(reference, code, onset, resource)

    def _coded(self, reference: str, code: Any, onset: datetime | None, resource: Mapping[str, Any]) -> None:
        """Findings of an active Condition, or of an Observation that records a finding as its code or value."""
        names = classify(code)
        phases = {obstetric_phase(c) for s, c in codings(code) if s in (ICD10CM, ICD10)} - {None}
        if not names and not phases:
            return
        context = self.context
        day = f" on {onset.date().isoformat()}" if onset else ""
        if "pregnancy_condition" in names or "pregnancy" in phases:
            if "pregnancy_condition" in names:
                description = _describe(value_set("pregnancy_condition"), code, "Pregnancy", onset, "recorded ")
            else:  # an O-chapter code, read by its structure rather than a value set
                description = f"Pregnancy ({_code_label(code)}), recorded {onset.date().isoformat()}" if onset else ""
            if onset is not None and (self.now - onset).days <= PREGNANCY_MAX_DAYS:
                evidence = Evidence(reference, description, onset, f"Pregnancy recorded{day}")
                self.pregnancy_signals.append((onset, evidence))
                self.pregnancy_onsets.append(onset)
            weeks = _z3a_weeks(code)
            if weeks is not None and onset is not None:
                self.ga_estimates.append((weeks * 7, onset))
        if "childbirth" in phases and onset is not None:
            description = f"Delivery ({_code_label(code)}) {onset.date().isoformat()}"
            self.deliveries.append((onset, Evidence(reference, description, onset, f"Delivered{day}")))
        elif ("postpartum_condition" in names or "puerperium" in phases) and onset is not None:
            # After delivery, but not its date: a mastitis code never moves the delivery (clinical.md 2.8).
            description = f"Postpartum state ({_code_label(code)}) from {onset.date().isoformat()}"
            self.puerperium.append((onset, Evidence(reference, description, onset, f"Puerperium recorded{day}")))
        if "lactation" in names:
            # Dated by its newest assertion: an entry recorded last month of a breastfeeding begun a year ago is news.
            seen = max((d for d in (onset, first_date(resource, "recordedDate")) if d is not None), default=None)
            description = _describe(value_set("lactation"), code, "Breastfeeding", seen, "recorded ")
            said = f" on {seen.date().isoformat()}" if seen else ""
            context.lactation_evidence.append(Evidence(reference, description, seen, f"Breastfeeding recorded{said}"))
        self._pains(reference, code, onset, resource, names)
        if "fracture_needing_site" in names and "hip_body_site" in classify(resource.get("bodySite")):
            names = names | {"femoral_fracture"}
        if "femoral_fracture" in names and not self._current_fracture(code, onset):
            names = names - {"femoral_fracture"}
            described = _describe(value_set("femoral_fracture"), code, "Hip fracture (history)", onset)
            self.context.fracture_history.append(Evidence(reference, described, onset, f"Earlier hip fracture{day}"))
        for name in CODED_FINDINGS:
            if name in names:
                label = name.replace("_", " ").capitalize()
                shown = _vte_label(code) if name == "venous_thromboembolism" else CODED_LABELS.get(name, label)
                plain = f"{shown} recorded{day}"
                context.coded.setdefault(name, []).append(
                    Evidence(reference, _describe(value_set(name), code, label, onset), onset, plain)
                )

    def _current_fracture(self, code: Any, onset: datetime | None) -> bool:
        """A fracture code recorded within RECENT_DAYS is a current fracture (a subsequent-encounter code then is a
        fracture still healing), unless it is a sequela (7th character S); older codes, of any encounter, are history
        (clinical.md 2.8, R2, read with the clinical review: a healing femoral neck fracture must not vanish, and an
        initial-encounter code from before this pregnancy is no fracture today)."""
        for system, value in codings(code):
            compact = value.replace(".", "").upper()
            if system in (ICD10CM, ICD10) and len(compact) == 7 and compact[0] in "SM" and compact[6] == "S":
                return False
        return onset is None or (self.now - onset).days <= RECENT_DAYS

    def _pains(
        self, reference: str, code: Any, onset: datetime | None, resource: Mapping[str, Any], names: frozenset[str]
    ) -> None:
        found: list[tuple[Region, str, str]] = [entry for entry in _PAIN_SETS if entry[1] in names]
        sites = classify(resource.get("bodySite"))
        if "lower_limb_pain" in names and "hip_body_site" in sites:
            found.append(("hip", "lower_limb_pain", "Pain in the hip or thigh"))
        if "lower_abdominal_pain" in names and not {"hip_pain", "groin_pain"} & names:
            # R10.3x is a hip trigger only with a hip or groin site, else the weak trigger (clinical.md 2.7).
            region: Region = "groin" if {"hip_body_site", "groin_body_site"} & sites else "pelvic"
            found.append((region, "lower_abdominal_pain", "Lower abdominal pain"))
        thigh = any(s in (ICD10CM, ICD10) and c.replace(".", "").upper().startswith("M7965") for s, c in codings(code))
        for region, name, label in found:
            label = "Thigh pain" if thigh and name == "hip_pain" else label
            side = _side_of(resource, code)
            described = _describe(value_set(name), code, f"{label}, {side}" if side else label, onset, "onset ")
            plain = f"{label} ({'both sides' if side == 'bilateral' else side})" if side else label
            plain += f" since {onset.date().isoformat()}" if onset else ""
            self.context.pains.append(Pain(Evidence(reference, described, onset, plain), region, side, onset, thigh))

    # Observations --------------------------------------------------------------------------------------------
    def _observation(self, resource: Mapping[str, Any]) -> None:
        reference = reference_of(resource)
        when = first_date(resource, "effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued")
        if reference is None or status_of(resource) in _VOID_STATUS or (when is not None and when > self.now):
            return
        code = resource.get("code")
        names = classify(code)
        if "pregnancy_status" in names:
            self._pregnancy_status(reference, resource, when)
        elif "estimated_delivery_date" in names:
            self._estimated_delivery(reference, resource, when)
        elif "gestational_age_weeks" in names or "gestational_age_days" in names:
            self._gestational_age(reference, resource, when, days="gestational_age_days" in names)
        elif "delivery_date" in names:
            delivered = parse_datetime(resource.get("valueDateTime"))
            if delivered is not None and delivered <= self.now:
                day = delivered.date().isoformat()
                evidence = Evidence(reference, f"Delivery date (LOINC 93857-1) {day}", delivered, f"Delivered {day}")
                self.deliveries.append((delivered, evidence))
        elif (dxa := _dxa_code(code)) is not None:
            self._dxa(reference, resource, dxa, when)
        else:
            measurement = next((name for name in MEASUREMENTS if name in names), None)
            if measurement is not None:
                self._measurement(measurement, reference, resource, when)
                return
            # A finding recorded as an Observation (e.g. "breastfeeding" as the code or the value).
            self._coded(reference, code, when, resource)
            if isinstance(resource.get("valueCodeableConcept"), dict):
                self._coded(reference, resource["valueCodeableConcept"], when, resource)

    def _pregnancy_status(self, reference: str, resource: Mapping[str, Any], when: datetime | None) -> None:
        value = resource.get("valueCodeableConcept")
        if when is None:
            return
        if value_set("pregnant_answer").matches(value) and (self.now - when).days <= PREGNANCY_MAX_DAYS:
            day = when.date().isoformat()
            description = f"Pregnancy status: pregnant (LOINC 82810-3), {day}"
            self.pregnancy_signals.append((when, Evidence(reference, description, when, f"Pregnant ({day})")))
        elif value_set("not_pregnant_answer").matches(value):
            self.negations.append(when)

    def _estimated_delivery(self, reference: str, resource: Mapping[str, Any], when: datetime | None) -> None:
        due = parse_datetime(resource.get("valueDateTime"))
        if due is not None:
            self.context.recorded_due_dates.append(due)  # the case timeline's axis; a completed pregnancy's delivery
        # Today - 14 d ... today + 280 d: an overdue pregnancy not yet delivered is still a pregnancy (clinical.md 2.7).
        earliest, latest = self.now - timedelta(days=OVERDUE_DAYS), self.now + timedelta(days=PREGNANCY_DAYS)
        if due is None or not (earliest <= due <= latest):
            return
        recorded = when or due - timedelta(days=PREGNANCY_DAYS)
        description = f"Estimated delivery date (LOINC 11778-8) {due.date().isoformat()}"
        plain = f"Due {due.date().isoformat()}"
        self.pregnancy_signals.append((recorded, Evidence(reference, description, recorded, plain)))
        # By calendar dates: a due date 48 days and 23 hours away is still 49 days away.
        self.ga_estimates.append((PREGNANCY_DAYS - (due.date() - self.now.date()).days, self.now))
        self.due_dates.append((recorded, due))

    def _gestational_age(self, reference: str, resource: Mapping[str, Any], when: datetime | None, days: bool) -> None:
        measured = quantity(resource.get("valueQuantity"))
        if measured is None or when is None or self.now - when > self.gestational_age_recent:
            return
        ga_days = round(measured[0] if days else measured[0] * 7)
        description = f"Gestational age {ga_days // 7}+{ga_days % 7} weeks, {when.date().isoformat()}"
        plain = f"{ga_days // 7}+{ga_days % 7} weeks on {when.date().isoformat()}"
        self.pregnancy_signals.append((when, Evidence(reference, description, when, plain)))
        self.ga_estimates.append((ga_days, when))

    def _measurement(self, name: str, reference: str, resource: Mapping[str, Any], when: datetime | None) -> None:
        measured = quantity(resource.get("valueQuantity"))
        if measured is None and isinstance(resource.get("valueInteger"), int):
            measured = (float(resource["valueInteger"]), MEASUREMENTS[name])
        if measured is None:
            return
        value = _convert(name, *measured)
        if value is None:
            return  # a unit we cannot convert is not compared with a threshold
        unit = MEASUREMENTS[name]
        day = f", {when.date().isoformat()}" if when else ""
        label = _MEASUREMENT_LABELS.get(name, name.replace("_", " ").capitalize())
        description = f"{label} {value:g} {unit}{day}"
        shown = DISPLAY_UNITS.get(unit, unit)
        plain = f"{label} {value:g}{shown if shown.startswith('/') else ' ' + shown}"
        plain += f" on {when.date().isoformat()}" if when else ""
        self.context.measurements.setdefault(name, []).append(
            Measurement(Evidence(reference, description, when, plain), value, unit, when)
        )

    def _dxa(self, reference: str, resource: Mapping[str, Any], code: str, when: datetime | None) -> None:
        measured = quantity(resource.get("valueQuantity"))
        if measured is None:
            return
        meta = dxa_codes()[code]
        site = meta.site
        if any(c == "29627003" for _, c in codings(resource.get("bodySite"))):
            site = "femoral-neck"
        day = f", {when.date().isoformat()}" if when else ""
        description = f"DXA {site} {meta.measure}-score {measured[0]:g} (LOINC {code}){day}"
        plain = f"DXA {site.replace('-', ' ')} {meta.measure}-score {measured[0]:g}"
        if meta.measure == "BMD":
            description = f"DXA {site} BMD {measured[0]:g} {measured[1]} (LOINC {code}){day}"
            plain = f"DXA {site.replace('-', ' ')} BMD {measured[0]:g} {measured[1]}"
        plain += f" on {when.date().isoformat()}" if when else ""
        evidence = Evidence(reference, description, when, plain)
        self.context.dxa.append(Dxa(evidence, site, meta.measure, measured[0], when))

    # Procedures, imaging, reports, medications ---------------------------------------------------------------
    def _procedure(self, resource: Mapping[str, Any]) -> None:
        reference = reference_of(resource)
        performed = first_date(resource, "performedDateTime", "performedPeriod")
        if reference is None or performed is None or performed > self.now:
            return
        if status_of(resource) in ("entered-in-error", "not-done"):
            return
        if value_set("delivery_procedure").matches(resource.get("code")):
            description = _describe(value_set("delivery_procedure"), resource.get("code"), "Delivery", performed)
            plain = f"Delivered {performed.date().isoformat()}"
            self.deliveries.append((performed, Evidence(reference, description, performed, plain)))

    def _imaging_study(self, resource: Mapping[str, Any]) -> None:
        reference = reference_of(resource)
        when = first_date(resource, "started")
        if reference is None or status_of(resource) in _VOID_STATUS or (when is not None and when > self.now):
            return
        series = [item for item in as_list(resource.get("series")) if isinstance(item, dict)]
        modalities = list(codings(as_list(resource.get("modality"))))
        modalities += [pair for item in series for pair in codings(item.get("modality"))]
        kind = _modality_kind(modalities, resource.get("procedureCode"))
        if kind:
            self.studies[reference] = kind
        ionising = kind in ("XR", "CT", "DXA") or value_set("ionising_modality").any_in(modalities)
        hip_region = any("hip_body_site" in classify(item.get("bodySite")) for item in series)
        sides = {_side_of({"bodySite": [item.get("laterality")]}) for item in series} - {None}
        side: Side | None = "bilateral" if len(sides) > 1 or "bilateral" in sides else next(iter(sides), None)
        label = {"MR": "MRI", "XR": "Radiograph", "CT": "CT", "DXA": "DXA"}.get(kind or "", "Imaging study")
        day = f", {when.date().isoformat()}" if when else ""
        where = (
            f" of the {side} hip"
            if hip_region and side in ("left", "right")
            else (" of the hips" if hip_region else "")
        )
        evidence = Evidence(reference, f"{label}{where}{' (ionising)' if ionising else ''}{day}", when)
        self.context.imaging.append(Imaging(evidence, when, kind, ionising, hip_region, side))

    def _encounter(self, resource: Mapping[str, Any]) -> None:
        """An encounter's reasons (e.g. hip pain, delivery) count as recorded findings from its start."""
        reference = reference_of(resource)
        when = first_date(resource, "period")
        if reference is None or status_of(resource) in _VOID_STATUS or (when is not None and when > self.now):
            return
        for reason in as_list(resource.get("reasonCode")):
            self._coded(reference, reason, when, resource)

    def _diagnosticreport(self, resource: Mapping[str, Any]) -> None:
        when = first_date(resource, "effectiveDateTime", "effectivePeriod", "issued")
        modality = _modality_kind([], resource.get("code"))
        for study in as_list(resource.get("imagingStudy")):
            if isinstance(study, Mapping) and isinstance(study.get("reference"), str):
                modality = modality or self.studies.get(study["reference"])
        self._report(resource, when, modality, _hip_study(resource.get("code")))

    def _documentreference(self, resource: Mapping[str, Any]) -> None:
        """A radiology note (clinical.md 2.8): read as a report whose study is not coded."""
        if is_radiology_note(resource) and status_of(resource) != "superseded":
            self._report(resource, first_date(resource, "date"), None, hip_study=False)

    def _report(
        self, resource: Mapping[str, Any], when: datetime | None, modality: str | None, hip_study: bool
    ) -> None:
        reference = reference_of(resource)
        if reference is None or status_of(resource) in _VOID_STATUS or (when is not None and when > self.now):
            return
        source = self._within_budget(report_text(resource))
        reading = read_report(source.text) if source.text else None
        if reading is not None and reading.not_english:
            source = replace(source, unread=(*source.unread, "report text: not in English, not read"))
            reading = None  # a finding read from another language is no finding ("sin edema" asserts nothing)
        elif reading is not None and reading.read_chars is not None:
            cut = f"report text: read {reading.read_chars:,} of {len(source.text):,} characters: the reading time bound"  # fmt: skip
            source = replace(source, unread=(*source.unread, cut))
        elif reading is not None and not reading.recognised and len(source.text.split()) >= 2:
            # Nothing of the vocabulary, asserted or negated: not a normal study, a report to read ("Akute
            # Schenkelhalsfraktur links", "Normal MRI of both hips" alike).
            source = replace(source, unread=(*source.unread, "report text: no finding recognised"))
        self.context.unread += [(reference, line) for line in source.unread]
        found = report_findings(reading, hip_study)
        findings, uncertain, elsewhere = (set(part) for part in found)
        # A subchondral fracture line inside marrow oedema is part of TOH; without the oedema it is a fracture.
        if "subchondral_fracture" in findings and "bone_marrow_oedema" not in findings:
            findings = (findings - {"subchondral_fracture"}) | {"fracture"}
        conclusion_codes = resource.get("conclusionCode")
        for name, finding in (
            ("osteopenia", "osteopenia"),
            ("bone_marrow_oedema", "bone_marrow_oedema"),
            ("hip_effusion", "effusion"),
            ("femoral_fracture", "fracture"),
            ("avascular_necrosis", "avascular_necrosis"),
            ("toh_diagnosis", "transient_osteoporosis"),
        ):
            if value_set(name).matches(conclusion_codes):
                findings.add(finding)
        if not (findings or uncertain or elsewhere or source.unread or source.text):
            return
        kind = {"MR": "MRI", "XR": "Radiograph", "CT": "CT", "DXA": "DXA"}.get(modality or "", "Imaging")
        said = [
            plain_findings(findings),
            *(f"possible {PLAIN_FINDINGS.get(f, f)} (review)" for f in sorted(uncertain)),
        ]
        said += [PLAIN_FINDINGS.get(f, f) for f in sorted(elsewhere)]
        if source.unread:
            said.append("part of the report text not read")
        if not any(said):  # read, and nothing at the hip: what it ruled out, so that a card can name the study
            ruled_out = sorted({PLAIN_FINDINGS.get(f.kind, f.kind) for f in reading.findings if f.negated}) if reading else []  # fmt: skip
            said.append(f"no {' or '.join(ruled_out)} reported" if ruled_out else "no finding at the hip reported")
        shown = ", ".join(sorted(f.replace("_", " ") for f in findings | uncertain | elsewhere if f not in SIDES))
        shown = shown or "no finding at the hip"
        unread = f"; text not read: {'; '.join(source.unread)}" if source.unread else ""
        day = f", {when.date().isoformat()}" if when else ""
        plain = f"{kind}{' on ' + when.date().isoformat() if when else ''}: {', '.join(w for w in said if w)}"
        evidence = Evidence(reference, f"{kind} report: {shown}{day}{unread}", when, plain)
        self.context.reports.append(
            ImagingReport(evidence, when, modality, frozenset(findings), frozenset(uncertain), frozenset(elsewhere),
                          source.unread)
        )  # fmt: skip

    def _within_budget(self, source: ReportText) -> ReportText:
        """The report text a record may have read, newest reports first: REPORT_CHARS_PER_RECORD characters and
        REPORT_SECONDS_PER_RECORD seconds of reading in all, so that a record of many long or pathological reports
        costs a hook a bounded time (a compute bound: only such records reach it)."""
        if source.text and time.perf_counter() > self.reading_deadline:
            said = f"report text: not read: the record's reading budget ({REPORT_SECONDS_PER_RECORD:g} s) is spent"
            return ReportText("", (*source.unread, said))
        charged = min(len(source.text), MAX_CHARS)  # the reader reads no more than this of one report
        left, self.report_chars_left = self.report_chars_left, max(0, self.report_chars_left - charged)
        if not source.text or charged <= left:
            return source
        if left == 0:
            said = (
                f"report text: not read: the record's reading budget ({REPORT_CHARS_PER_RECORD:,} characters) is spent"
            )
        else:
            said = f"report text: read {left:,} of {len(source.text):,} characters: the record's reading budget"
        return ReportText(source.text[:left], (*source.unread, said))

    def _servicerequest(self, resource: Mapping[str, Any]) -> None:
        """An MRI already ordered (active, not a draft of this ordering session): card A then suggests none."""
        reference = reference_of(resource)
        when = first_date(resource, "authoredOn", "occurrenceDateTime")
        if (
            reference is None
            or status_of(resource) not in ("active", "on-hold")
            or (when is not None and when > self.now)
        ):
            return
        if value_set("mri_study").matches(resource.get("code")):
            said = f" on {when.date().isoformat()}" if when else ""
            self.context.mri_orders.append(Evidence(reference, f"MRI ordered{said}", when, f"MRI ordered{said}"))

    def _medicationrequest(self, resource: Mapping[str, Any]) -> None:
        self._medication(resource, "authoredOn")

    def _medicationstatement(self, resource: Mapping[str, Any]) -> None:
        self._medication(resource, "effectiveDateTime", "effectivePeriod", "dateAsserted")

    def _medication(self, resource: Mapping[str, Any], *date_fields: str) -> None:
        reference = reference_of(resource)
        if reference is None or status_of(resource) not in ("active", "completed", "on-hold", "intended"):
            return
        when = first_date(resource, *date_fields)
        if status_of(resource) == "active" and (agent := recognise(resource, BONE_AGENTS, self.context.medications)):
            how = f"name '{agent.name}'" if agent.by_name else agent.code
            label = BONE_AGENTS[agent.drug_class]
            since = f" since {when.date().isoformat()}" if when else ""
            self.context.bone_agents.append(
                Evidence(reference, f"{label} active ({how})", when, f"{label} active{since}")
            )
            self.context.bone_agent_resources.append(resource)
        match = recognise(resource, _RISK_DRUGS, self.context.medications)
        if match is not None and match.code is not None:  # S6 by code only: names are for Card D alone
            label = _RISK_DRUGS[match.drug_class]
            concepts = medication_concepts(resource, self.context.medications)
            description = _describe(value_set(match.drug_class), concepts, label, when)
            plain = f"{label}{' from ' + when.date().isoformat() if when else ''}"
            self.context.risk_medications.append(Evidence(reference, description, when, plain))

    # Pregnancy and delivery ----------------------------------------------------------------------------------
    def _settle_pregnancy(self) -> None:
        context = self.context
        deliveries = self.deliveries or self._delivery_estimate()
        if deliveries:
            delivered = max(date for date, _ in deliveries)
            context.delivery_date = delivered
            context.delivery_evidence = [e for d, e in deliveries if d == delivered]
            self.negations.append(delivered)
        # Puerperal codes of this puerperium: after the delivery, if dated; they date nothing themselves.
        puerperium = [(d, e) for d, e in self.puerperium if context.delivery_date is None or d >= context.delivery_date]
        context.puerperium_evidence = [e for _, e in sorted(puerperium, key=lambda item: (item[0], item[1].reference))]
        if puerperium and context.delivery_date is None:
            self.negations.append(min(d for d, _ in puerperium))  # delivered before them
        # Evidence older than the latest delivery or "not pregnant" belongs to an earlier pregnancy.
        since = max(self.negations, default=None)
        context.pregnancy_evidence = [e for d, e in self.pregnancy_signals if since is None or d > since]
        onsets = [onset for onset in self.pregnancy_onsets if since is None or onset > since]
        context.pregnancy_began = min(onsets, default=None) if context.pregnant else None
        dues = [due for recorded, due in self.due_dates if since is None or recorded > since]
        context.due_date = max(dues, default=None) if context.pregnant else None
        if context.pregnant and self.ga_estimates:
            ga_days, at = max(self.ga_estimates, key=lambda item: (item[1], item[0]))
            context.gestational_age_days = ga_days + (self.now - at).days

    def _delivery_estimate(self) -> list[tuple[datetime, Evidence]]:
        """With no delivery evidence, puerperal codes say only that the delivery came before them; the due date of
        the pregnancy they end (within PREGNANCY_DAYS before the first of them) is delivery evidence (2.8). Without
        one the delivery date stays unknown: a mastitis code never supplies it."""
        if not self.puerperium:
            return []
        latest = max(date for date, _ in self.puerperium)
        episode = [(d, e) for d, e in self.puerperium if (latest - d).days <= 365]
        first, evidence = min(episode, key=lambda item: (item[0], item[1].reference))
        recorded = self.context.recorded_due_dates
        dues = [due for due in recorded if first - timedelta(days=PREGNANCY_DAYS) <= due <= first]
        if not dues:
            return []
        due = max(dues)
        day = due.date().isoformat()
        return [(due, Evidence(evidence.reference, f"{evidence.description}; due date {day}", due,
                               f"Delivered around {day} (the due date)"))]  # fmt: skip


def _newest_first(report: Mapping[str, Any]) -> tuple[bool, float]:
    when = first_date(report, "effectiveDateTime", "effectivePeriod", "issued", "date")
    return (when is None, -when.timestamp() if when else 0.0)


def _vte_label(code: Any) -> str:
    """ "Pulmonary embolism" or "Deep vein thrombosis", as the code says (I26, O88.2 and 59282003 are PE)."""
    for system, value in codings(code):
        compact = value.replace(".", "").upper()
        if (system in (ICD10CM, ICD10) and compact.startswith(("I26", "O882"))) or (system == SNOMED and value == "59282003"):  # fmt: skip
            return "Pulmonary embolism"
    return "Deep vein thrombosis"


def _dxa_code(concept: Any) -> str | None:
    return next((code for system, code in codings(concept) if system == LOINC and code in dxa_codes()), None)


def _z3a_weeks(code: Any) -> int | None:
    for system, value in codings(code):
        compact = value.replace(".", "").upper()
        if system in (ICD10CM, ICD10) and compact.startswith("Z3A") and compact[3:].isdigit():
            weeks = int(compact[3:])
            return weeks if 8 <= weeks <= 42 else None
    return None


def _modality_kind(modalities: list[tuple[str, str]], code: Any) -> str | None:
    codes = {c for _, c in modalities}
    if value_set("mri_study").matches(code) or "MR" in codes:
        return "MR"
    if value_set("dxa_study").matches(code) or "BMD" in codes:
        return "DXA"
    if value_set("ct_study").matches(code) or "CT" in codes:
        return "CT"
    if value_set("radiograph_study").matches(code) or codes & {"CR", "DX"}:
        return "XR"
    return None


def _clinical_sex(patient: Mapping[str, Any]) -> str | None:
    """Sex for clinical use (the patient-sexParameterForClinicalUse extension), which outranks Patient.gender."""
    for extension in as_list(patient.get("extension")):
        if not isinstance(extension, Mapping) or extension.get("url") != SPCU:
            continue
        for part in as_list(extension.get("extension")):
            if isinstance(part, Mapping) and part.get("url") == "value":
                for _, code in codings(part.get("valueCodeableConcept")):
                    if code in _SPCU_SEX:
                        return _SPCU_SEX[code]
    return None


def _code_label(concept: Any) -> str:
    for system, code in codings(concept):
        return f"{_system_name(system)} {code}"
    return "coded"


def _hip_study(code: Any) -> bool:
    """Every study code of the value sets images the hip, femur or pelvis."""
    return any(value_set(name).matches(code) for name in ("mri_study", "radiograph_study", "ct_study"))


_RISK_DRUGS = {"heparin": "Heparin", "systemic_glucocorticoid": "Systemic glucocorticoid"}
# Card D's drugs (clinical.md 2.6 and 2.8), by value set.
BONE_AGENTS = {"denosumab": "Denosumab", "bisphosphonate": "Bisphosphonate", "other_bone_agent": "Bone agent"}


def build_context(resources: Iterable[Any], now: datetime, *, gestational_age_recent_days: int = 28) -> PatientContext:
    """The context of one patient's record at `now` (timezone-aware)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return _Builder(now, timedelta(days=gestational_age_recent_days)).build(resources)
