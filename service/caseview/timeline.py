"""A TOH case as a story in time: the events of one patient's record on a pregnancy and postpartum axis.

Pure, like the screening engine it reads from: the same PatientContext the rules see, the same plain words the cards
use, and the evaluation time as an argument. service/caseview/svg.py draws it; the case page lists it as text too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from service.screening.config import DAYS_PER_MONTH, ScreeningConfig
from service.screening.context import PatientContext

__all__ = ["LANES", "Event", "Mark", "Timeline", "timeline"]

Lane = Literal["pregnancy", "pain", "imaging", "labs", "dxa", "events"]
Tone = Literal["finding", "normal", "neutral"]
# Top to bottom, with the label each lane has on the picture.
LANES: dict[Lane, str] = {
    "pregnancy": "Pregnancy",
    "pain": "Pain",
    "imaging": "Imaging",
    "labs": "Labs",
    "dxa": "DXA",
    "events": "Trauma, drugs",
}
PREGNANCY_WEEKS = 40


@dataclass(frozen=True)
class Event:
    at: datetime
    lane: Lane
    label: str  # a few words for the picture: "Left hip pain"
    detail: str  # the plain sentence the cards use: "Hip pain (left) since 2026-10-12"
    tone: Tone  # finding: abnormal or relevant; normal: a result in range; neutral: context
    reference: str  # the resource, for the evidence trail
    when: str = ""  # where on the story: "at 33+0 weeks", "3 days after delivery", "2 months postpartum"


@dataclass(frozen=True)
class Mark:
    at: datetime
    label: str  # "28 w", "Delivery", "+3 m"


@dataclass(frozen=True)
class Timeline:
    start: datetime
    end: datetime
    now: datetime
    pregnancy: tuple[datetime, datetime] | None  # from conception-equivalent (LMP) to delivery or the due date
    lactation_from: datetime | None
    marks: tuple[Mark, ...]
    events: tuple[Event, ...]  # by date
    phase: str  # "2 weeks postpartum, breastfeeding"


def _weeks(days: float) -> str:
    return f"{int(days // 7)}+{int(days % 7)} weeks"


def _phase(context: PatientContext) -> str:
    if context.pregnant and context.gestational_age_days is not None:
        return f"Pregnant, {_weeks(context.gestational_age_days)}"
    if context.pregnant:
        return "Pregnant"
    days = context.days_postpartum
    if days is not None:
        since = f"{days // 7} weeks" if days < 8 * 7 else f"{round(days / DAYS_PER_MONTH)} months"
        return f"{since} postpartum" + (", breastfeeding" if context.lactating else "")
    return "Breastfeeding" if context.lactating else "Not known to be pregnant or postpartum"


def _label_of_pain(plain: str, side: str | None) -> str:
    return f"{side.capitalize()} hip pain" if side in ("left", "right") else ("Hip pain" if side else plain)


def _events(context: PatientContext, config: ScreeningConfig) -> list[Event]:
    found: list[Event] = []
    for pain in context.pains:
        if pain.onset is not None:
            side = pain.side if isinstance(pain.side, str) else None
            label = _label_of_pain(pain.evidence.plain, side) if pain.region == "hip" else pain.evidence.plain
            found.append(Event(pain.onset, "pain", label, pain.evidence.plain, "finding", pain.evidence.reference))
    for score in context.measurements.get("pain_score", []):
        if score.at is not None:
            tone: Tone = "finding" if score.value >= config.severe_pain_score else "neutral"
            found.append(Event(score.at, "pain", f"Pain {score.value:g}/10", score.evidence.plain, tone,
                               score.evidence.reference))  # fmt: skip
    for resolved in context.resolved_toh:
        if resolved.date is not None:
            found.append(Event(resolved.date, "pain", "Resolved", resolved.plain or "TOH resolved", "normal",
                               resolved.reference))  # fmt: skip
    for report in context.reports:
        if report.at is not None:
            kind = {"MR": "MRI", "XR": "X-ray", "CT": "CT", "DXA": "DXA"}.get(report.modality or "", "Imaging")
            healing = report.findings <= {"resolution", "left", "right", "bilateral"}
            found.append(Event(report.at, "imaging", kind, report.evidence.plain, "normal" if healing else "finding",
                               report.evidence.reference))  # fmt: skip
    for name, label in (("crp", "CRP"), ("wbc", "WBC"), ("vitamin_d", "Vitamin D"), ("esr", "ESR")):
        for measured in context.measurements.get(name, []):
            if measured.at is None:
                continue
            if name == "crp":
                tone = "normal" if measured.value < config.crp_normal_below_mg_per_l else "finding"
            elif name == "vitamin_d":
                tone = "finding" if measured.value < config.vitamin_d_low_ng_per_ml else "normal"
            else:
                tone = "neutral"
            found.append(Event(measured.at, "labs", f"{label} {measured.value:g}", measured.evidence.plain, tone,
                               measured.evidence.reference))  # fmt: skip
    for scan in context.dxa:
        if scan.at is not None:
            tone = "finding" if scan.measure == "Z" and scan.value <= config.z_score_low else "neutral"
            site = {"femoral-neck": "Hip", "total-hip": "Hip", "lumbar-spine": "Spine"}.get(scan.site, "")
            label = f"{site} {scan.measure} {scan.value:g}".strip() if scan.measure != "BMD" else f"{site} BMD"
            found.append(Event(scan.at, "dxa", label, scan.evidence.plain, tone, scan.evidence.reference))
    for evidence in context.delivery_evidence:
        if evidence.date is not None:
            found.append(Event(evidence.date, "pregnancy", "Delivery", evidence.plain, "neutral", evidence.reference))
    for evidence in context.lactation_evidence[:1]:
        if evidence.date is not None:
            found.append(Event(evidence.date, "pregnancy", "Breastfeeding", evidence.plain or "Breastfeeding",
                               "neutral", evidence.reference))  # fmt: skip
    if context.due_date is not None and context.pregnancy_evidence:
        due = context.pregnancy_evidence[0]
        found.append(Event(context.due_date, "pregnancy", "Due", f"Due {context.due_date.date().isoformat()}",
                           "neutral", due.reference))  # fmt: skip
    for evidence in context.coded.get("trauma", []):
        if evidence.date is not None:
            found.append(Event(evidence.date, "events", "Trauma", evidence.plain or "Trauma", "finding",
                               evidence.reference))  # fmt: skip
    for evidence in context.risk_medications:
        if evidence.date is not None:
            found.append(Event(evidence.date, "events", evidence.plain.split(" from ")[0], evidence.plain, "neutral",
                               evidence.reference))  # fmt: skip
    return sorted(found, key=lambda event: (event.at, event.lane))


def _pregnancy_began(context: PatientContext) -> datetime | None:
    """Week 0 of gestation: from the gestational age, else from the due date of this (or the delivered) pregnancy."""
    if context.pregnancy_start is not None:
        return context.pregnancy_start
    due = context.due_date
    if due is None and context.delivery_date is not None:  # the due date of the pregnancy that ended then
        delivered = context.delivery_date
        near = [d for d in context.recorded_due_dates if abs((d - delivered).days) <= 8 * 7]
        due = max(near, default=None)
    return due - timedelta(weeks=PREGNANCY_WEEKS) if due is not None else None


def _marks(context: PatientContext, start: datetime, end: datetime) -> list[Mark]:
    marks: list[Mark] = []
    began, delivered = _pregnancy_began(context), context.delivery_date
    if began is not None:
        for week in range(4, PREGNANCY_WEEKS + 3, 4):
            at = began + timedelta(weeks=week)
            if start <= at <= end and (delivered is None or at < delivered - timedelta(days=14)):
                marks.append(Mark(at, f"{week} w"))
    if delivered is not None:
        marks.append(Mark(delivered, "Delivery"))
        month = 1
        while (at := delivered + timedelta(days=month * DAYS_PER_MONTH)) <= end:
            marks.append(Mark(at, f"+{month} m"))
            month += 1 if month < 6 else 3
    if not marks:  # no pregnancy to measure against: calendar months
        at = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        while at <= end:
            if at >= start:
                marks.append(Mark(at, at.strftime("%b %Y")))
            at = (at + timedelta(days=32)).replace(day=1)
    return marks


def _when(at: datetime, began: datetime | None, delivered: datetime | None) -> str:
    if delivered is not None and at >= delivered:
        days = (at - delivered).days
        if days == 0:
            return "at delivery"
        if days < 8 * 7:
            return f"{days} days after delivery" if days < 14 else f"{days // 7} weeks after delivery"
        return f"{round(days / DAYS_PER_MONTH)} months postpartum"
    if began is not None and at >= began:
        return f"at {_weeks((at - began).days)}"
    return ""


def timeline(context: PatientContext, config: ScreeningConfig | None = None) -> Timeline:
    config = config or ScreeningConfig()
    began = _pregnancy_began(context)
    delivered = context.delivery_date
    events = [replace(event, when=_when(event.at, began, delivered)) for event in _events(context, config)]
    pregnancy_end = delivered or context.due_date
    dates = [event.at for event in events] + [context.now] + ([delivered] if delivered else [])
    if began is not None:  # from the third trimester on, unless the story starts earlier
        dates.append(min(began + timedelta(weeks=26), pregnancy_end or context.now))
    start, end = min(dates), max(dates)
    span = max(end - start, timedelta(days=28))
    start, end = start - span * 0.04, end + span * 0.04
    pregnancy = (max(began, start), min(pregnancy_end, end)) if began and pregnancy_end else None
    lactation = [evidence.date for evidence in context.lactation_evidence if evidence.date is not None]
    lactation_from = min(lactation, default=None) if context.lactating else None
    if lactation_from is None and context.lactating:
        lactation_from = delivered
    return Timeline(start, end, context.now, pregnancy, lactation_from, tuple(_marks(context, start, end)),
                    tuple(events), _phase(context))  # fmt: skip
