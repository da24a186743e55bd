"""Recognising a drug on a MedicationRequest or MedicationStatement (clinical.md 2.7, "Card D and real prescribing
codes"): by (1) an ingredient or ATC code, (2) a prescribing (SCD/SBD) code of the value sets, (3) the ingredient codes
of a contained or referenced Medication, and only then (4) its name, which a card then says it matched by."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from service.screening.fhir import as_list, text_of
from service.screening.valuesets import drug_names, value_set

__all__ = ["DrugMatch", "medication_concepts", "recognise"]


@dataclass(frozen=True)
class DrugMatch:
    drug_class: str  # the value set: bisphosphonate, denosumab, heparin, ...
    code: str | None  # the matching code, or None when matched by name
    name: str | None = None  # the matching name, when matched by name only

    @property
    def by_name(self) -> bool:
        return self.code is None


def _medication(resource: Mapping[str, Any], medications: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    reference = resource.get("medicationReference")
    target = reference.get("reference") if isinstance(reference, Mapping) else None
    if not isinstance(target, str):
        return None
    if target.startswith("#"):
        for contained in as_list(resource.get("contained")):
            if isinstance(contained, Mapping) and contained.get("id") == target[1:]:
                return contained
        return None
    return medications.get(target) or medications.get(target.rsplit("/_history/", 1)[0])


def medication_concepts(
    resource: Mapping[str, Any], medications: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Any]:
    """Every concept that says what the drug is: medicationCodeableConcept, else the Medication's code and the
    codes of its ingredients."""
    concept = resource.get("medicationCodeableConcept")
    if concept is not None:
        return [concept]
    medication = _medication(resource, medications or {})
    if medication is None:
        return []
    concepts = [medication.get("code")]
    for ingredient in as_list(medication.get("ingredient")):
        if isinstance(ingredient, Mapping):
            concepts.append(ingredient.get("itemCodeableConcept"))
    return [c for c in concepts if c is not None]


@cache
def _name_pattern(drug_class: str) -> re.Pattern[str]:
    words = sorted(drug_names()[drug_class], key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(word) for word in words) + r")\b")


def _texts(concepts: Iterable[Any]) -> str:
    return " ".join(text_of(concept) for concept in concepts).lower()


def recognise(
    resource: Mapping[str, Any],
    drug_classes: Iterable[str],
    medications: Mapping[str, Mapping[str, Any]] | None = None,
) -> DrugMatch | None:
    """The first of `drug_classes` this medication belongs to, by code before any class is tried by name."""
    concepts = medication_concepts(resource, medications)
    classes = tuple(drug_classes)
    for drug_class in classes:
        match = value_set(drug_class).matches(concepts)
        if match is not None:
            return DrugMatch(drug_class, match[1])
    text = _texts(concepts)
    for drug_class in classes:
        if drug_class in drug_names() and (found := _name_pattern(drug_class).search(text)) is not None:
            return DrugMatch(drug_class, None, found.group(0))
    return None
