"""Defensive readers over FHIR R4 JSON dicts.

Screening reads a handful of fields from each resource. Validating whole resources with fhir.resources costs
about 150 µs each, so the hot path reads the dicts directly and treats anything malformed as absent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "Coding",
    "as_list",
    "codings",
    "first_date",
    "own_resources",
    "parse_datetime",
    "patient_of",
    "patient_reference",
    "quantity",
    "reference_id",
    "reference_of",
    "status_of",
    "text_of",
]

Coding = tuple[str, str]  # (system, code)
Resource = Mapping[str, Any]

_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$"
)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if type(value) is list else [value]


def codings(concepts: Any) -> Iterator[Coding]:
    """(system, code) pairs of one CodeableConcept, a list of them, a Coding or a list of Codings."""
    # JSON gives plain dicts and lists; exact type checks keep this hot loop fast.
    for concept in as_list(concepts):
        if type(concept) is not dict:
            continue
        if "coding" in concept:
            for coding in as_list(concept["coding"]):
                if type(coding) is dict:
                    system, code = coding.get("system"), coding.get("code")
                    if type(system) is str and type(code) is str:
                        yield system, code
        else:
            system, code = concept.get("system"), concept.get("code")
            if type(system) is str and type(code) is str:
                yield system, code


def status_of(resource: Mapping[str, Any]) -> str | None:
    """A resource's `status` code, or None when it is missing or not a string."""
    status = resource.get("status")
    return status if isinstance(status, str) else None


def text_of(concept: Any) -> str:
    """Free text of a CodeableConcept (text, then displays); used only for report narrative, never to match."""
    if not isinstance(concept, Mapping):
        return ""
    parts = [concept.get("text")] + [c.get("display") for c in as_list(concept.get("coding")) if isinstance(c, Mapping)]
    return " ".join(part for part in parts if isinstance(part, str))


def parse_datetime(value: Any) -> datetime | None:
    """FHIR date, dateTime or instant, at any precision; a missing zone is taken as UTC."""
    if not isinstance(value, str):
        return None
    if len(value) >= 10 and value[4] == "-" and value[7] == "-":  # full dates and dateTimes: the C parser
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    match = _DATE.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        parsed = datetime(
            int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=UTC
        )
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset_minutes = sign * (int(zone[1:3]) * 60 + int(zone[4:6]))
        parsed -= timedelta(minutes=offset_minutes)
    return parsed


def first_date(resource: Resource, *fields: str) -> datetime | None:
    """The first parseable date among fields; `xPeriod` fields give their start (else end)."""
    for field in fields:
        value = resource.get(field)
        if isinstance(value, Mapping):
            parsed = parse_datetime(value.get("start")) or parse_datetime(value.get("end"))
        else:
            parsed = parse_datetime(value)
        if parsed is not None:
            return parsed
    return None


def quantity(value: Any) -> tuple[float, str] | None:
    """(value, UCUM code or unit) of a Quantity; None when the number is missing or not a number."""
    if not isinstance(value, Mapping):
        return None
    number = value.get("value")
    if isinstance(number, bool) or not isinstance(number, int | float):
        return None
    unit = value.get("code") or value.get("unit") or ""
    return float(number), unit if isinstance(unit, str) else ""


def reference_of(resource: Resource) -> str | None:
    """`Type/id` of a resource, the form evidence and card actions use."""
    resource_type, resource_id = resource.get("resourceType"), resource.get("id")
    if isinstance(resource_type, str) and isinstance(resource_id, str) and resource_id:
        return f"{resource_type}/{resource_id}"
    return None


def reference_id(reference: Any) -> str | None:
    """The id in a Reference to a Patient (`Patient/123`, an absolute URL, or `urn:uuid:…`)."""
    if not isinstance(reference, Mapping):
        return None
    value = reference.get("reference")
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("urn:uuid:"):
        return value[len("urn:uuid:") :]
    parts = value.rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return parts[-1] if parts else None


def patient_of(resource: Mapping[str, Any] | None) -> str | None:
    """The id of the patient a resource is about: a Patient itself, or its `subject` / `patient` reference."""
    if not resource:
        return None
    if resource.get("resourceType") == "Patient":
        return resource["id"] if isinstance(resource.get("id"), str) else None
    for field in ("subject", "patient"):
        reference = resource.get(field)
        if patient_reference(reference):
            return reference_id(reference)
    return None


def patient_reference(reference: Any) -> bool:
    """Whether a Reference points to a Patient (`Patient/123` or an absolute URL of one), not to a Group or else."""
    target = reference.get("reference") if isinstance(reference, Mapping) else None
    return isinstance(target, str) and (target.startswith("Patient/") or "/Patient/" in target)


def _about_patient(resource: Mapping[str, Any], patient_id: str) -> bool:
    if resource.get("resourceType") == "Patient":
        return resource.get("id") == patient_id
    for field in ("subject", "patient"):
        if field in resource:
            return reference_id(resource[field]) == patient_id
    return True  # about no patient (Medication, Practitioner, ...): usable by anyone's record


def own_resources(resources: list[dict[str, Any]], patient_id: str) -> tuple[list[dict[str, Any]], int]:
    """The resources of `patient_id`'s record that may be evidence for that patient, and how many were dropped
    because they are about someone else (a Patient with another id, or a `subject`/`patient` that does not point to
    this patient). A FHIR server or a CDS Client that answers with another patient's data must never produce cards
    or a RiskAssessment from it; the hooks and the workers both read a record through here."""
    own = [resource for resource in resources if _about_patient(resource, patient_id)]
    return own, len(resources) - len(own)
