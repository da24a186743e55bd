"""Clinical thresholds of the screening. Every one needs local clinical sign-off; the API and the workers read them
from `TOH_SCREENING__<FIELD>` settings (e.g. `TOH_SCREENING__CRP_MG_PER_L=40`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DAYS_PER_MONTH", "ScreeningConfig"]

DAYS_PER_MONTH = 30.44  # a mean calendar month
_SIGNED = {"z_score_low"}  # the only threshold that is negative


@dataclass(frozen=True)
class ScreeningConfig:
    postpartum_window_days: int = 365  # P2: delivery to now
    lactation_extension_months: int = 24  # P3 extends P2 this far while breastfeeding; 0 disables it
    lactation_status_months: int = 6  # P3: a breastfeeding entry older than this, with none newer, is "unknown"
    third_trimester_weeks: int = 28  # S1 and trimester: GA >= 28+0 weeks (ACOG convention)
    early_postpartum_days: int = 91  # S1: onset within about 3 months of delivery
    crp_mg_per_l: float = 50.0  # R1: CRP at or above
    wbc_10e9_per_l: float = 15.0  # R1 (supporting only, pregnancy-adjusted): WBC above
    fever_celsius: float = 38.0  # R1: body temperature at or above
    trauma_lookback_days: int = 28  # R5: injury or fall within this many days before pain onset
    resolution_scores_days: int = 14  # A/B close on two pain scores of 0-1 at least this many days apart
    acute_lookback_days: int = 14  # R1: fever, CRP and WBC count when this recent
    gestational_age_recent_days: int = 28  # P1: a GA observation counts this long
    dxa_lookback_days: int = 90  # F: a DXA result this recent gets its interpretation card
    recent_findings_days: int = 90  # B: an MRI older than this turns the card to follow-up
    postpartum_crp_days: int = 7  # R1: CRP alone is no red flag this soon after delivery
    toh_card_max_months: int = 12  # A/B close after this long from onset
    age_min: int = 15  # P4
    age_max: int = 50  # P4
    severe_pain_score: int = 7  # S2: pain score (0-10) at or above
    vitamin_d_low_ng_per_ml: float = 20.0  # S6: 25-OH vitamin D below
    bmi_low: float = 18.5  # S6: BMI below
    crp_normal_below_mg_per_l: float = 10.0  # S5: CRP below this is normal
    z_score_low: float = -2.0  # S8, F, G: DXA Z-score at or below is below the expected range (ISCD)
    premenopausal_age_below: int = 50  # F: a woman this young with no menopause code is read as premenopausal
    # The EHR's own orderable for the suggested MRI (both hips and pelvis without contrast), sent beside LOINC and CPT
    # where an EHR needs it: a code system URI and a code, both or neither.
    mri_local_system: str = ""
    mri_local_code: str = ""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, int | float) and value < 0 and name not in _SIGNED:
                raise ValueError(f"{name} must not be negative")
        if self.age_min > self.age_max:
            raise ValueError("age_min must not exceed age_max")
        if bool(self.mri_local_system) != bool(self.mri_local_code):
            raise ValueError("mri_local_system and mri_local_code go together: set both or neither")

    @property
    def lactation_extension_days(self) -> int:
        return round(self.lactation_extension_months * DAYS_PER_MONTH)
