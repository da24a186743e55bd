"""What the screening concludes: the rules that fired with their evidence, and the outcomes (one per card)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from service.screening.context import Evidence

__all__ = ["Assessment", "Indicator", "Outcome", "ProposedOrder", "Recommendation", "RuleHit"]

Indicator = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class RuleHit:
    rule: str  # P0-P4, T1-T3, S1-S9, R1-R7, F, G, C, D: for the evidence trail, never for clinician text
    label: str
    evidence: tuple[Evidence, ...] = ()
    citations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recommendation:
    text: str
    citations: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProposedOrder:
    """An MRI order a card can suggest; `replaces` is the draft order it supersedes (order hooks)."""

    loinc: str
    display: str
    replaces: str | None = None
    reasons: tuple[str, ...] = ()  # references of the Conditions that justify it (ServiceRequest.reasonReference)
    cpt: str | None = None
    local: tuple[str, str] | None = None  # (system, code) of the EHR's own orderable, from settings
    note: str | None = None  # for the ServiceRequest: "avoid gadolinium" in pregnancy only


@dataclass(frozen=True)
class Outcome:
    topic: str  # the card topic code (mission.md)
    indicator: Indicator
    summary: str
    hits: tuple[RuleHit, ...]
    recommendations: tuple[Recommendation, ...]
    priority: Literal["high", "medium", "low"] | None = None
    notes: tuple[str, ...] = ()
    orders: tuple[ProposedOrder, ...] = ()
    withdrawals: tuple[str, ...] = ()  # draft orders ("MedicationRequest/7") a card suggests removing
    reasons: tuple[str, ...] = ()  # why, in plain words with dates and ages, for the clinician

    @property
    def evidence(self) -> tuple[Evidence, ...]:
        seen: dict[str, Evidence] = {}
        for hit in self.hits:
            for item in hit.evidence:
                seen.setdefault(item.reference + item.description, item)
        return tuple(seen.values())

    @property
    def citations(self) -> tuple[str, ...]:
        keys = [key for hit in self.hits for key in hit.citations]
        keys += [key for rec in self.recommendations for key in rec.citations]
        return tuple(dict.fromkeys(keys))


@dataclass(frozen=True)
class Assessment:
    patient_id: str | None
    evaluated_at: datetime
    rules_version: str
    in_population: bool
    hits: tuple[RuleHit, ...]
    outcomes: tuple[Outcome, ...] = field(default=())
    unread: tuple[tuple[str, str], ...] = ()  # (report reference, what of its text was not read and why)

    @property
    def topics(self) -> list[str]:
        return [outcome.topic for outcome in self.outcomes]

    def outcome(self, topic: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.topic == topic), None)

    @property
    def fired(self) -> list[str]:
        return [hit.rule for hit in self.hits]
