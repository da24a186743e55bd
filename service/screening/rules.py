"""The screening rules of clinical.md section 2: population P0-P4, triggers T1-T3, supporting findings S1-S8,
red flags R1-R6, and DXA interpretation (card F). Pure: a context and a config in, an Assessment out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from service.screening.assessment import Assessment, Indicator, Outcome, ProposedOrder, Recommendation, RuleHit
from service.screening.config import ScreeningConfig
from service.screening.context import Evidence, Pain, PatientContext

__all__ = ["RULES_VERSION", "assess"]

RULES_VERSION = "2026.11.1"
PREGNANCY_DAYS = 280

MRI_HIP = ProposedOrder("30687-8", "MR Hip WO contrast")
MRI_PELVIS_AND_HIPS = ProposedOrder("30671-2", "MR Pelvis and Hip WO contrast")

TOH_CONSIDER = (
    Recommendation(
        "Include transient osteoporosis of the hip (and pregnancy- or lactation-associated osteoporosis) in the "
        "differential diagnosis.",
        ("soares2024", "asadipooya2017"),
    ),
    Recommendation(
        "MRI of the hip or pelvis **without contrast** is the preferred test: it shows bone-marrow oedema within "
        "days, while radiographs stay normal for 4-8 weeks. Avoid gadolinium in pregnancy.",
        ("acog723", "asadipooya2017", "radiopaedia"),
    ),
    Recommendation(
        "Labs: CBC, CRP, ESR, calcium, phosphate, ALP (rises physiologically in the third trimester), 25-OH "
        "vitamin D, PTH and creatinine.",
        ("radiolmed1995",),
    ),
    Recommendation(
        "Protected weight bearing (crutches) until imaging: about 1 in 8 women with TOH in pregnancy had a hip "
        "fracture in one series. Pregnancy-compatible analgesia per obstetric policy.",
        ("archosteoporos2017",),
    ),
    Recommendation(
        "Inform obstetrics and orthopaedics: delivery planning and fracture-risk counselling.",
        ("wright2021",),
    ),
)
TOH_CONSISTENT = (
    Recommendation(
        "Conservative management: analgesia, and protected or limited weight bearing until pain and oedema settle.",
        ("asadipooya2017", "galanis2023"),
    ),
    Recommendation(
        "**No antiresorptives during pregnancy or lactation**: they are not needed for a self-limited process.",
        ("kovacs2014", "kovacs2025"),
    ),
    Recommendation("Correct vitamin D and calcium deficiency if present.", ("carsote2023",)),
    Recommendation("Watch the other hip: involvement is often bilateral or migratory.", ("thanasa2024", "soares2024")),
    Recommendation("Repeat MRI only if pain worsens or fails to improve (typically at about 3 months).", ()),
    Recommendation("Postpartum DXA, read by **Z-score**.", ("iscd2005",)),
    Recommendation("Expected resolution in 6-12 months.", ("anzjog1997", "soares2024")),
)
RED_FLAGS: dict[str, tuple[str, Indicator, str, tuple[Recommendation, ...]]] = {
    # rule: (topic, indicator, summary, recommendations)
    "R1": (
        "red-flag-infection",
        "critical",
        "Hip pain with fever or raised inflammatory markers: exclude septic arthritis or osteomyelitis now.",
        (
            Recommendation(
                "Urgent work-up for septic arthritis or osteomyelitis: joint aspiration, blood cultures, urgent "
                "orthopaedic review. MRI remains the first-line imaging.",
                ("radiolmed1995", "vassalou2019"),
            ),
        ),
    ),
    "R2": (
        "red-flag-fracture",
        "critical",
        "Femoral fracture recorded in pregnancy or postpartum: strict non-weight-bearing, urgent review.",
        (
            Recommendation(
                "Strict non-weight-bearing; urgent orthopaedic and obstetric review; plan the delivery.",
                ("wright2021", "aldourobi2021", "archosteoporos2017"),
            ),
        ),
    ),
    "R3": (
        "red-flag-avn",
        "warning",
        "Findings suggest avascular necrosis of the femoral head, not transient osteoporosis: refer to orthopaedics.",
        (
            Recommendation(
                "Orthopaedic referral for avascular necrosis. Note that TOH can progress to AVN.",
                ("asadipooya2017", "radiopaedia"),
            ),
        ),
    ),
    "R4": (
        "red-flag-neoplasm",
        "warning",
        "Hip pain with a known bone malignancy: investigate for tumour before attributing it to TOH.",
        (Recommendation("Tumour work-up of the painful hip before any TOH diagnosis.", ("radiolmed1995",)),),
    ),
    "R5": (
        "red-flag-trauma",
        "warning",
        "Hip pain after recent trauma: follow the trauma pathway and exclude a fracture.",
        (
            Recommendation(
                "Trauma pathway: exclude fracture (MRI is preferred in pregnancy). TOH requires the absence of "
                "trauma, so no TOH card is shown.",
                ("asadipooya2017", "acog723"),
            ),
        ),
    ),
}
DXA_ADVICE = (
    Recommendation(
        "Read the **Z-score**: before menopause the T-score is not diagnostic, and Z <= -2.0 is below the expected "
        "range for age.",
        ("iscd2005",),
    ),
    Recommendation(
        "Low BMD during lactation is expected (5-10% spine loss) and recovers after weaning: re-measure after "
        "weaning. Antiresorptives are not indicated.",
        ("kovacs2025", "kovacs2014"),
    ),
)


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400


class _Rules:
    def __init__(self, context: PatientContext, config: ScreeningConfig) -> None:
        self.c = context
        self.config = config
        self.now = context.now
        self.hits: list[RuleHit] = []

    def fire(self, rule: str, label: str, evidence: list[Evidence] | tuple[Evidence, ...], *cites: str) -> RuleHit:
        # Canonical order (oldest first), so the same record in any order gives the same card.
        ordered = sorted(
            set(evidence), key=lambda e: (e.date is not None, e.date or self.now, e.reference, e.description)
        )
        hit = RuleHit(rule, label, tuple(ordered), cites)
        self.hits.append(hit)
        return hit

    # Population ------------------------------------------------------------------------------------------------
    def population(self) -> bool:
        c, config = self.c, self.config
        patient = [Evidence(f"Patient/{c.patient_id}", f"Sex: {c.sex}")] if c.patient_id else []
        if c.sex != "female":
            return False
        self.fire("P0", "Female", patient)
        if c.age_years is not None and not (config.age_min <= c.age_years <= config.age_max):
            return False
        self.fire("P4", "Age within the screened range" if c.age_years else "Age not recorded", patient)
        pregnant = c.pregnant
        if pregnant:
            ga = c.gestational_age_days
            label = f"Pregnant, {ga // 7}+{ga % 7} weeks" if ga is not None else "Pregnant"
            self.fire("P1", label, c.pregnancy_evidence)
        days = c.days_postpartum
        postpartum = days is not None and 0 <= days <= config.postpartum_window_days and not pregnant
        if postpartum:
            self.fire("P2", f"Postpartum, {days} days since delivery", c.delivery_evidence)
        extended = False
        if c.lactating:
            extended = config.lactation_extension_days > 0 and (days is None or days <= config.lactation_extension_days)
            label = "Breastfeeding" + (" (extends the postpartum window)" if extended and not postpartum else "")
            self.fire("P3", label, c.lactation_evidence)
        return pregnant or postpartum or extended

    def window_start(self) -> datetime:
        """Earliest onset that counts as new pain (T2): the start of this pregnancy."""
        c = self.c
        if c.pregnancy_start is not None:
            return c.pregnancy_start
        if c.delivery_date is not None:
            return c.delivery_date - timedelta(days=PREGNANCY_DAYS)
        return self.now - timedelta(days=self.config.postpartum_window_days + PREGNANCY_DAYS)

    # Triggers --------------------------------------------------------------------------------------------------
    def triggers(self) -> tuple[list[Pain], list[Pain]]:
        start = self.window_start()

        def recent(pain: Pain) -> bool:
            return pain.onset is None or start <= pain.onset <= self.now

        hip = [p for p in self.c.pains if p.region in ("hip", "groin") and recent(p)]
        pelvic = [p for p in self.c.pains if p.region == "pelvic" and recent(p)]
        if hip:
            self.fire("T1", "New hip or groin pain", [p.evidence for p in hip])
            self.fire("T2", "Onset in pregnancy or the postpartum window", [p.evidence for p in hip])
        diagnosed = self.c.coded.get("toh_diagnosis", [])
        if diagnosed and not hip:
            self.fire("T1", "Transient osteoporosis of the hip diagnosed", diagnosed, "asadipooya2017")
        if pelvic and not hip and not diagnosed:
            alternatives = self.c.coded.get("symphysis_dysfunction", []) + self.c.coded.get("meralgia_paresthetica", [])
            if alternatives:
                self.fire("R6", "Pain explained by symphysis dysfunction or meralgia paresthetica", alternatives)
                pelvic = []
            else:
                self.fire("T3", "Pelvic pain only: may be referred from the hip", [p.evidence for p in pelvic])
        return hip, pelvic

    # Red flags -------------------------------------------------------------------------------------------------
    def red_flags(self, pains: list[Pain]) -> list[str]:
        c, config = self.c, self.config
        flags: list[str] = []
        fracture = c.coded.get("femoral_fracture", []) + [r.evidence for r in c.reports if "fracture" in r.findings]
        if fracture:
            self.fire("R2", "Femoral fracture", fracture, "wright2021")
            flags.append("R2")
        avn = c.coded.get("avascular_necrosis", []) + [
            r.evidence for r in c.reports if "avascular_necrosis" in r.findings
        ]
        if avn:
            self.fire("R3", "Avascular necrosis pattern", avn, "asadipooya2017", "radiopaedia")
            flags.append("R3")
        if not pains:
            return flags
        acute = self.now - timedelta(days=config.acute_lookback_days)
        infection = list(c.coded.get("bone_or_joint_infection", []))
        infection += [e for e in c.coded.get("fever", []) if e.date is None or e.date >= acute]
        for name, threshold in (("body_temperature", config.fever_celsius), ("crp", config.crp_mg_per_l)):
            infection += [
                m.evidence for m in c.measurements.get(name, []) if m.value >= threshold and _after(m.at, acute)
            ]
        if infection:
            infection += [
                m.evidence
                for m in c.measurements.get("wbc", [])
                if m.value > config.wbc_10e9_per_l and _after(m.at, acute)
            ]
            self.fire("R1", "Fever or raised inflammatory markers", infection, "radiolmed1995")
            flags.append("R1")
        neoplasm = c.coded.get("bone_neoplasm", [])
        if neoplasm:
            self.fire("R4", "Bone malignancy", neoplasm, "radiolmed1995")
            flags.append("R4")
        if "R2" not in flags:
            onsets = [p.onset for p in pains if p.onset is not None] or [self.now]
            since = min(onsets) - timedelta(days=config.trauma_lookback_days)
            trauma = [e for e in c.coded.get("trauma", []) if e.date is None or since <= e.date <= self.now]
            if trauma:
                self.fire("R5", "Trauma before or since the pain began", trauma, "asadipooya2017")
                flags.append("R5")
        return flags

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
        max_age = timedelta(days=round(self.config.toh_card_max_months * 30.44))
        expired = bool(onsets) and all(self.now - onset > max_age for onset in onsets)
        if evidence or expired:
            label = "Resolved" if evidence else f"More than {self.config.toh_card_max_months} months since onset"
            self.fire("resolved", label, evidence)
            return True
        return False

    # Supporting findings ---------------------------------------------------------------------------------------
    def supporting(self, pains: list[Pain]) -> list[str]:
        c = self.c
        found: list[str] = []

        def support(rule: str, label: str, evidence: list[Evidence], *cites: str) -> None:
            if evidence:
                self.fire(rule, label, evidence, *cites)
                found.append(rule)

        support("S1", "Third trimester or early postpartum at onset", self._late_pregnancy(pains), "asadipooya2017")
        score = c.latest("pain_score")
        severe = [score.evidence] if score is not None and score.value >= 7 else []
        support("S2", "Severe or mechanical pain, limp or stiffness", severe + c.coded.get("gait_or_stiffness", []))
        osteopenia = c.coded.get("osteopenia", []) + [r.evidence for r in c.reports if "osteopenia" in r.findings]
        support("S3", "Decreased bone density on imaging", osteopenia, "radiopaedia")
        oedema = c.coded.get("bone_marrow_oedema", []) + [
            r.evidence for r in c.reports if "bone_marrow_oedema" in r.findings and r.modality in ("MR", None)
        ]
        oedema += c.coded.get("toh_diagnosis", [])
        support("S4", "Bone-marrow oedema of the femoral head or neck on MRI", oedema, "asadipooya2017", "vassalou2019")
        support("S5", "Inflammatory markers normal", self._normal_labs(), "radiolmed1995")
        risks = list(c.risk_medications)
        for name in ("smoker", "vitamin_d_deficiency", "family_history_osteoporosis", "multiple_pregnancy"):
            risks += c.coded.get(name, [])
        for name, below in (("vitamin_d", 20.0), ("bmi", 18.5)):
            latest = c.latest(name)
            if latest is not None and latest.value < below:
                risks.append(latest.evidence)
        support("S6", "Risk factors for pregnancy-associated bone loss", risks, "carsote2023")
        sides = {p.side for p in pains}
        bilateral = [p.evidence for p in pains] if "bilateral" in sides or {"left", "right"} <= sides else []
        bilateral += [r.evidence for r in c.reports if "bilateral" in r.findings and "bone_marrow_oedema" in r.findings]
        support("S7", "Bilateral or sequential hip involvement", bilateral, "soares2024", "thanasa2024")
        postpartum = c.delivery_date is not None and not c.pregnant
        low = [
            d.evidence
            for d in c.dxa
            if (d.measure == "Z" and d.value <= -2.0)
            or (postpartum and d.measure == "T" and d.value <= -1.0 and not d.site.startswith("forearm"))
        ]
        support("S8", "Low bone density on DXA", low, "iscd2005")
        return found

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
        if crp is None or crp.value >= 10:
            return []
        if wbc is not None and wbc.value > self.config.wbc_10e9_per_l:
            return []
        return [crp.evidence] + ([wbc.evidence] if wbc is not None else [])

    # DXA (card F) ------------------------------------------------------------------------------------------------
    def dxa(self, in_population: bool) -> Outcome | None:
        c, config = self.c, self.config
        since = self.now - timedelta(days=config.dxa_lookback_days)
        results = [d for d in c.dxa if d.at is None or d.at >= since]
        premenopausal = c.age_years is not None and c.age_years < 50
        if not results or c.sex != "female" or not (in_population or premenopausal):
            return None
        hit = self.fire(
            "F", "DXA result in a premenopausal or postpartum woman", [d.evidence for d in results], "iscd2005"
        )
        notes: list[str] = []
        z_scores = [d for d in results if d.measure == "Z"]
        if z_scores:
            lowest = min(z_scores, key=lambda d: (d.value, d.site))
            verdict = (
                "below the expected range for age" if lowest.value <= -2.0 else "within the expected range for age"
            )
            notes.append(f"Lowest Z-score {lowest.value:g} ({lowest.site}): {verdict}.")
        else:
            notes.append("No Z-score recorded: ask for Z-scores; T-scores alone are not diagnostic before menopause.")
        if any(d.site == "forearm" for d in results):
            notes.append(
                "Data quality: LOINC 38265-5 is the DXA T-score of the radius and ulna (forearm), often mislabelled "
                "'DXA [T-score] Bone density'; it is read here as forearm, not hip or spine."
            )
        if c.lactating:
            notes.append("Breastfeeding: some bone loss is expected and recovers after weaning.")
        summary = "DXA before menopause: read the Z-score, not the T-score; low BMD in lactation usually recovers."
        return Outcome("dxa-interpretation", "info", summary, (hit,), DXA_ADVICE, notes=tuple(notes))

    # The whole assessment ----------------------------------------------------------------------------------------
    def run(self) -> Assessment:
        in_population = self.population()
        outcomes: list[Outcome] = []
        if in_population:
            hip, pelvic = self.triggers()
            pains = hip or pelvic
            diagnosed = bool(self.c.coded.get("toh_diagnosis"))
            flags = self.red_flags(pains)
            for rule in flags:
                topic, indicator, summary, recommendations = RED_FLAGS[rule]
                hits = tuple(h for h in self.hits if h.rule in (rule, "P1", "P2", "P3", "T1"))
                outcomes.append(Outcome(topic, indicator, summary, hits, recommendations))
            if (hip or pelvic or diagnosed) and not flags and not self.resolved(pains):
                outcomes.append(self._toh(hip, pelvic))
        dxa = self.dxa(in_population)
        if dxa is not None:
            outcomes.append(dxa)
        return Assessment(self.c.patient_id, self.now, RULES_VERSION, in_population, tuple(self.hits), tuple(outcomes))

    def _toh(self, hip: list[Pain], pelvic: list[Pain]) -> Outcome:
        supporting = self.supporting(hip or pelvic)
        context_hits = tuple(h for h in self.hits if h.rule in ("P1", "P2", "P3", "T1", "T2", "T3"))
        support_hits = tuple(h for h in self.hits if h.rule.startswith("S"))
        sides = {p.side for p in hip}
        bilateral = "S7" in supporting or {"left", "right"} <= sides
        mri = MRI_PELVIS_AND_HIPS if bilateral else MRI_HIP
        if "S4" in supporting:
            notes = ("Both hips involved: watch for migration and protect both.",) if bilateral else ()
            summary = (
                "Findings consistent with transient osteoporosis of the hip: conservative care, no antiresorptives."
            )
            return Outcome(
                "toh-consistent", "warning", summary, context_hits + support_hits, TOH_CONSISTENT, "high", notes
            )
        if not hip:
            summary = "Pelvic pain in pregnancy or postpartum: ask whether it is in the hip or groin (possible TOH)."
            notes = ("Low confidence: pelvic pain only. Ask whether the pain localises to the hip or groin.",)
            return Outcome(
                "toh-consider", "info", summary, context_hits + support_hits, TOH_CONSIDER, "low", notes, (mri,)
            )
        others = [rule for rule in supporting if rule != "S1"]
        priority: Literal["high", "medium"] = "high" if "S1" in supporting or len(others) >= 2 else "medium"
        summary = (
            "Hip pain in pregnancy or postpartum: consider transient osteoporosis of the hip; MRI without contrast."
        )
        return Outcome(
            "toh-consider", "warning", summary, context_hits + support_hits, TOH_CONSIDER, priority, (), (mri,)
        )


def _after(when: datetime | None, since: datetime | None) -> bool:
    return when is None or since is None or when >= since


def assess(context: PatientContext, config: ScreeningConfig | None = None) -> Assessment:
    return _Rules(context, config or ScreeningConfig()).run()
