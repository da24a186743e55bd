"""A CDS Hooks 2.0 response validator, written from the specification's tables and invariants
(https://cds-hooks.hl7.org/2.0/#cds-service-response; cds-resp-1..6 in HL7/cds-hooks input/fsh/invariants).
Returns every problem found, so a failing test shows them all."""

from __future__ import annotations

import uuid
from typing import Any

INDICATORS = {"info", "warning", "critical"}
ACTION_TYPES = {"create", "update", "delete"}
SELECTION_BEHAVIORS = {"at-most-one", "any"}
LINK_TYPES = {"absolute", "smart"}


def _empties(value: Any, path: str) -> list[str]:
    """Optional fields are omitted, never null, "", [] or {} (spec: "Null and empty JSON elements")."""
    if value is None or value == "" or value == [] or value == {}:
        return [f"{path} is null or empty"]
    if isinstance(value, dict):
        return [problem for key, item in value.items() for problem in _empties(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [problem for index, item in enumerate(value) for problem in _empties(item, f"{path}[{index}]")]
    return []


def _coding(coding: Any, path: str, *, display: bool = False) -> list[str]:
    if not isinstance(coding, dict):
        return [f"{path} is not a Coding"]
    problems = [f"{path}.{key} missing" for key in ("system", "code") if not isinstance(coding.get(key), str)]
    if display and not isinstance(coding.get("display"), str):
        problems.append(f"{path}.display missing (cds-resp-4)")
    return problems


def _uuid(value: Any, path: str) -> list[str]:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return [f"{path} is not a UUID"]
    return []


def _action(action: Any, path: str) -> list[str]:
    if not isinstance(action, dict):
        return [f"{path} is not an object"]
    problems = []
    if action.get("type") not in ACTION_TYPES:
        problems.append(f"{path}.type must be create, update or delete")
    if not isinstance(action.get("description"), str):
        problems.append(f"{path}.description missing (cds-resp-5)")
    if action.get("type") in ("create", "update") and not isinstance(action.get("resource"), dict):
        problems.append(f"{path}.resource required for {action.get('type')}")
    if action.get("type") == "delete":
        if not isinstance(action.get("resourceId"), str) or "/" not in action["resourceId"]:
            problems.append(f"{path}.resourceId must be a relative reference for delete (cds-resp-2)")
        if "resource" in action:
            problems.append(f"{path}.resource must not be used for delete (cds-resp-2)")
    if isinstance(action.get("resource"), dict) and not isinstance(action["resource"].get("resourceType"), str):
        problems.append(f"{path}.resource is not a FHIR resource")
    return problems


def card_errors(card: Any, path: str = "card") -> list[str]:
    if not isinstance(card, dict):
        return [f"{path} is not an object"]
    problems = _empties(card, path)
    summary = card.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        problems.append(f"{path}.summary missing")
    elif len(summary) >= 140:
        problems.append(f"{path}.summary has {len(summary)} characters (must be < 140)")
    if card.get("indicator") not in INDICATORS:
        problems.append(f"{path}.indicator must be info, warning or critical")
    if "uuid" in card:
        problems += _uuid(card["uuid"], f"{path}.uuid")
    if "detail" in card and not isinstance(card["detail"], str):
        problems.append(f"{path}.detail must be markdown text")
    source = card.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("label"), str):
        problems.append(f"{path}.source.label missing")
    elif "topic" in source:
        problems += _coding(source["topic"], f"{path}.source.topic")
    suggestions = card.get("suggestions")
    if suggestions is not None:
        if card.get("selectionBehavior") not in SELECTION_BEHAVIORS:
            problems.append(f"{path}.selectionBehavior required with suggestions (cds-resp-6)")
        recommended = 0
        for index, suggestion in enumerate(suggestions):
            where = f"{path}.suggestions[{index}]"
            if not isinstance(suggestion.get("label"), str):
                problems.append(f"{where}.label missing")
            if "uuid" in suggestion:
                problems += _uuid(suggestion["uuid"], f"{where}.uuid")
            recommended += suggestion.get("isRecommended") is True
            for number, action in enumerate(suggestion.get("actions", [])):
                problems += _action(action, f"{where}.actions[{number}]")
        if card.get("selectionBehavior") == "at-most-one" and recommended > 1:
            problems.append(f"{path}: at-most-one allows one recommended suggestion at most (cds-resp-1)")
    elif "selectionBehavior" in card:
        problems.append(f"{path}.selectionBehavior without suggestions")
    for index, reason in enumerate(card.get("overrideReasons", [])):
        problems += _coding(reason, f"{path}.overrideReasons[{index}]", display=True)
    for index, link in enumerate(card.get("links", [])):
        where = f"{path}.links[{index}]"
        if not isinstance(link.get("label"), str) or not isinstance(link.get("url"), str):
            problems.append(f"{where}.label and url are required")
        if link.get("type") not in LINK_TYPES:
            problems.append(f"{where}.type must be absolute or smart")
        if "appContext" in link and link.get("type") != "smart":
            problems.append(f"{where}.appContext only for smart links (cds-resp-3)")
    return problems


def response_errors(body: Any) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get("cards"), list):
        return ["response must be an object with a cards array"]
    problems = [p for i, card in enumerate(body["cards"]) for p in card_errors(card, f"cards[{i}]")]
    for index, action in enumerate(body.get("systemActions", [])):
        problems += [p for p in _action(action, f"systemActions[{index}]") if "description" not in p]
    return problems
