"""The one MRI the service suggests (clinical.md 2.8): both hips and pelvis without contrast, LOINC 30671-2 with CPT
72195, and the EHR's own orderable code where settings give one. "Avoid gadolinium" is said in pregnancy only."""

from __future__ import annotations

from service.screening.advice import Phase
from service.screening.assessment import ProposedOrder
from service.screening.config import ScreeningConfig

__all__ = ["MRI_CPT", "MRI_DISPLAY", "MRI_LOINC", "mri_order"]

MRI_LOINC = "30671-2"
MRI_CPT = "72195"
MRI_DISPLAY = "MRI of both hips and pelvis without contrast"


def mri_order(
    config: ScreeningConfig, phase: Phase, reasons: tuple[str, ...] = (), replaces: str | None = None
) -> ProposedOrder:
    local = (config.mri_local_system, config.mri_local_code) if config.mri_local_code else None
    note = (
        "Without contrast: avoid gadolinium in pregnancy (ACOG 723)." if phase == "pregnancy" else "Without contrast."
    )
    return ProposedOrder(MRI_LOINC, MRI_DISPLAY, replaces, reasons, MRI_CPT, local, note)
