"""Findings in imaging-report narrative (DiagnosticReport.conclusion): there are no codes for bone-marrow oedema,
a double-line sign or a fracture line, so they are read from words, with simple clause-level negation.

"bilateral femoral head BME, no fracture line or double-line" gives {"bone_marrow_oedema", "bilateral"}.

Fractures are read with more care (clinical.md 2.7, R2): a hedged mention ("increased fracture risk", "fracture
cannot be excluded") or a negated one ("no fracture", "fracture excluded") is no finding; a subchondral fracture line
is `subchondral_fracture` (part of TOH in about half of MRIs); a fracture at another bone (sacrum, pubic ramus,
vertebra) is `fracture_elsewhere`; any other fracture is `fracture`, which the reader of a hip study treats as a hip
fracture.
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
# Anywhere in its clause, these make a fracture mention a possibility or a risk, not a finding.
_FRACTURE_HEDGE = re.compile(
    r"\brisks?\b|\bpossibl[ey]\b|\bprobabl[ey]\b|\bsuspect|\bsuspicio|\bquer(?:y|ied)\b|\bquestionable\b|"
    r"\bexclud|\bruled?\s+out\b|\br/o\b|\bimpending\b|\bprevent|\bmay\b|\bmight\b|\bcould\b|\?"
)
_SUBCHONDRAL = re.compile(r"\bsubchondral\b")
_HIP_SITE = re.compile(r"\bfem(?:ur|oral)\b|\bhip\b|\bsubcapital\b|\bintertrochanteric\b")
_OTHER_BONE = re.compile(
    r"\bsacr|\bpubi|\bram(?:us|i)\b|\bvertebr|\bspin|\blumbar\b|\bthoracic\b|\brib\b|\bcoccy|\biliac\b|\bilium\b|"
    r"\bacetabul|\btibia|\bfibula|\bankle\b|\bfoot\b|\bmetatars|\bradius\b|\bwrist\b|\bhumer"
)


def _fracture(clause: str) -> str | None:
    if _FRACTURE_HEDGE.search(clause):
        return None
    if _SUBCHONDRAL.search(clause):
        return "subchondral_fracture"
    if _OTHER_BONE.search(clause) and not _HIP_SITE.search(clause):
        return "fracture_elsewhere"
    return "fracture"


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
            if name == "fracture":
                kind = _fracture(clause)
                if kind is not None:
                    found.add(kind)
                continue
            found.add(name)
    return found
