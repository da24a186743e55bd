"""Findings in imaging-report narrative (DiagnosticReport.conclusion): there are no codes for bone-marrow oedema,
a double-line sign or a fracture line, so they are read from words, with simple clause-level negation.

"bilateral femoral head BME, no fracture line or double-line" gives {"bone_marrow_oedema", "bilateral"}.
"""

from __future__ import annotations

import re

__all__ = ["FINDINGS", "findings_in"]

FINDINGS: dict[str, re.Pattern[str]] = {
    "bone_marrow_oedema": re.compile(r"\b(?:bone[- ]marrow|marrow)\s+o?edema\b|\bbme\b"),
    "effusion": re.compile(r"\beffusions?\b"),
    "fracture": re.compile(r"\bfractures?\b|\bfracture[- ]lines?\b"),
    "avascular_necrosis": re.compile(
        r"\bdouble[- ]line\b|\bsubchondral\s+collapse\b|\bserpiginous\b|\bcrescent\s+sign\b|"
        r"\bavascular\s+necrosis\b|\bosteonecrosis\b"
    ),
    "osteopenia": re.compile(
        r"\bosteopeni|\b(?:decreased|reduced|low)\s+(?:bone\s+)?(?:mineral\s+)?density\b|\bdemineraliz|\bdemineralis"
    ),
    "resolution": re.compile(r"\bresolution\b|\bresolved\b|\bresolving\b"),
    "bilateral": re.compile(r"\bbilateral(?:ly)?\b|\bboth\s+(?:hips|femoral)"),
    "left": re.compile(r"\bleft\b"),
    "right": re.compile(r"\bright\b"),
}
# Patterns see lower-cased text. A cue negates what follows it in the same clause; "resolution of" also cancels the oedema it names.
_NEGATION = re.compile(r"\b(?:no|not|without|negative\s+for|absence\s+of|absent|free\s+of|resolution\s+of|resolved)\b")
_CLAUSE = re.compile(r"[.;:\n]|,|\bbut\b|\bhowever\b")
_NEVER_NEGATED = {"resolution", "bilateral", "left", "right"}


def findings_in(text: str) -> set[str]:
    found: set[str] = set()
    for clause in _CLAUSE.split(text.lower()):
        cue = _NEGATION.search(clause)
        for name, pattern in FINDINGS.items():
            match = pattern.search(clause)
            if match is None:
                continue
            if name not in _NEVER_NEGATED and cue is not None and cue.start() < match.start():
                continue
            found.add(name)
    return found
