"""The state one screening builds up as its rules fire: the hits with their evidence, the patient's phase, and the
windows and words every rule family shares. The rule families (population.py, triggers.py, red_flags.py, toh.py,
bone.py) read the patient context and write here; rules.py runs them in order."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from service.screening.advice import Phase
from service.screening.assessment import RuleHit
from service.screening.config import DAYS_PER_MONTH, ScreeningConfig
from service.screening.context import PREGNANCY_DAYS, PREGNANCY_MAX_DAYS, Evidence, Pain, PatientContext
from service.screening.registry import RULES

__all__ = ["MAX_REASONS", "PHASE_RULES", "Evaluation", "after", "ago", "days"]

MAX_REASONS = 5
PHASE_RULES = ("P1", "P2", "P3")


def days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400


def after(when: datetime | None, since: datetime | None) -> bool:
    return when is None or since is None or when >= since


def ago(when: datetime | None, now: datetime) -> str:
    """ "today", "3 days ago", "5 weeks ago", "9 months ago": how old a finding is, as a clinician says it."""
    if when is None:
        return ""
    count = int(days(now - when))
    if count <= 0:
        return "today"
    if count < 14:
        return f"{count} day{'s' if count > 1 else ''} ago"
    if count < 63:
        return f"{count // 7} weeks ago"
    months = round(count / DAYS_PER_MONTH)
    return f"{months} months ago" if months < 24 else f"{count // 365} years ago"


class Evaluation:
    def __init__(self, context: PatientContext, config: ScreeningConfig) -> None:
        self.c = context
        self.config = config
        self.now = context.now
        self.hits: list[RuleHit] = []
        self.phase: Phase = "postpartum"
        self.breastfeeding_unknown = False  # breastfeeding known only from an entry older than 6 months

    def fire(self, rule: str, evidence: Iterable[Evidence], label: str | None = None) -> RuleHit:
        """Record that `rule` fired on `evidence`; its label and sources come from the registry."""
        declared = RULES[rule]
        hit = RuleHit(rule, label or declared.label, self.ordered(evidence), declared.sources)
        self.hits.append(hit)
        return hit

    def fired(self, rule: str) -> bool:
        return any(hit.rule == rule for hit in self.hits)

    def hits_of(self, *rules: str) -> tuple[RuleHit, ...]:
        return tuple(hit for hit in self.hits if hit.rule in rules)

    def ordered(self, evidence: Iterable[Evidence]) -> tuple[Evidence, ...]:
        """Canonical order (oldest first), so the same record in any order gives the same card."""
        return tuple(sorted(set(evidence), key=lambda e: (e.date is not None, e.date or self.now, e.reference, e.description)))  # fmt: skip

    def reason(self, evidence: Evidence) -> str:
        age = ago(evidence.date, self.now)
        return f"{evidence.plain} ({age})" if age and evidence.plain else evidence.plain

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
        if c.puerperium_evidence and c.puerperium_evidence[0].date is not None:  # delivered before it, date unknown
            return c.puerperium_evidence[0].date - timedelta(days=PREGNANCY_DAYS)
        return self.now - timedelta(days=self.config.lactation_extension_days + PREGNANCY_DAYS)

    def recent(self, pain: Pain) -> bool:
        return pain.onset is None or self.window_start() <= pain.onset <= self.now

    def phase_line(self) -> str:
        c = self.c
        if c.pregnant:
            ga = c.gestational_age_days
            weeks = f", {ga // 7}+{ga % 7} weeks" if ga is not None else " (gestational age not recorded)"
            due = f", due {c.due_date.date().isoformat()}" if c.due_date is not None else ""
            return f"Pregnant{weeks}{due}"
        feeding = ""
        if self.phase == "lactation":
            feeding = "; breastfeeding recorded over 6 months ago" if self.breastfeeding_unknown else ", breastfeeding"
        if c.delivery_date is not None:
            return f"Delivered {c.delivery_date.date().isoformat()} ({ago(c.delivery_date, self.now)}){feeding}"
        if c.puerperium_evidence:
            return f"After delivery; delivery date not recorded{feeding}"
        return "Breastfeeding; delivery date not recorded"

    def reasons(self, *groups: list[str]) -> tuple[str, ...]:
        lines = list(dict.fromkeys(line for group in groups for line in group if line))
        if len(lines) > MAX_REASONS:
            hidden = len(lines) - (MAX_REASONS - 1)
            lines = [*lines[: MAX_REASONS - 1], f"{hidden} more findings in the evidence trail"]
        return tuple(lines)
