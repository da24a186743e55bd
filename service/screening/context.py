"""The patient context: what one patient's FHIR R4 record says, at an explicit `now`, in the terms the rules use.

One pass over the resources; every fact keeps a reference to the resource it came from (its evidence).
Malformed or unknown resources are skipped, and data dated after `now` is not yet known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
    text_of,
)
from service.screening.report_text import findings_in
from service.screening.valuesets import ICD10, ICD10CM, LOINC, SNOMED, ValueSet, classify, dxa_codes, value_set

__all__ = ["Dxa", "Evidence", "Imaging", "ImagingReport", "Measurement", "Pain", "PatientContext", "build_context"]

Side = Literal["left", "right", "bilateral"]
Region = Literal["hip", "groin", "pelvic"]
_SIDE_DIGIT: dict[str, Side] = {"1": "right", "2": "left"}
_PELVIC_SIDE_DIGIT: dict[str, Side] = {"1": "right", "2": "left", "3": "bilateral"}
_PAIN_SETS: tuple[tuple[Region, str, str], ...] = (
    ("hip", "hip_pain", "Hip pain"),
    ("groin", "groin_pain", "Groin pain"),
    ("pelvic", "pelvic_pain", "Pelvic pain"),
)
PREGNANCY_DAYS = 280
PREGNANCY_MAX_DAYS = 42 * 7

# Conditions (and symptom observations) kept by value set when active; the rules read them by name.
CODED_FINDINGS = (
    "fever",
    "bone_or_joint_infection",
    "femoral_fracture",
    "avascular_necrosis",
    "bone_neoplasm",
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
)
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
_CONVERSIONS: dict[str, dict[str, float | None]] = {
    "crp": {"mg/l": 1.0, "mg/dl": 10.0},
    "wbc": {"10*9/l": 1.0, "10^9/l": 1.0, "10*3/ul": 1.0, "10^3/ul": 1.0, "k/ul": 1.0, "/nl": 1.0, "/ul": 0.001},
    "vitamin_d": {"ng/ml": 1.0, "ug/l": 1.0, "nmol/l": 1 / 2.496},
    "esr": {"mm/h": 1.0, "mm/hr": 1.0},
    "calcium": {"mg/dl": 1.0, "mmol/l": 4.008},
    "phosphate": {"mg/dl": 1.0, "mmol/l": 3.097},
    "bmi": {"kg/m2": 1.0},
}
_ACTIVE = {"active", "recurrence", "relapse"}
_RESOLVED = {"resolved", "inactive", "remission"}
_NOT_TRUE = {"refuted", "entered-in-error"}
_VOID_STATUS = {"entered-in-error", "cancelled"}


@dataclass(frozen=True)
class Evidence:
    reference: str  # "Condition/123": what a card cites and a RiskAssessment lists as basis
    description: str  # codes and dates only, never names or identifiers
    date: datetime | None = None


@dataclass(frozen=True)
class Pain:
    evidence: Evidence
    region: Region
    side: Side | None
    onset: datetime | None


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
    findings: frozenset[str]


@dataclass
class PatientContext:
    now: datetime
    patient_id: str | None = None
    sex: str | None = None
    age_years: float | None = None
    pregnancy_evidence: list[Evidence] = field(default_factory=list)
    gestational_age_days: int | None = None
    delivery_date: datetime | None = None
    delivery_evidence: list[Evidence] = field(default_factory=list)
    lactation_evidence: list[Evidence] = field(default_factory=list)
    pains: list[Pain] = field(default_factory=list)
    coded: dict[str, list[Evidence]] = field(default_factory=dict)
    resolved_toh: list[Evidence] = field(default_factory=list)
    measurements: dict[str, list[Measurement]] = field(default_factory=dict)
    dxa: list[Dxa] = field(default_factory=list)
    imaging: list[Imaging] = field(default_factory=list)
    reports: list[ImagingReport] = field(default_factory=list)
    risk_medications: list[Evidence] = field(default_factory=list)

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
        self.deliveries: list[tuple[datetime, Evidence]] = []

    def build(self, resources: Iterable[Any]) -> PatientContext:
        resources = [r for r in resources if isinstance(r, Mapping) and isinstance(r.get("resourceType"), str)]
        for resource in resources:
            if resource["resourceType"] == "ImagingStudy":
                self._imaging_study(resource)
        handlers = {
            "Patient": self._patient,
            "Encounter": self._encounter,
            "Condition": self._condition,
            "Observation": self._observation,
            "Procedure": self._procedure,
            "DiagnosticReport": self._diagnosticreport,
            "MedicationRequest": self._medicationrequest,
            "MedicationStatement": self._medicationstatement,
        }
        for resource in resources:
            handler = handlers.get(resource["resourceType"])
            if handler is not None:
                handler(resource)
        self._settle_pregnancy()
        return self.context

    # Patient -------------------------------------------------------------------------------------------------
    def _patient(self, resource: Mapping[str, Any]) -> None:
        if self.context.patient_id is not None:
            return
        patient_id = resource.get("id")
        self.context.patient_id = patient_id if isinstance(patient_id, str) else None
        gender = resource.get("gender")
        self.context.sex = gender if isinstance(gender, str) else None
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
            if clinical in _RESOLVED and value_set("toh_diagnosis").matches(code):
                when = abated or recorded
                description = _describe(value_set("toh_diagnosis"), code, "TOH diagnosis resolved", when)
                self.context.resolved_toh.append(Evidence(reference, description, when))
            return
        self._coded(reference, code, onset, resource)

    def _coded(self, reference: str, code: Any, onset: datetime | None, resource: Mapping[str, Any]) -> None:
        """Findings of an active Condition, or of an Observation that records a finding as its code or value."""
        names = classify(code)
        if not names:
            return
        context = self.context
        if "pregnancy_condition" in names:
            description = _describe(value_set("pregnancy_condition"), code, "Pregnancy", onset, "recorded ")
            if onset is not None and (self.now - onset).days <= PREGNANCY_MAX_DAYS:
                self.pregnancy_signals.append((onset, Evidence(reference, description, onset)))
            weeks = _z3a_weeks(code)
            if weeks is not None and onset is not None:
                self.ga_estimates.append((weeks * 7, onset))
        if "postpartum_condition" in names and onset is not None:
            description = _describe(value_set("postpartum_condition"), code, "Postpartum state", onset, "from ")
            self.deliveries.append((onset, Evidence(reference, description, onset)))
        if "lactation" in names:
            context.lactation_evidence.append(
                Evidence(reference, _describe(value_set("lactation"), code, "Breastfeeding", onset, "recorded "), onset)
            )
        for region, name, label in _PAIN_SETS:
            if name in names:
                side = _side_of(resource, code)
                described = _describe(value_set(name), code, f"{label}, {side}" if side else label, onset, "onset ")
                context.pains.append(Pain(Evidence(reference, described, onset), region, side, onset))
        if "lower_limb_pain" in names and "hip_body_site" in classify(resource.get("bodySite")):
            side = _side_of(resource, code)
            label = f"Pain in the hip or thigh, {side}" if side else "Pain in the hip or thigh"
            described = _describe(value_set("lower_limb_pain"), code, label, onset, "onset ")
            context.pains.append(Pain(Evidence(reference, described, onset), "hip", side, onset))
        for name in CODED_FINDINGS:
            if name in names:
                label = name.replace("_", " ").capitalize()
                context.coded.setdefault(name, []).append(
                    Evidence(reference, _describe(value_set(name), code, label, onset), onset)
                )

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
                evidence = Evidence(
                    reference, f"Delivery date (LOINC 93857-1) {delivered.date().isoformat()}", delivered
                )
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
            description = f"Pregnancy status: pregnant (LOINC 82810-3), {when.date().isoformat()}"
            self.pregnancy_signals.append((when, Evidence(reference, description, when)))
        elif value_set("not_pregnant_answer").matches(value):
            self.negations.append(when)

    def _estimated_delivery(self, reference: str, resource: Mapping[str, Any], when: datetime | None) -> None:
        due = parse_datetime(resource.get("valueDateTime"))
        if due is None or not (self.now <= due <= self.now + timedelta(days=PREGNANCY_MAX_DAYS)):
            return
        recorded = when or due - timedelta(days=PREGNANCY_DAYS)
        description = f"Estimated delivery date (LOINC 11778-8) {due.date().isoformat()}"
        self.pregnancy_signals.append((recorded, Evidence(reference, description, recorded)))
        self.ga_estimates.append((PREGNANCY_DAYS - (due - self.now).days, self.now))

    def _gestational_age(self, reference: str, resource: Mapping[str, Any], when: datetime | None, days: bool) -> None:
        measured = quantity(resource.get("valueQuantity"))
        if measured is None or when is None or self.now - when > self.gestational_age_recent:
            return
        ga_days = round(measured[0] if days else measured[0] * 7)
        description = f"Gestational age {ga_days // 7}+{ga_days % 7} weeks, {when.date().isoformat()}"
        self.pregnancy_signals.append((when, Evidence(reference, description, when)))
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
        description = f"{name.replace('_', ' ').upper() if len(name) <= 3 else name.replace('_', ' ').capitalize()} {value:g} {unit}{day}"
        self.context.measurements.setdefault(name, []).append(
            Measurement(Evidence(reference, description, when), value, unit, when)
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
        if meta.measure == "BMD":
            description = f"DXA {site} BMD {measured[0]:g} {measured[1]} (LOINC {code}){day}"
        self.context.dxa.append(Dxa(Evidence(reference, description, when), site, meta.measure, measured[0], when))

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
            self.deliveries.append((performed, Evidence(reference, description, performed)))

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
        reference = reference_of(resource)
        when = first_date(resource, "effectiveDateTime", "effectivePeriod", "issued")
        if reference is None or status_of(resource) in _VOID_STATUS or (when is not None and when > self.now):
            return
        conclusion = resource.get("conclusion")
        text = conclusion if isinstance(conclusion, str) else ""
        text += " " + " ".join(text_of(c) for c in as_list(resource.get("conclusionCode")))
        findings = findings_in(text)
        conclusion_codes = resource.get("conclusionCode")
        for name, finding in (
            ("osteopenia", "osteopenia"),
            ("bone_marrow_oedema", "bone_marrow_oedema"),
            ("hip_effusion", "effusion"),
            ("femoral_fracture", "fracture"),
            ("avascular_necrosis", "avascular_necrosis"),
        ):
            if value_set(name).matches(conclusion_codes):
                findings.add(finding)
        modality = _modality_kind([], resource.get("code"))
        for study in as_list(resource.get("imagingStudy")):
            if isinstance(study, Mapping) and isinstance(study.get("reference"), str):
                modality = modality or self.studies.get(study["reference"])
        if not findings:
            return
        kind = {"MR": "MRI", "XR": "Radiograph", "CT": "CT", "DXA": "DXA"}.get(modality or "", "Imaging")
        shown = ", ".join(sorted(f.replace("_", " ") for f in findings if f not in ("left", "right")))
        day = f", {when.date().isoformat()}" if when else ""
        evidence = Evidence(reference, f"{kind} report: {shown}{day}", when)
        self.context.reports.append(ImagingReport(evidence, when, modality, frozenset(findings)))

    def _medicationrequest(self, resource: Mapping[str, Any]) -> None:
        self._medication(resource, "authoredOn")

    def _medicationstatement(self, resource: Mapping[str, Any]) -> None:
        self._medication(resource, "effectiveDateTime", "effectivePeriod", "dateAsserted")

    def _medication(self, resource: Mapping[str, Any], *date_fields: str) -> None:
        reference = reference_of(resource)
        if reference is None or status_of(resource) not in ("active", "completed", "on-hold", "intended"):
            return
        when = first_date(resource, *date_fields)
        concept = medication_concept(resource)
        for name, label in (("heparin", "Heparin"), ("systemic_glucocorticoid", "Systemic glucocorticoid")):
            if value_set(name).matches(concept):
                description = _describe(value_set(name), concept, label, when)
                self.context.risk_medications.append(Evidence(reference, description, when))

    # Pregnancy and delivery ----------------------------------------------------------------------------------
    def _settle_pregnancy(self) -> None:
        context = self.context
        if self.deliveries:
            delivered = max(date for date, _ in self.deliveries)
            context.delivery_date = delivered
            context.delivery_evidence = [e for d, e in self.deliveries if d == delivered]
            self.negations.append(delivered)
        # Evidence older than the latest delivery or "not pregnant" belongs to an earlier pregnancy.
        since = max(self.negations, default=None)
        context.pregnancy_evidence = [e for d, e in self.pregnancy_signals if since is None or d > since]
        if context.pregnant and self.ga_estimates:
            ga_days, at = max(self.ga_estimates, key=lambda item: (item[1], item[0]))
            context.gestational_age_days = ga_days + (self.now - at).days


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


def medication_concept(resource: Mapping[str, Any]) -> Any:
    """medicationCodeableConcept, or the code of a contained Medication that medicationReference points to."""
    concept = resource.get("medicationCodeableConcept")
    if concept is not None:
        return concept
    reference = resource.get("medicationReference")
    target = reference.get("reference") if isinstance(reference, Mapping) else None
    if isinstance(target, str) and target.startswith("#"):
        for contained in as_list(resource.get("contained")):
            if isinstance(contained, Mapping) and contained.get("id") == target[1:]:
                return contained.get("code")
    return None


def build_context(resources: Iterable[Any], now: datetime, *, gestational_age_recent_days: int = 28) -> PatientContext:
    """The context of one patient's record at `now` (timezone-aware)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return _Builder(now, timedelta(days=gestational_age_recent_days)).build(resources)
