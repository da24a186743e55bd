"""CDS Hooks 2.0 cards from screening outcomes (https://cds-hooks.hl7.org/2.0/#card-attributes).

Pure: every card explains its evidence (the resources that made a rule fire) and cites its sources. A card's uuid
is stable for the same patient, topic and data, so feedback and caches can refer to it; new data, new uuid.
Optional fields are omitted rather than empty, as the specification requires.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from typing import Any

from service.screening import RULES_VERSION, Outcome, ProposedOrder
from service.screening.citations import CITATIONS
from service.screening.registry import CARD_TYPES, OVERRIDE_REASONS, RED_FLAG_CARDS, Topic

__all__ = [
    "CARD_TOPIC_SYSTEM",
    "OVERRIDE_REASONS",
    "OVERRIDE_SYSTEM",
    "TOPIC_DISPLAYS",
    "card",
    "cards",
    "evidence_trail",
    "evidence_trails",
    "outcome_digest",
    "uuid_of",
]

CARD_TOPIC_SYSTEM = "urn:toh-cds:card-type"
OVERRIDE_SYSTEM = "urn:toh-cds:override-reason"
_NAMESPACE = uuid.UUID("2f6d7c1e-4a51-4b0e-9a8e-5d1f3c0b7a42")
SOURCE_LABEL = "toh-cds: transient osteoporosis of the hip screening"
RULES_VERSION_EXTENSION = "toh-cds.rules-version"  # CDS Hooks extensions are keyed by reverse-DNS-like names

# Cards whose story is worth a picture: TOH, PLO and the red flags (which replace a TOH card).
CASE_VIEW_TOPICS = frozenset({Topic.TOH_CONSIDER, Topic.TOH_CONSISTENT, Topic.PLO_CONSIDER, *RED_FLAG_CARDS.values()})
TOPIC_DISPLAYS = {topic.value: card_type.display for topic, card_type in CARD_TYPES.items()}


def outcome_digest(outcome: Outcome) -> str:
    """A digest of the data behind an outcome: which resources, and what they said."""
    parts = sorted(f"{e.reference}|{e.description}" for e in outcome.evidence)
    parts += [outcome.topic, outcome.indicator, outcome.priority or "", RULES_VERSION]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _detail(outcome: Outcome) -> str:
    """What to do first, then why in plain words, then the sources (clinical.md 2.7, "Cards as a clinician reads
    them"). Rule ids, resource references and the rules version stay in the evidence trail and the card's source,
    out of clinician text (2.8)."""
    shown = outcome.recommendations[:5]
    # The sources of what the card recommends; the rules' own sources are in the evidence trail.
    citations = list(dict.fromkeys(key for rec in shown for key in rec.citations)) or list(outcome.citations[:3])
    number = {key: index for index, key in enumerate(citations, start=1)}

    def refs(keys: Iterable[str]) -> str:
        marks = "".join(f"[{number[key]}]" for key in keys if key in number)
        return f" {marks}" if marks else ""

    lines = ["**What to do**"]
    lines += [f"{i}. {rec.text}{refs(rec.citations)}" for i, rec in enumerate(shown, start=1)]
    if outcome.notes:
        lines += ["", *(f"**Note:** {note}" for note in outcome.notes)]
    if outcome.reasons:
        lines += ["", "**Why**", *(f"- {reason}" for reason in outcome.reasons)]
    for order in outcome.orders:
        instead = ", replacing the drafted order" if order.replaces else ""
        cpt = f", CPT {order.cpt}" if order.cpt else ""
        lines += ["", f"**Suggested order:** {order.display} (LOINC {order.loinc}{cpt}){instead}."]
    sources = [
        f"[{number[key]}] [{CITATIONS[key].short}]({CITATIONS[key].url})"
        if CITATIONS[key].url
        else f"[{number[key]}] {CITATIONS[key].short}"
        for key in citations
    ]
    lines += ["", "**Sources** " + " · ".join(sources)]
    return "\n".join(lines)


def _service_request(order: ProposedOrder, patient_id: str | None) -> dict[str, Any]:
    coding = [{"system": "http://loinc.org", "code": order.loinc, "display": order.display}]
    if order.cpt:
        coding.append({"system": "http://www.ama-assn.org/go/cpt", "code": order.cpt, "display": order.display})
    if order.local:
        coding.append({"system": order.local[0], "code": order.local[1], "display": order.display})
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "code": {"coding": coding, "text": order.display},
    }
    if order.note:
        resource["note"] = [{"text": order.note}]
    if order.reasons:  # the pain that justifies the MRI, not a "suspected TOH" code (clinical.md 2.7)
        resource["reasonReference"] = [{"reference": reference} for reference in order.reasons]
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


def uuid_of(outcome: Outcome, patient_id: str | None) -> str:
    """Stable for the same patient, topic and data: feedback, snoozes and evidence trails refer to it."""
    return str(uuid.uuid5(_NAMESPACE, f"{patient_id}|{outcome.topic}|{outcome_digest(outcome)}"))


def evidence_trail(
    outcome: Outcome, patient_id: str | None, card_uuid: str, unread: Iterable[tuple[str, str]] = ()
) -> dict[str, Any]:
    """Every rule behind a card and every resource behind each rule: what the card's evidence link shows. Codes and
    dates only, never names or identifiers (Evidence.description). `unread`: the report texts that were not read
    (too large, binary, a PDF), which a clinician must know the card did not see."""
    return {
        "card": card_uuid,
        "topic": outcome.topic,
        "rulesVersion": RULES_VERSION,
        "patient": f"Patient/{patient_id}" if patient_id else None,
        "rules": [
            {
                "rule": hit.rule,
                "label": hit.label,
                "evidence": [
                    {
                        "reference": e.reference,
                        "description": e.description,
                        "date": e.date.isoformat() if e.date else None,
                    }
                    for e in hit.evidence
                ],
                "sources": [CITATIONS[key].url or CITATIONS[key].text for key in hit.citations],
            }
            for hit in outcome.hits
        ],
        "textNotRead": [{"reference": reference, "why": why} for reference, why in unread],
    }


def card(outcome: Outcome, patient_id: str | None, evidence_base: str | None = None) -> dict[str, Any]:
    """One CDS Hooks card for one outcome; with `evidence_base` (this service's public URL), a link to its evidence
    trail (stored by `evidence_trail`, served by GET /evidence/{uuid})."""
    card_uuid = uuid_of(outcome, patient_id)
    linked = [key for key in outcome.citations if CITATIONS[key].url]
    source: dict[str, Any] = {"label": SOURCE_LABEL}
    if linked:
        source["url"] = CITATIONS[linked[0]].url
    source["topic"] = {"system": CARD_TOPIC_SYSTEM, "code": outcome.topic, "display": TOPIC_DISPLAYS[outcome.topic]}
    rendered: dict[str, Any] = {
        "uuid": card_uuid,
        "summary": outcome.summary,
        "detail": _detail(outcome),
        "indicator": outcome.indicator,
        "source": source,
    }
    suggestions = _suggestions(outcome, card_uuid, patient_id)
    if suggestions:
        rendered["suggestions"] = suggestions
        rendered["selectionBehavior"] = "at-most-one"
    reasons = CARD_TYPES[Topic(outcome.topic)].overrides
    rendered["overrideReasons"] = [
        {"system": OVERRIDE_SYSTEM, "code": code, "display": OVERRIDE_REASONS[code]} for code in reasons
    ]
    links = [{"label": CITATIONS[key].short, "url": CITATIONS[key].url, "type": "absolute"} for key in linked[:3]]
    if evidence_base:
        url = f"{evidence_base}/evidence/{card_uuid}"
        links.append({"label": "The evidence behind this card (JSON)", "url": url, "type": "absolute"})
        if outcome.topic in CASE_VIEW_TOPICS:  # SMART App Launch of the case view; appContext names the card only
            links.append({"label": "Open the case timeline", "url": f"{evidence_base}/app/launch", "type": "smart",
                          "appContext": card_uuid})  # fmt: skip
    if links:
        rendered["links"] = links
    rendered["extension"] = {RULES_VERSION_EXTENSION: RULES_VERSION}  # the version, out of clinician text (2.8)
    return rendered


def cards(
    outcomes: Iterable[Outcome], patient_id: str | None, evidence_base: str | None = None
) -> list[dict[str, Any]]:
    return [card(outcome, patient_id, evidence_base) for outcome in outcomes]


def evidence_trails(
    outcomes: Iterable[Outcome],
    rendered: Iterable[dict[str, Any]],
    patient_id: str | None,
    unread: Iterable[tuple[str, str]] = (),
) -> dict[str, str]:
    """Card uuid -> its evidence trail as JSON, for the store; `rendered` are the outcomes' cards, whose uuids are
    already computed."""
    not_read = tuple(unread)
    return {
        card["uuid"]: json.dumps(evidence_trail(outcome, patient_id, card["uuid"], not_read))
        for outcome, card in zip(outcomes, rendered, strict=True)
    }
