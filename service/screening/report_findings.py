"""What an imaging report's reading says about the hip (clinical.md 2.8): the NLP reader's findings sorted into
asserted at the hip, hedged at the hip, and asserted elsewhere, and said in a clinician's words. Bone marrow oedema
counts for TOH only at the femoral head or neck, proximal femur or hip; a fracture that names no site counts at the
hip only in a hip study; sacral, pubic-ramus and vertebral fractures are PLO evidence."""

from __future__ import annotations

from service.screening.report_reading import Reading

__all__ = ["PLAIN_FINDINGS", "PLO_FRACTURES", "SIDES", "plain_findings", "report_findings"]

PLAIN_FINDINGS = {
    "transient_osteoporosis": "transient osteoporosis",
    "bone_marrow_oedema": "bone marrow oedema",
    "effusion": "effusion",
    "fracture": "fracture",
    "subchondral_fracture": "subchondral fracture line",
    "fracture_elsewhere": "fracture (not of the hip)",
    "sacral_fracture": "sacral insufficiency fracture",
    "pubic_ramus_fracture": "pubic ramus insufficiency fracture",
    "vertebral_fracture": "vertebral fracture",
    "oedema_elsewhere": "marrow oedema away from the hip",
    "avascular_necrosis": "avascular necrosis pattern",
    "osteopenia": "decreased bone density",
    "resolution": "resolving",
    "persisting": "not yet resolved",
}
SIDES = frozenset({"left", "right", "bilateral"})
_HIP_SITES = frozenset({"femoral_head", "femoral_neck", "proximal_femur", "hip"})
_FRACTURES = frozenset({"fracture", "subchondral_fracture", "insufficiency_fracture", "stress_reaction"})
# What an asserted finding at the hip counts as: a femoral neck stress or insufficiency fracture is a fracture;
# a stress reaction is a fracture not yet excluded (uncertain).
_AT_THE_HIP = {"insufficiency_fracture": "fracture"}
# A fracture away from the hip: sacral and pubic-ramus (insufficiency) fractures and vertebral fractures are PLO
# evidence in pregnancy and lactation (card G); others are named, not weighed.
_FRACTURE_AT = {"sacrum": "sacral_fracture", "pubic_ramus": "pubic_ramus_fracture", "spine": "vertebral_fracture"}
PLO_FRACTURES = frozenset(_FRACTURE_AT.values())


def report_findings(reading: Reading | None, hip_study: bool) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(asserted at the hip, hedged at the hip, asserted elsewhere) of a report's reading."""
    findings: set[str] = set()
    uncertain: set[str] = set()
    elsewhere: set[str] = set()
    for f in reading.findings if reading is not None else ():
        if f.negated or f.hypothetical:
            continue
        fracture = f.kind in _FRACTURES
        at_hip = f.site in _HIP_SITES or (f.site is None and (hip_study or not fracture))
        if not at_hip:
            if f.asserted and fracture:
                elsewhere.add(_FRACTURE_AT.get(f.site or "", "fracture_elsewhere"))
            elif f.asserted and f.kind == "bone_marrow_oedema":
                elsewhere.add("oedema_elsewhere")
            continue
        if f.uncertain or f.kind == "stress_reaction":
            kind = "fracture" if fracture else ("bone_marrow_oedema" if f.kind == "transient_osteoporosis" else f.kind)
            uncertain.add(kind)
            continue
        findings.add(_AT_THE_HIP.get(f.kind, f.kind))
        if f.kind == "persisting":  # "persists on the left", "partial resolution": the oedema is still there
            findings.add("bone_marrow_oedema")
        if f.side is not None and f.kind in ("bone_marrow_oedema", "transient_osteoporosis", "effusion", "persisting"):
            findings.add(f.side)
    if {"left", "right"} <= findings:
        findings.add("bilateral")
    return frozenset(findings), frozenset(uncertain - findings), frozenset(elsewhere)


def plain_findings(findings: frozenset[str] | set[str]) -> str:
    words = [text for name, text in PLAIN_FINDINGS.items() if name in findings]
    if "bilateral" in findings:
        words.append("both hips")
    elif "left" in findings or "right" in findings:
        words.append(" and ".join(side for side in ("left", "right") if side in findings))
    return ", ".join(words)
