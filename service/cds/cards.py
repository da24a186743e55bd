"""CDS Hooks 2.0 cards from screening outcomes (https://cds-hooks.hl7.org/2.0/#card-attributes).

Pure: every card explains its evidence (the resources that made a rule fire) and cites its sources. A card's uuid
is stable for the same patient, topic and data, so feedback and caches can refer to it; new data, new uuid.
Optional fields are omitted rather than empty, as the specification requires.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

from service.screening import RULES_VERSION, Outcome, ProposedOrder
from service.screening.citations import CITATIONS

__all__ = ["CARD_TOPIC_SYSTEM", "TOPIC_DISPLAYS", "card", "cards", "fingerprint"]

CARD_TOPIC_SYSTEM = "urn:toh-cds:card-type"
OVERRIDE_SYSTEM = "urn:toh-cds:override-reason"
_NAMESPACE = uuid.UUID("2f6d7c1e-4a51-4b0e-9a8e-5d1f3c0b7a42")
SOURCE_LABEL = "toh-cds: transient osteoporosis of the hip screening"

TOPIC_DISPLAYS = {
    "toh-consider": "Consider transient osteoporosis of the hip",
    "toh-consistent": "Findings consistent with transient osteoporosis of the hip",
    "imaging-safety": "Imaging safety in pregnancy: MRI preferred",
    "antiresorptive-caution": "Antiresorptive in pregnancy or lactation",
    "red-flag-infection": "Red flag: infection",
    "red-flag-fracture": "Red flag: fracture",
    "red-flag-avn": "Red flag: avascular necrosis",
    "red-flag-neoplasm": "Red flag: neoplasm",
    "red-flag-trauma": "Red flag: trauma",
    "dxa-interpretation": "DXA interpretation before menopause",
}
_OVERRIDES = {
    "already-imaged": "MRI already done or scheduled",
    "not-hip-pain": "Pain is not from the hip",
    "alternative-diagnosis": "Another diagnosis explains the findings",
    "already-addressed": "Already addressed",
    "patient-declined": "Patient declined",
    "clinically-necessary": "Clinically necessary despite the caution",
    "specialist-decision": "Specialist decision",
}
_OVERRIDES_BY_TOPIC = {
    "toh-consider": ("already-imaged", "not-hip-pain", "alternative-diagnosis", "patient-declined"),
    "toh-consistent": ("already-addressed", "alternative-diagnosis"),
    "imaging-safety": ("clinically-necessary", "already-imaged", "patient-declined"),
    "antiresorptive-caution": ("specialist-decision", "clinically-necessary"),
    "dxa-interpretation": ("already-addressed",),
}
_RED_FLAG_OVERRIDES = ("already-addressed", "alternative-diagnosis")


def fingerprint(outcome: Outcome) -> str:
    """A digest of the data behind an outcome: which resources, and what they said."""
    parts = sorted(f"{e.reference}|{e.description}" for e in outcome.evidence)
    parts += [outcome.topic, outcome.indicator, outcome.priority or "", RULES_VERSION]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _detail(outcome: Outcome) -> str:
    citations = outcome.citations
    number = {key: index for index, key in enumerate(citations, start=1)}

    def refs(keys: Iterable[str]) -> str:
        marks = "".join(f"[{number[key]}]" for key in keys if key in number)
        return f" {marks}" if marks else ""

    lines = ["**Why this card**" + (f" (priority: {outcome.priority})" if outcome.priority else "")]
    shown: set[str] = set()
    for hit in outcome.hits:
        fresh = [item for item in hit.evidence if item.reference + item.description not in shown]
        again = sorted({item.reference for item in hit.evidence if item not in fresh})
        also = f" (also: {', '.join(f'`{ref}`' for ref in again)})" if again else ""
        lines.append(f"- **{hit.rule}** {hit.label}{refs(hit.citations)}{also}")
        lines.extend(f"  - {item.description} (`{item.reference}`)" for item in fresh)
        shown.update(item.reference + item.description for item in fresh)
    if outcome.notes:
        lines += ["", "**Notes**", *(f"- {note}" for note in outcome.notes)]
    lines += ["", "**Recommended**"]
    lines += [f"{i}. {rec.text}{refs(rec.citations)}" for i, rec in enumerate(outcome.recommendations, start=1)]
    for order in outcome.orders:
        instead = f", instead of the draft `{order.replaces}`" if order.replaces else ""
        lines += ["", f"**Suggested order**: {order.display} (LOINC {order.loinc}){instead}."]
    lines += ["", "**Sources**"]
    lines += [f"{number[key]}. [{CITATIONS[key].text}]({CITATIONS[key].url})" for key in citations]
    lines += ["", f"_toh-cds rules {RULES_VERSION}. Decision support only: clinical judgement prevails._"]
    return "\n".join(lines)


def _service_request(order: ProposedOrder, patient_id: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": order.loinc, "display": order.display}],
            "text": order.display,
        },
        "reasonCode": [
            {
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "240159007",
                        "display": "Transient osteoporosis of hip",
                    }
                ],
                "text": "Suspected transient osteoporosis of the hip",
            }
        ],
        "note": [{"text": "Without contrast: avoid gadolinium in pregnancy (ACOG Committee Opinion 723)."}],
    }
    if patient_id:
        resource["subject"] = {"reference": f"Patient/{patient_id}"}
    return resource


def _suggestions(outcome: Outcome, card_uuid: str, patient_id: str | None) -> list[dict[str, Any]]:
    suggestions: list[dict[str, Any]] = []
    for order in outcome.orders:
        actions: list[dict[str, Any]] = []
        if order.replaces:
            actions.append(
                {
                    "type": "delete",
                    "description": f"Remove the draft order {order.replaces}",
                    "resourceId": order.replaces,
                }
            )
        actions.append(
            {
                "type": "create",
                "description": f"Order {order.display} (LOINC {order.loinc})",
                "resource": _service_request(order, patient_id),
            }
        )
        label = f"Replace with {order.display}" if order.replaces else f"Order {order.display}"
        suggestions.append({"label": label, "actions": actions})
    for reference in outcome.withdrawals:
        suggestions.append(
            {
                "label": "Remove this draft order",
                "actions": [
                    {"type": "delete", "description": f"Remove the draft order {reference}", "resourceId": reference}
                ],
            }
        )
    for suggestion in suggestions:
        suggestion["uuid"] = str(uuid.uuid5(_NAMESPACE, f"{card_uuid}|{suggestion['label']}"))
        suggestion["isRecommended"] = len(suggestions) == 1
    return suggestions


def card(outcome: Outcome, patient_id: str | None) -> dict[str, Any]:
    """One CDS Hooks card for one outcome."""
    card_uuid = str(uuid.uuid5(_NAMESPACE, f"{patient_id}|{outcome.topic}|{fingerprint(outcome)}"))
    primary = next(iter(outcome.citations), "soares2024")
    rendered: dict[str, Any] = {
        "uuid": card_uuid,
        "summary": outcome.summary,
        "detail": _detail(outcome),
        "indicator": outcome.indicator,
        "source": {
            "label": SOURCE_LABEL,
            "url": CITATIONS[primary].url,
            "topic": {"system": CARD_TOPIC_SYSTEM, "code": outcome.topic, "display": TOPIC_DISPLAYS[outcome.topic]},
        },
    }
    suggestions = _suggestions(outcome, card_uuid, patient_id)
    if suggestions:
        rendered["suggestions"] = suggestions
        rendered["selectionBehavior"] = "at-most-one"
    reasons = _OVERRIDES_BY_TOPIC.get(outcome.topic, _RED_FLAG_OVERRIDES)
    rendered["overrideReasons"] = [
        {"system": OVERRIDE_SYSTEM, "code": code, "display": _OVERRIDES[code]} for code in reasons
    ]
    rendered["links"] = [
        {"label": CITATIONS[key].short, "url": CITATIONS[key].url, "type": "absolute"} for key in outcome.citations[:3]
    ]
    return rendered


def cards(outcomes: Iterable[Outcome], patient_id: str | None) -> list[dict[str, Any]]:
    return [card(outcome, patient_id) for outcome in outcomes]
