"""Population rules P0-P4 (clinical.md 2.2, 2.7 and 2.8): who is screened, and in which phase."""

from __future__ import annotations

from datetime import timedelta

from service.screening.config import DAYS_PER_MONTH
from service.screening.context import Evidence
from service.screening.evaluation import Evaluation

__all__ = ["in_population"]


def in_population(ev: Evaluation) -> bool:
    c, config = ev.c, ev.config
    patient = [Evidence(f"Patient/{c.patient_id}", f"Sex: {c.sex}")] if c.patient_id else []
    if c.sex != "female":
        return False
    ev.fire("P0", patient)
    if c.age_years is not None and not (config.age_min <= c.age_years <= config.age_max):
        return False
    ev.fire("P4", patient, None if c.age_years else "Age not recorded")
    pregnant = c.pregnant
    if pregnant:
        ga = c.gestational_age_days
        label = f"Pregnant, {ga // 7}+{ga % 7} weeks" if ga is not None else "Pregnant"
        ev.fire("P1", c.pregnancy_evidence, label)
    count = c.days_postpartum
    postpartum = count is not None and 0 <= count <= config.postpartum_window_days and not pregnant
    if postpartum:
        ev.fire("P2", c.delivery_evidence, f"Postpartum, {count} days since delivery")
    elif count is None and not pregnant and (puerperal := _recent_puerperium(ev)):
        # A puerperal code says she delivered, not when (clinical.md 2.8): postpartum, the delivery date unknown.
        postpartum = True
        ev.fire("P2", puerperal, "Postpartum; delivery date not recorded")
    lactation = _current_lactation(ev)
    extended = bool(lactation) and config.lactation_extension_days > 0 and not pregnant
    if lactation:
        newest = max((e.date for e in lactation if e.date is not None), default=None)
        status_age = timedelta(days=round(config.lactation_status_months * DAYS_PER_MONTH))
        ev.breastfeeding_unknown = newest is not None and ev.now - newest > status_age
        label = "Breastfeeding" + (" (extends the postpartum window)" if extended and not postpartum else "")
        if ev.breastfeeding_unknown:
            label += f"; last recorded over {config.lactation_status_months} months ago: status unknown"
        ev.fire("P3", lactation, label)
    ev.phase = "pregnancy" if pregnant else ("lactation" if lactation else "postpartum")
    return pregnant or postpartum or extended


def _recent_puerperium(ev: Evaluation) -> list[Evidence]:
    since = ev.now - timedelta(days=ev.config.postpartum_window_days)
    return [e for e in ev.c.puerperium_evidence if e.date is not None and e.date >= since]


def _current_lactation(ev: Evaluation) -> list[Evidence]:
    """Breastfeeding evidence that still holds (clinical.md 2.7, P3 expiry): within the lactation extension of a
    known delivery, or, with no delivery date, recorded within the extension itself."""
    c, config = ev.c, ev.config
    horizon = config.lactation_extension_days or config.postpartum_window_days
    if not c.lactation_evidence:
        return []
    if c.days_postpartum is not None:
        return list(c.lactation_evidence) if c.days_postpartum <= horizon else []
    since = ev.now - timedelta(days=horizon)
    return [e for e in c.lactation_evidence if e.date is not None and e.date >= since]
