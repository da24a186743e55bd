"""What we write is checked before it leaves: every resource the service PUTs (RiskAssessment, Provenance,
Subscription, topics, loaded Bundles) is validated with the fhir.resources R4B model of its type. A wrong write is
refused here with the fields at fault, instead of by the server (or, worse, accepted). Reads stay on plain dicts."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from service.fhir.errors import PermanentFhirError

__all__ = ["InvalidResource", "validated"]


class InvalidResource(PermanentFhirError):
    """A resource we built is not valid FHIR R4: a bug of ours, kept as a dead letter rather than retried."""


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    kind = resource.get("resourceType")
    try:
        model = get_fhir_model_class(str(kind))
    except (KeyError, ValueError):
        raise InvalidResource(f"not a FHIR R4 resource type: {kind!r}") from None
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['type']}" for e in exc.errors()[:5])
        raise InvalidResource(f"{kind}/{resource.get('id')} is not valid FHIR R4 ({fields})") from None
    return resource
