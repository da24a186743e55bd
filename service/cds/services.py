"""The three CDS services and what they prefetch (https://cds-hooks.hl7.org/2.0/#discovery).

Templates use only `{{context.patientId}}`, a token every one of these hooks allows, and plain search parameters.
Observations are filtered to the LOINC codes the screening reads; non-LOINC findings come from Conditions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from service.screening.valuesets import observation_loinc_codes

__all__ = ["PREFETCH", "SERVICES", "CdsService", "discovery", "render_prefetch"]


def _observation_query() -> str:
    codes = ",".join(f"http://loinc.org|{code}" for code in observation_loinc_codes())
    return f"Observation?patient={{{{context.patientId}}}}&code={codes}&_count=200"


PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}&_count=200",
    "observations": _observation_query(),
    "procedures": "Procedure?patient={{context.patientId}}&_count=100",
    "encounters": "Encounter?patient={{context.patientId}}&_count=100",
    "imagingStudies": "ImagingStudy?patient={{context.patientId}}&_count=100",
    "diagnosticReports": "DiagnosticReport?patient={{context.patientId}}&_count=100",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}&_count=100",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}&_count=100",
}


def render_prefetch(template: str, patient_id: str) -> str:
    """A prefetch template as a query for one patient (the only token our templates use)."""
    return template.replace("{{context.patientId}}", quote(patient_id, safe=""))


@dataclass(frozen=True)
class CdsService:
    id: str
    hook: str
    title: str
    description: str
    required_context: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": PREFETCH,
            "usageRequirements": "Send a JWT signed by a registered issuer. Grant read access to the prefetched "
            "resource types through fhirAuthorization for whatever prefetch you do not send.",
        }


SERVICES: dict[str, CdsService] = {
    service.id: service
    for service in (
        CdsService(
            "toh-patient-view",
            "patient-view",
            "Transient osteoporosis of the hip: screening",
            "Screens pregnant, postpartum and breastfeeding women with hip or groin pain for transient osteoporosis "
            "of the hip, and raises red flags (infection, fracture, avascular necrosis, tumour, trauma) first.",
            ("userId", "patientId"),
        ),
        CdsService(
            "toh-order-select",
            "order-select",
            "Transient osteoporosis of the hip: order advice",
            "While orders are selected: MRI instead of ionising hip imaging in pregnancy, no antiresorptives in "
            "pregnancy or lactation, and the patient's TOH or red-flag card.",
            ("userId", "patientId", "selections", "draftOrders"),
        ),
        CdsService(
            "toh-order-sign",
            "order-sign",
            "Transient osteoporosis of the hip: order check at signing",
            "Before orders are signed: MRI instead of ionising hip imaging in pregnancy, no antiresorptives in "
            "pregnancy or lactation, and the patient's TOH or red-flag card.",
            ("userId", "patientId", "draftOrders"),
        ),
    )
}


def discovery() -> dict[str, Any]:
    return {"services": [service.as_json() for service in SERVICES.values()]}
