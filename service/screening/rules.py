"""The screening rules of clinical.md section 2, version 2 (section 2.7 where it differs): population P0-P4,
triggers T1-T3, supporting findings S1-S8, red flags R1-R6, DXA interpretation (card F) and pregnancy- or
lactation-associated osteoporosis (card G). Pure: a context and a config in, an Assessment out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from service.screening import advice
from service.screening.advice import Phase
from service.screening.assessment import Assessment, Indicator, Outcome, ProposedOrder, RuleHit
from service.screening.config import DAYS_PER_MONTH, ScreeningConfig
from service.screening.context import PREGNANCY_DAYS, PREGNANCY_MAX_DAYS, Evidence, Pain, PatientContext
from service.screening.registry import RED_FLAG_CARDS, RULES, Topic

__all__ = ["MRI_HIP", "MRI_PELVIS_AND_HIPS", "RULES_VERSION", "ago", "assess"]

RULES_VERSION = "2026.12.2"  # rules version 2: clinical.md 2.7
MAX_REASONS = 5

MRI_HIP = ProposedOrder("30687-8", "MR Hip WO contrast")
MRI_PELVIS_AND_HIPS = ProposedOrder("30671-2", "MR Pelvis and Hip WO contrast")
_PHASE_RULES = ("P1", "P2", "P3")


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400


def ago(when: datetime | None, now: datetime) -> str:
    """ "today", "3 days ago", "5 weeks ago", "9 months ago": how old a finding is, as a clinician says it."""
    if when is None:
        return ""
    days = int(_days(now - when))
    if days <= 0:
        return "today"
    if days < 14:
        return f"{days} day{'s' if days > 1 else ''} ago"
    if days < 63:
        return f"{days // 7} weeks ago"
    months = round(days / DAYS_PER_MONTH)
    return f"{months} months ago" if months < 24 else f"{days // 365} years ago"


class _Rules:
    def __init__(self, context: PatientContext, config: ScreeningConfig) -> None:
        self.c = context
        self.config = config
        self.now = context.now
        self.hits: list[RuleHit] = []
        self.phase: Phase = "postpartum"

    def fire(self, rule: str, evidence: Iterable[Evidence], label: str | None = None) -> RuleHit:
        """Record that `rule` fired on `evidence`; its label and sources come from the registry."""
        declared = RULES[rule]
        hit = RuleHit(rule, label or declared.label, self.ordered(evidence), declared.sources)
        self.hits.append(hit)
        return hit

    def ordered(self, evidence: Iterable[Evidence]) -> tuple[Evidence, ...]:
        """Canonical order (oldest first), so the same record in any order gives the same card."""
        return tuple(sorted(set(evidence), key=lambda e: (e.date is not None, e.date or self.now, e.reference, e.description)))  # fmt: skip

    def reason(self, evidence: Evidence) -> str:
        age = ago(evidence.date, self.now)
        return f"{evidence.plain} ({age})" if age and evidence.plain else evidence.plain

    # Population ------------------------------------------------------------------------------------------------
    def population(self) -> bool:
        c, config = self.c, self.config
        patient = [Evidence(f"Patient/{c.patient_id}", f"Sex: {c.sex}")] if c.patient_id else []
        if c.sex != "female":
            return False
        self.fire("P0", patient)
        if c.age_years is not None and not (config.age_min <= c.age_years <= config.age_max):
            return False
        self.fire("P4", patient, None if c.age_years else "Age not recorded")
        pregnant = c.pregnant
        if pregnant:
            ga = c.gestational_age_days
            label = f"Pregnant, {ga // 7}+{ga % 7} weeks" if ga is not None else "Pregnant"
            self.fire("P1", c.pregnancy_evidence, label)
        days = c.days_postpartum
        postpartum = days is not None and 0 <= days <= config.postpartum_window_days and not pregnant
        if postpartum:
            self.fire("P2", c.delivery_evidence, f"Postpartum, {days} days since delivery")
        lactation = self._current_lactation()
        extended = bool(lactation) and config.lactation_extension_days > 0 and not pregnant
        if lactation:
            label = "Breastfeeding" + (" (extends the postpartum window)" if extended and not postpartum else "")
            self.fire("P3", lactation, label)
        self.phase = "pregnancy" if pregnant else ("lactation" if lactation else "postpartum")
        return pregnant or postpartum or extended

    def _current_lactation(self) -> list[Evidence]:
        """Breastfeeding evidence that still holds (clinical.md 2.7, P3 expiry): within the lactation extension of a
        known delivery, or, with no delivery date, recorded within the extension itself."""
        c, config = self.c, self.config
        horizon = config.lactation_extension_days or config.postpartum_window_days
        if not c.lactation_evidence:
            return []
        if c.days_postpartum is not None:
            return list(c.lactation_evidence) if c.days_postpartum <= horizon else []
        since = self.now - timedelta(days=horizon)
        return [e for e in c.lactation_evidence if e.date is not None and e.date >= since]

    def window_start(self) -> datetime:
        """Earliest onset that counts as new pain (T2): the start of this pregnancy."""
        c = self.c
        if c.pregnancy_start is not None:
            return c.pregnancy_start
        if c.pregnant:  # known from a Condition or a status only: no earlier than 42 weeks ago (clinical.md 2.7)
            earliest = self.now - timedelta(days=PREGNANCY_MAX_DAYS)
            return max(earliest, c.pregnancy_began) if c.pregnancy_began else earliest
        if c.delivery_date is not None:
            return c.delivery_date - timedelta(days=PREGNANCY_DAYS)
        return self.now - timedelta(days=self.config.lactation_extension_days + PREGNANCY_DAYS)

    def _recent(self, pain: Pain) -> bool:
        return pain.onset is None or self.window_start() <= pain.onset <= self.now

    # Triggers --------------------------------------------------------------------------------------------------
    def triggers(self) -> tuple[list[Pain], list[Pain]]:
        hip = [p for p in self.c.pains if p.region in ("hip", "groin") and self._recent(p)]
        pelvic = [p for p in self.c.pains if p.region == "pelvic" and self._recent(p)]
        if hip:
            self.fire("T1", [p.evidence for p in hip])
            self.fire("T2", [p.evidence for p in hip])
        diagnosed = self.c.coded.get("toh_diagnosis", [])
        if diagnosed and not hip:
            self.fire("T1", diagnosed, "Transient osteoporosis of the hip diagnosed")
        if pelvic and not hip and not diagnosed:
            alternatives = self.c.coded.get("symphysis_dysfunction", []) + self.c.coded.get("meralgia_paresthetica", [])
            if alternatives:
                self.fire("R6", alternatives)
                pelvic = []
            else:
                self.fire("T3", [p.evidence for p in pelvic])
        return hip, pelvic

    # Red flags -------------------------------------------------------------------------------------------------
    def red_flags(self, pains: list[Pain]) -> list[tuple[str, Indicator, bool]]:
        """(rule, indicator, trauma after onset) of every red flag that fires."""
        c = self.c
        flags: list[tuple[str, Indicator, bool]] = []
        fracture = c.coded.get("femoral_fracture", []) + [r.evidence for r in c.reports if "fracture" in r.findings]
        if fracture:
            self.fire("R2", fracture)
            flags.append(("R2", "critical", False))
        avn = c.coded.get("avascular_necrosis", []) + [
            r.evidence for r in c.reports if "avascular_necrosis" in r.findings
        ]
        if avn:
            self.fire("R3", avn)
            flags.append(("R3", "warning", False))
        if not pains:
            return flags
        infection = self._infection()
        if infection is not None:
            flags.append(("R1", infection, False))
        neoplasm = c.coded.get("bone_neoplasm", []) + c.coded.get("malignant_neoplasm", [])
        if neoplasm:
            self.fire("R4", neoplasm)
            flags.append(("R4", "warning", False))
        if not any(rule == "R2" for rule, _, _ in flags):
            onset = min((p.onset for p in pains if p.onset is not None), default=self.now)
            since = onset - timedelta(days=self.config.trauma_lookback_days)
            trauma = [e for e in c.coded.get("trauma", []) if e.date is None or since <= e.date <= self.now]
            if trauma:
                after = all(e.date is not None and e.date > onset for e in trauma)
                self.fire("R5", trauma, "Trauma after the pain began" if after else "Trauma before the pain began")
                flags.append(("R5", "warning", after))
        return flags

    def _infection(self) -> Indicator | None:
        """R1 graded (clinical.md 2.7): critical for coded infection, or fever with CRP >= 50 or WBC > 15; warning
        for CRP or fever alone. CRP alone within a week of delivery is physiological, not a red flag."""
        c, config = self.c, self.config
        acute = self.now - timedelta(days=config.acute_lookback_days)
        coded = list(c.coded.get("bone_or_joint_infection", []))
        fever = [e for e in c.coded.get("fever", []) if e.date is None or e.date >= acute]
        fever += [m.evidence for m in c.measurements.get("body_temperature", []) if m.value >= config.fever_celsius and _after(m.at, acute)]  # fmt: skip
        crp = [m for m in c.measurements.get("crp", []) if m.value >= config.crp_mg_per_l and _after(m.at, acute)]
        wbc = [m.evidence for m in c.measurements.get("wbc", []) if m.value > config.wbc_10e9_per_l and _after(m.at, acute)]  # fmt: skip
        delivered = c.delivery_date
        crp_alone = [
            m.evidence
            for m in crp
            if delivered is None or m.at is None or not (0 <= _days(m.at - delivered) < config.postpartum_crp_days)
        ]
        if coded or (fever and (crp or wbc)):
            self.fire(
                "R1",
                coded + fever + [m.evidence for m in crp] + wbc,
                "Infection: fever with raised inflammatory markers",
            )
            return "critical"
        if fever or crp_alone:
            self.fire("R1", fever + crp_alone, "Fever or raised CRP")
            return "warning"
        return None

    # Resolution ------------------------------------------------------------------------------------------------
    def resolved(self, pains: list[Pain]) -> bool:
        c = self.c
        onsets = [p.onset for p in pains if p.onset is not None]
        last_onset = max(onsets, default=None)
        evidence = list(c.resolved_toh)
        score = c.latest("pain_score")
        if score is not None and score.value == 0 and _after(score.at, last_onset):
            evidence.append(score.evidence)
        dated = sorted(
            (r for r in c.reports if r.at is not None), key=lambda r: (r.at or self.now, r.evidence.reference)
        )
        if dated and "resolution" in dated[-1].findings and "bone_marrow_oedema" not in dated[-1].findings:
            evidence.append(dated[-1].evidence)
        max_age = timedelta(days=round(self.config.toh_card_max_months * DAYS_PER_MONTH))
        expired = bool(onsets) and all(self.now - onset > max_age for onset in onsets)
        if evidence or expired:
            label = "Resolved" if evidence else f"More than {self.config.toh_card_max_months} months since onset"
            self.fire("resolved", evidence, label)
            return True
        return False

    # Supporting findings ---------------------------------------------------------------------------------------
    def supporting(self, pains: list[Pain]) -> dict[str, list[str]]:
        """Supporting rule -> its reasons in plain words."""
        c = self.c
        found: dict[str, list[str]] = {}

        def support(rule: str, evidence: list[Evidence], say: str | None = None) -> None:
            if evidence:
                hit = self.fire(rule, evidence)
                found[rule] = [say] if say else [self.reason(e) for e in hit.evidence]

        late = self._late_pregnancy(pains)
        when = "in the third trimester" if self.c.pregnant or self._onset_before_delivery(pains) else "within 3 months of delivery"  # fmt: skip
        support("S1", late, say=f"Began {when}")
        score = c.latest("pain_score")
        severe = [score.evidence] if score is not None and score.value >= self.config.severe_pain_score else []
        support("S2", severe + c.coded.get("gait_or_stiffness", []))
        osteopenia = c.coded.get("osteopenia", []) + [r.evidence for r in c.reports if "osteopenia" in r.findings]
        support("S3", osteopenia)
        oedema = c.coded.get("bone_marrow_oedema", []) + [
            r.evidence for r in c.reports if "bone_marrow_oedema" in r.findings and r.modality in ("MR", None)
        ]
        oedema += c.coded.get("toh_diagnosis", [])
        support("S4", oedema)
        normal = self._normal_labs()
        support("S5", normal, say=", ".join(e.plain for e in normal) + ": normal" if normal else None)
        risks = list(c.risk_medications)
        for name in ("smoker", "vitamin_d_deficiency", "family_history_osteoporosis", "multiple_pregnancy"):
            risks += c.coded.get(name, [])
        for name, below in (("vitamin_d", self.config.vitamin_d_low_ng_per_ml), ("bmi", self.config.bmi_low)):
            latest = c.latest(name)
            if latest is not None and latest.value < below:
                risks.append(latest.evidence)
        support("S6", risks)
        sides = {p.side for p in pains}
        bilateral = [p.evidence for p in pains] if "bilateral" in sides or {"left", "right"} <= sides else []
        bilateral += [r.evidence for r in c.reports if "bilateral" in r.findings and "bone_marrow_oedema" in r.findings]
        support("S7", bilateral, say="Both hips involved")
        # S8: before menopause and after delivery only the Z-score counts (ISCD; clinical.md 2.7).
        low = [d.evidence for d in c.dxa if d.measure == "Z" and d.value <= self.config.z_score_low]
        support("S8", low)
        return found

    def _onset_before_delivery(self, pains: list[Pain]) -> bool:
        delivered = self.c.delivery_date
        return delivered is not None and any(p.onset is not None and p.onset < delivered for p in pains)

    def _late_pregnancy(self, pains: list[Pain]) -> list[Evidence]:
        c, config = self.c, self.config
        evidence: list[Evidence] = []
        for pain in pains:
            when = pain.onset or self.now
            if c.pregnancy_start is not None and when >= c.pregnancy_start:
                ga_weeks = _days(when - c.pregnancy_start) / 7
            elif c.delivery_date is not None and when < c.delivery_date:
                ga_weeks = (PREGNANCY_DAYS - _days(c.delivery_date - when)) / 7
            else:
                ga_weeks = None
            after_delivery = None if c.delivery_date is None else _days(when - c.delivery_date)
            if (ga_weeks is not None and ga_weeks >= config.third_trimester_weeks) or (
                after_delivery is not None and 0 <= after_delivery <= config.early_postpartum_days
            ):
                evidence.append(pain.evidence)
        return evidence

    def _normal_labs(self) -> list[Evidence]:
        crp, wbc = self.c.latest("crp"), self.c.latest("wbc")
        if crp is None or crp.value >= self.config.crp_normal_below_mg_per_l:
            return []
        if wbc is not None and wbc.value > self.config.wbc_10e9_per_l:
            return []
        return [crp.evidence] + ([wbc.evidence] if wbc is not None else [])

    # Reasons in plain words ------------------------------------------------------------------------------------
    def phase_line(self) -> str:
        c = self.c
        if c.pregnant:
            ga = c.gestational_age_days
            weeks = f", {ga // 7}+{ga % 7} weeks" if ga is not None else " (gestational age not recorded)"
            due = f", due {c.due_date.date().isoformat()}" if c.due_date is not None else ""
            return f"Pregnant{weeks}{due}"
        feeding = ", breastfeeding" if self.phase == "lactation" else ""
        if c.delivery_date is not None:
            return f"Delivered {c.delivery_date.date().isoformat()} ({ago(c.delivery_date, self.now)}){feeding}"
        return "Breastfeeding; delivery date not recorded"

    def reasons(self, *groups: list[str]) -> tuple[str, ...]:
        lines = list(dict.fromkeys(line for group in groups for line in group if line))
        if len(lines) > MAX_REASONS:
            hidden = len(lines) - (MAX_REASONS - 1)
            lines = [*lines[: MAX_REASONS - 1], f"{hidden} more findings in the evidence trail"]
        return tuple(lines)

    # DXA (card F) ------------------------------------------------------------------------------------------------
    def dxa(self, in_population: bool) -> Outcome | None:
        c, config = self.c, self.config
        since = self.now - timedelta(days=config.dxa_lookback_days)
        results = [d for d in c.dxa if d.at is None or d.at >= since]
        premenopausal = c.age_years is not None and c.age_years < config.premenopausal_age_below
        if not results or c.sex != "female" or not (in_population or premenopausal):
            return None
        hit = self.fire("F", [d.evidence for d in results])
        notes: list[str] = []
        z_scores = [d for d in results if d.measure == "Z"]
        if z_scores:
            lowest = min(z_scores, key=lambda d: (d.value, d.site))
            verdict = (
                "below the expected range for age"
                if lowest.value <= config.z_score_low
                else "within the expected range for age"
            )
            notes.append(f"Lowest Z-score {lowest.value:g} ({lowest.site.replace('-', ' ')}): {verdict}.")
        else:
            notes.append("No Z-score recorded: ask for Z-scores; T-scores alone are not diagnostic before menopause.")
        if any(d.site == "forearm" for d in results):
            notes.append(
                "Data quality: LOINC 38265-5 is the forearm (radius and ulna) T-score, often mislabelled "
                "'DXA [T-score] Bone density'; it is read here as forearm, not hip or spine."
            )
        if self.phase == "lactation":
            notes.append("Breastfeeding: some bone loss is expected and recovers after weaning.")
        summary = "DXA before menopause: read the Z-score, not the T-score; low BMD in lactation usually recovers."
        reasons = self.reasons([self.phase_line()] if in_population else [], [self.reason(e) for e in hit.evidence])
        return Outcome(Topic.DXA_INTERPRETATION, "info", summary, (hit,), advice.DXA_ADVICE, notes=tuple(notes), reasons=reasons)  # fmt: skip

    # Pregnancy- or lactation-associated osteoporosis (card G) ----------------------------------------------------
    def plo(self) -> Outcome | None:
        c = self.c
        start = self.window_start()
        fractures = [e for e in c.coded.get("fragility_fracture", []) if e.date is None or e.date >= start]
        back = [p.evidence for p in c.pains if p.region == "back" and self._recent(p)]
        low_z = [
            d.evidence for d in c.dxa if d.measure == "Z" and d.value <= self.config.z_score_low and _after(d.at, start)
        ]
        if not fractures and not (back and low_z):
            return None
        evidence = fractures or back + low_z
        hit = self.fire("G", evidence)
        phase_hits = tuple(h for h in self.hits if h.rule in _PHASE_RULES)
        summary = "Possible pregnancy- or lactation-associated osteoporosis: DXA (Z-score), bone bloods, specialist review."  # fmt: skip
        reasons = self.reasons([self.phase_line()], [self.reason(e) for e in hit.evidence])
        return Outcome(Topic.PLO_CONSIDER, "warning", summary, (*phase_hits, hit), advice.plo_consider(self.phase), reasons=reasons)  # fmt: skip

    # The whole assessment ----------------------------------------------------------------------------------------
    def run(self) -> Assessment:
        in_population = self.population()
        outcomes: list[Outcome] = []
        if in_population:
            hip, pelvic = self.triggers()
            pains = hip or pelvic
            diagnosed = bool(self.c.coded.get("toh_diagnosis"))
            flags = self.red_flags(pains)
            for rule, indicator, after_onset in flags:
                outcomes.append(self._red_flag(rule, indicator, after_onset, pains))
            if (hip or pelvic or diagnosed) and not flags and not self.resolved(pains):
                outcomes.append(self._toh(hip, pelvic))
            plo = self.plo()
            if plo is not None:
                outcomes.append(plo)
        dxa = self.dxa(in_population)
        if dxa is not None:
            outcomes.append(dxa)
        return Assessment(self.c.patient_id, self.now, RULES_VERSION, in_population, tuple(self.hits), tuple(outcomes))

    def _red_flag(self, rule: str, indicator: Indicator, after_onset: bool, pains: list[Pain]) -> Outcome:
        hits = tuple(h for h in self.hits if h.rule in (rule, *_PHASE_RULES, "T1"))
        flag = next(h for h in self.hits if h.rule == rule)
        summaries = {
            "R1": "Hip pain with fever or raised inflammatory markers: exclude septic arthritis or osteomyelitis now."
            if indicator == "critical"
            else "Hip pain with fever or a raised CRP: look for infection before attributing it to TOH.",
            "R2": "Hip fracture in pregnancy or postpartum: strict non-weight-bearing, urgent orthopaedic review.",
            "R3": "Findings suggest avascular necrosis of the femoral head, not TOH: refer to orthopaedics.",
            "R4": "Hip pain with a known malignancy: exclude metastasis first; TOH remains a differential.",
            "R5": "Injury during weeks of hip pain: exclude a fracture; TOH remains the underlying differential."
            if after_onset
            else "Hip pain after recent trauma: follow the trauma pathway and exclude a fracture.",
        }
        reasons = self.reasons(
            [self.phase_line()],
            [self.reason(e) for e in flag.evidence],
            [self.reason(e) for e in self.ordered(p.evidence for p in pains)],
        )
        recommendations = advice.red_flag(rule, self.phase, after_onset=after_onset)
        return Outcome(RED_FLAG_CARDS[rule], indicator, summaries[rule], hits, recommendations, reasons=reasons)

    def _toh(self, hip: list[Pain], pelvic: list[Pain]) -> Outcome:
        c = self.c
        supporting = self.supporting(hip or pelvic)
        context_hits = tuple(h for h in self.hits if h.rule in ("P1", "P2", "P3", "T1", "T2", "T3"))
        support_hits = tuple(h for h in self.hits if h.rule.startswith("S"))
        hits = context_hits + support_hits
        sides = {p.side for p in hip}
        bilateral = "S7" in supporting or {"left", "right"} <= sides
        template = MRI_PELVIS_AND_HIPS if bilateral else MRI_HIP
        pain_conditions = tuple(dict.fromkeys(p.evidence.reference for p in hip or pelvic if p.evidence.reference.startswith("Condition/")))  # fmt: skip
        mri = ProposedOrder(template.loinc, template.display, reasons=pain_conditions)
        pain_reasons = [self.reason(e) for e in self.ordered(p.evidence for p in hip or pelvic)]
        # What weighs most is said first: the MRI, both hips, severity, the X-ray, timing, labs, risks, DXA.
        weight = ("S4", "S7", "S2", "S3", "S1", "S5", "S6", "S8")
        support_reasons = [line for rule in weight if rule in supporting for line in supporting[rule]]
        if "S4" in supporting:
            return self._consistent(hits, bilateral, pain_reasons, support_reasons)
        reasons = self.reasons([self.phase_line()], pain_reasons, support_reasons)
        if not hip:
            summary = "Pelvic or lower abdominal pain in pregnancy or postpartum: does it localise to the hip or groin?"
            notes = ("Low confidence: no hip or groin pain recorded.",)
            recommendations = advice.toh_localise(bilateral)
            return Outcome(
                Topic.TOH_CONSIDER, "info", summary, hits, recommendations, "low", notes, (mri,), reasons=reasons
            )
        # Calibrated urgency (clinical.md 2.7): warning only at high priority, since TOH is rare and pelvic girdle
        # pain common.
        others = [rule for rule in supporting if rule != "S1"]
        high = ("S1" in supporting and others) or len(others) >= 2
        priority: Literal["high", "medium"] = "high" if high else "medium"
        indicator: Indicator = "warning" if high else "info"
        when = "in pregnancy" if c.pregnant else "after delivery"
        summary = f"Hip pain {when}: consider transient osteoporosis of the hip; MRI without contrast."
        recommendations = advice.toh_consider(self.phase, bilateral)
        return Outcome(
            Topic.TOH_CONSIDER, indicator, summary, hits, recommendations, priority, (), (mri,), reasons=reasons
        )

    def _consistent(
        self, hits: tuple[RuleHit, ...], bilateral: bool, pain_reasons: list[str], support_reasons: list[str]
    ) -> Outcome:
        c = self.c
        diagnosed = bool(c.coded.get("toh_diagnosis"))
        oedema_dates = [r.at for r in c.reports if "bone_marrow_oedema" in r.findings and r.at is not None]
        latest = max(oedema_dates, default=None)
        stale = latest is not None and _days(self.now - latest) > self.config.recent_findings_days
        follow_up = diagnosed or stale
        notes: list[str] = []
        subchondral = any("subchondral_fracture" in r.findings for r in c.reports)
        if subchondral:
            notes.append(
                "Subchondral fracture line on MRI (seen in about half of TOH): strict non-weight-bearing and "
                "orthopaedic review."
            )
        if bilateral:
            notes.append("Both hips involved: watch for migration and protect both.")
        if stale and latest is not None:
            notes.append(f"The MRI is {ago(latest, self.now)}: repeat only if the pain is not settling.")
        reasons = self.reasons([self.phase_line()], support_reasons[:1], pain_reasons, support_reasons[1:])
        recommendations = advice.toh_consistent(self.phase, follow_up)
        if follow_up:
            summary = (
                "Transient osteoporosis of the hip: follow-up; no antiresorptives, expect recovery in 6-12 months."
            )
            indicator: Indicator = "warning" if subchondral else "info"
            return Outcome(Topic.TOH_CONSISTENT, indicator, summary, hits, recommendations, "medium", tuple(notes), reasons=reasons)  # fmt: skip
        summary = "Findings consistent with transient osteoporosis of the hip: protect the hip, no antiresorptives."
        return Outcome(Topic.TOH_CONSISTENT, "warning", summary, hits, recommendations, "high", tuple(notes), reasons=reasons)  # fmt: skip


def _after(when: datetime | None, since: datetime | None) -> bool:
    return when is None or since is None or when >= since


def assess(context: PatientContext, config: ScreeningConfig | None = None) -> Assessment:
    return _Rules(context, config or ScreeningConfig()).run()
