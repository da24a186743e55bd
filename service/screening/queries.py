"""The record queries: what one patient's record is fetched with, for the CDS prefetch templates and for the
workers' searches alike, so that both read the same record.

Templates use only `{{context.patientId}}`, a token every one of our hooks allows, and plain search parameters.
Observations are filtered to the LOINC codes the screening reads; non-LOINC findings come from Conditions.
"""

from __future__ import annotations

from urllib.parse import quote

from service.screening.report_sources import RADIOLOGY_NOTE_CODES
from service.screening.valuesets import observation_loinc_codes

__all__ = ["PREFETCH", "render_prefetch"]


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
    # Radiology notes (clinical.md 2.8: a red flag stated only in the full report must still fire), by their LOINC
    # document type, so that other notes and their attachments are not fetched.
    "documentReferences": "DocumentReference?patient={{context.patientId}}&type="
    + ",".join(f"http://loinc.org|{code}" for code in sorted(RADIOLOGY_NOTE_CODES))
    + "&_count=50",
}


def render_prefetch(template: str, patient_id: str) -> str:
    """A prefetch template as a query for one patient (the only token our templates use)."""
    return template.replace("{{context.patientId}}", quote(patient_id, safe=""))
