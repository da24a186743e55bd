"""What an ICD-10-CM chapter O code says about the pregnancy (clinical.md 2.7, "P1 O-chapter codes").

Chapter O states the phase in its structure, not in a list a value set could hold: O09-O9A denote pregnancy (most
end in a trimester digit), except their subcategories "in childbirth" and "in the puerperium"; labour and delivery
(O60.1-O77, O80-O82) date the delivery, and the puerperium (O85-O92) follows it; O00-O08 (pregnancy with abortive outcome),
O94 (sequelae) and O95-O97 (obstetric death) are neither.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Phase", "obstetric_phase"]

Phase = Literal["pregnancy", "childbirth", "puerperium"]

# Subcategories "in childbirth" and "in the puerperium" inside the pregnancy categories, as compact code prefixes.
# A childbirth code dates the delivery; a puerperium code (mastitis, puerperal fever) only says it came before
# (clinical.md 2.8, "Dates the rules trust").
_CHILDBIRTH = (
    "O1002", "O1012", "O1022", "O1032", "O1042", "O1092", "O114", "O1204", "O1214", "O1224", "O134", "O1404",
    "O1414", "O1424", "O1494", "O152", "O164", "O2402", "O2412", "O2432", "O2442", "O2482", "O2492", "O252", "O2662",
    "O2672", "O601", "O602", "O99892",
)  # fmt: skip
_PUERPERIUM = (
    "O1003", "O1013", "O1023", "O1033", "O1043", "O1093", "O115", "O1205", "O1215", "O1225", "O135", "O1405",
    "O1415", "O1425", "O1495", "O153", "O165", "O2403", "O2413", "O2433", "O2443", "O2483", "O2493", "O253", "O2663",
    "O2673", "O99893",
)  # fmt: skip
# O98, O99 and O9A: "x1y" is pregnancy (y the trimester), "x2" childbirth, "x3" the puerperium; in O99.2, O99.3 and
# O99.8 the sixth character 4 is childbirth and 5 the puerperium (O99.214, O99.815).
_THREE_PART = ("O98", "O99", "O9A")


def obstetric_phase(code: str) -> Phase | None:
    """The phase an ICD-10-CM code (with or without its dot) places the patient in, or None."""
    compact = code.replace(".", "").strip().upper()
    if len(compact) < 3 or not compact.startswith("O"):
        return None
    category = compact[:3]
    if category < "O09" or category in ("O94", "O95", "O96", "O97"):
        return None
    if compact.startswith(_CHILDBIRTH) or "O61" <= category <= "O82":
        return "childbirth"
    if compact.startswith(_PUERPERIUM) or "O85" <= category <= "O92":
        return "puerperium"
    if category in _THREE_PART:
        if len(compact) == 5 and compact[4] in "23":
            return "childbirth" if compact[4] == "2" else "puerperium"
        if len(compact) == 6 and compact[3] in "238" and compact[5] in "45":
            return "childbirth" if compact[5] == "4" else "puerperium"
    return "pregnancy"
