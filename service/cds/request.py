"""A CDS Hooks 2.0 request, read and checked (https://cds-hooks.hl7.org/2.0/#calling-a-cds-service).

The body is read with a size limit, parsed once (pydantic's JSON parser, so prefetch arrives as plain dicts), and
checked against the service's hook. Error messages never repeat the input: it may carry a token or PHI.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from uuid import UUID

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from service.cds.services import CdsService
from service.core.errors import ProblemError, validation_messages

__all__ = ["FhirAuthorization", "HookRequest", "parse_hook_request"]

log = structlog.get_logger("toh.http")
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class FhirAuthorization(BaseModel):
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str
    subject: str
    patient: str | None = None

    def __repr__(self) -> str:  # never print the token, not even in a traceback
        return f"FhirAuthorization(subject={self.subject!r}, scope={self.scope!r})"

    __str__ = __repr__


class HookRequest(BaseModel):
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    hook: str
    hookInstance: UUID
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None

    @field_validator("fhirServer")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @property
    def patient_id(self) -> str:
        value: str = self.context["patientId"]
        return value

    @property
    def draft_orders(self) -> list[dict[str, Any]]:
        bundle = self.context.get("draftOrders") or {}
        return [
            e["resource"]
            for e in bundle.get("entry", [])
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]


def _check_context(service: CdsService, context: dict[str, Any]) -> list[str]:
    problems = [
        f"context.{name} is required for {service.hook}" for name in service.required_context if name not in context
    ]
    for name in ("userId", "patientId", "encounterId"):
        if name in context and not isinstance(context[name], str):
            problems.append(f"context.{name} must be a string")
    if isinstance(context.get("patientId"), str) and not FHIR_ID.fullmatch(context["patientId"]):
        problems.append("context.patientId is not a valid FHIR id")
    if "draftOrders" in context:
        bundle = context["draftOrders"]
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            problems.append("context.draftOrders must be a FHIR Bundle")
        elif not isinstance(bundle.get("entry", []), list):
            problems.append("context.draftOrders.entry must be an array")
    if "selections" in context:
        selections = context["selections"]
        if not isinstance(selections, list) or not all(isinstance(item, str) for item in selections):
            problems.append("context.selections must be an array of Type/id references")
    return problems


def parse_hook_request(service: CdsService, body: bytes) -> HookRequest:
    try:
        hook_request = HookRequest.model_validate_json(body)
    except ValidationError as exc:
        raise ProblemError(400, *validation_messages(exc.errors())) from None
    problems = []
    if hook_request.hook != service.hook:
        problems.append(f"hook does not match this service, which answers {service.hook}")
    if hook_request.fhirAuthorization is not None and hook_request.fhirServer is None:
        problems.append("fhirServer is required when fhirAuthorization is present (cds-r-1)")
    problems += _check_context(service, hook_request.context)
    if problems:
        raise ProblemError(400, *problems)
    return hook_request
