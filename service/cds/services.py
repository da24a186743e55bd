"""The three CDS services and what they prefetch (https://cds-hooks.hl7.org/2.0/#discovery): the record queries of
`service.screening.queries`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.screening.queries import PREFETCH

__all__ = ["SERVICES", "CdsService", "discovery"]


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
