"""What the case page shows, from one patient's record at one moment: the timeline (picture and list), the cards as
an EHR would show them, and the evidence trail, each resource linked from the events and cards that cite it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from service.caseview.svg import render_svg
from service.caseview.timeline import LANES, Event, timeline
from service.cds.cards import cards
from service.screening import ScreeningConfig, assess, build_context

__all__ = ["CasePage", "case_page", "markdown_lite"]

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_ITALIC = re.compile(r"(?<![*\w])_(.+?)_(?!\w)")


def markdown_lite(text: str) -> Markup:
    """The little Markdown our card details use (bold, links, italics), escaped first: nothing else becomes HTML."""
    html = str(escape(text))
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    html = _LINK.sub(r'<a href="\2">\1</a>', html)
    return Markup(_ITALIC.sub(r"<em>\1</em>", html))


@dataclass(frozen=True)
class TrailEntry:
    anchor: str  # the HTML id of its entry: "ev-Observation-123"
    reference: str
    description: str  # codes and dates (Evidence.description)
    plain: str


@dataclass(frozen=True)
class CasePage:
    patient_id: str
    phase: str
    svg: str
    events: Sequence[tuple[Event, str, str]]  # the event, its lane's name, its evidence anchor
    cards: Sequence[dict[str, Any]]
    trail: Sequence[TrailEntry]
    rules_version: str
    evaluated: str


def anchor(reference: str) -> str:
    return "ev-" + "".join(c if c.isalnum() or c == "-" else "-" for c in reference)


def case_page(
    resources: list[dict[str, Any]], patient_id: str, now: datetime, config: ScreeningConfig, evidence_base: str | None
) -> CasePage:
    # One context for the picture and the rules: the page shows what the cards were made from.
    context = build_context(resources, now, gestational_age_recent_days=config.gestational_age_recent_days)
    story = timeline(context, config)
    assessment = assess(context, config)
    rendered = cards(assessment.outcomes, patient_id, evidence_base)
    said = {e.reference: (e.description, e.plain) for o in assessment.outcomes for h in o.hits for e in h.evidence}
    for event in story.events:
        said.setdefault(event.reference, (event.detail, event.detail))
    trail = [TrailEntry(anchor(ref), ref, description, plain) for ref, (description, plain) in sorted(said.items())]
    events = [(event, LANES[event.lane], anchor(event.reference)) for event in story.events]
    return CasePage(patient_id, story.phase, render_svg(story), events, rendered, trail,
                    assessment.rules_version, now.date().isoformat())  # fmt: skip
