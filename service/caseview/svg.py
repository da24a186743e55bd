"""The case timeline as an SVG picture, drawn on the server: no script, text alternatives, colour-blind safe.

Colours are Okabe and Ito's palette (safe for the common colour-vision deficiencies), and no meaning rests on colour
alone: a finding is a vermillion triangle, a normal result a blue circle, context a grey square, and each has its
words beside it. The picture is 1200 units wide and scales to the page; it prints on white.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from service.caseview.timeline import LANES, Event, Timeline

__all__ = ["render_svg"]

WIDTH = 1200
LEFT, RIGHT = 132, 24  # lane labels on the left
TOP = 34  # room for the phase bands' names
LANE_HEIGHT = 58
AXIS_HEIGHT = 46
ROWS = 2  # labels alternate between two rows in a lane when they would overlap
CHAR_WIDTH = 6.6  # of the 12-unit labels, to tell when two would overlap
MARKERS = {
    "finding": '<path class="marker" d="M0,-7 L7,6 L-7,6 Z"/>',
    "normal": '<circle class="marker" r="6"/>',
    "neutral": '<rect class="marker" x="-5" y="-5" width="10" height="10"/>',
}


def _x(timeline: Timeline, at: datetime) -> float:
    span = (timeline.end - timeline.start).total_seconds() or 1.0
    return LEFT + (at - timeline.start).total_seconds() / span * (WIDTH - LEFT - RIGHT)


def _event(timeline: Timeline, event: Event, lane_top: float, row: int) -> str:
    x = _x(timeline, event.at)
    y = lane_top + 20 + row * 22
    label = escape(event.label)
    said = escape(f"{event.detail}{' (' + event.when + ')' if event.when else ''}")
    return (
        f'<g class="event {event.tone}" data-lane="{event.lane}" data-date="{event.at.date().isoformat()}" '
        f'data-x="{x:.1f}" transform="translate({x:.1f},{y:.1f})"><title>{said}</title>{MARKERS[event.tone]}'
        f'<text x="10" y="4">{label}</text></g>'
    )


def _events(timeline: Timeline) -> list[str]:
    drawn: list[str] = []
    for index, lane in enumerate(LANES):
        lane_top = TOP + index * LANE_HEIGHT
        ends = [-1e9] * ROWS  # where the last label of each row ends
        for event in (e for e in timeline.events if e.lane == lane):
            x = _x(timeline, event.at)
            row = next((r for r in range(ROWS) if ends[r] < x - 2), min(range(ROWS), key=lambda r: ends[r]))
            ends[row] = x + 14 + len(event.label) * CHAR_WIDTH
            drawn.append(_event(timeline, event, lane_top, row))
    return drawn


def _bands(timeline: Timeline, bottom: float) -> list[str]:
    bands: list[str] = []
    height = bottom - TOP
    names: list[tuple[float, str]] = []  # where each phase begins, and its name
    if timeline.pregnancy is not None:
        x0, x1 = _x(timeline, timeline.pregnancy[0]), _x(timeline, timeline.pregnancy[1])
        bands.append(f'<rect class="band pregnancy" x="{x0:.1f}" y="{TOP}" width="{x1 - x0:.1f}" height="{height}"/>')
        names.append((x0, "Pregnancy"))
        if timeline.pregnancy[1] < timeline.end:
            names.append((x1, "Postpartum"))
    if timeline.lactation_from is not None:
        x0, x2 = _x(timeline, max(timeline.lactation_from, timeline.start)), _x(timeline, timeline.end)
        bands.append(f'<rect class="band lactation" x="{x0:.1f}" y="{TOP}" width="{x2 - x0:.1f}" height="{height}"/>')
        if names and abs(names[-1][0] - x0) < 90:  # begins with the postpartum: one name for both
            names[-1] = (names[-1][0], f"{names[-1][1]}, breastfeeding")
        else:
            names.append((x0, "Breastfeeding"))
    for x, name in names:
        bands.append(f'<text class="band-name" x="{x + 6:.1f}" y="{TOP - 10}">{name}</text>')
    return bands


def render_svg(timeline: Timeline) -> str:
    bottom = TOP + len(LANES) * LANE_HEIGHT
    height = bottom + AXIS_HEIGHT
    first, last = timeline.start.date().isoformat(), timeline.end.date().isoformat()
    described = f"{timeline.phase}. {len(timeline.events)} events from {first} to {last}; the list below says each."
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="timeline-title timeline-desc">',
        '<title id="timeline-title">Case timeline</title>',
        f'<desc id="timeline-desc">{escape(described)}</desc>',
        '<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<line x1="0" y1="0" x2="0" y2="8" class="hatch"/></pattern></defs>',
    ]
    parts += _bands(timeline, bottom)
    for index, name in enumerate(LANES.values()):
        y = TOP + index * LANE_HEIGHT
        parts.append(f'<line class="lane" x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}"/>')
        parts.append(f'<text class="lane-name" x="{LEFT - 10}" y="{y + 34}" text-anchor="end">{escape(name)}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}"/>')
    for mark in timeline.marks:
        x = _x(timeline, mark.at)
        strong = " strong" if mark.label == "Delivery" else ""
        parts.append(f'<line class="tick{strong}" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom + 6}"/>')
        parts.append(f'<text class="tick-label{strong}" x="{x:.1f}" y="{bottom + 22}" text-anchor="middle">'
                     f"{escape(mark.label)}</text>")  # fmt: skip
    today = _x(timeline, timeline.now)
    parts.append(f'<line class="today" x1="{today:.1f}" y1="{TOP - 4}" x2="{today:.1f}" y2="{bottom + 30}"/>')
    parts.append(f'<text class="today-label" x="{today:.1f}" y="{bottom + 42}" text-anchor="middle">Today</text>')
    parts += _events(timeline)
    parts.append("</svg>")
    return "".join(parts)
