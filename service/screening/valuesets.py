"""Value sets loaded from `valuesets.toml`: membership of (system, code) pairs, by code, never by display."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from service.screening.fhir import Coding, codings

__all__ = [
    "ICD10",
    "ICD10CM",
    "LOINC",
    "SNOMED",
    "SYSTEMS",
    "DxaCode",
    "ValueSet",
    "classify",
    "drug_names",
    "dxa_codes",
    "observation_loinc_codes",
    "value_set",
    "value_set_names",
]

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"

SYSTEMS = {
    "sct": SNOMED,
    "icd10cm": ICD10CM,
    "loinc": LOINC,
    "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "atc": "http://www.whocc.no/atc",
    "dcm": "http://dicom.nema.org/resources/ontology/DCM",
    "cpt": "http://www.ama-assn.org/go/cpt",
}
# WHO ICD-10 codes are matched against the ICD-10-CM patterns: the families used here share their stems.
_ALIASES = {ICD10: ICD10CM}
_PREFIX_SYSTEMS = {ICD10CM, SYSTEMS["atc"]}


def _normalise(system: str, code: str) -> str:
    return code.replace(".", "").strip().upper() if system in _PREFIX_SYSTEMS else code.strip()


@dataclass(frozen=True)
class ValueSet:
    name: str
    exact: frozenset[Coding]
    prefixes: Mapping[str, tuple[str, ...]]
    excluded: frozenset[Coding]
    excluded_prefixes: Mapping[str, tuple[str, ...]]

    def contains(self, system: str, code: str) -> bool:
        system = _ALIASES.get(system, system)
        key = (system, _normalise(system, code))
        if key in self.excluded or key[1].startswith(self.excluded_prefixes.get(system, ("\0",))):
            return False
        return key in self.exact or key[1].startswith(self.prefixes.get(system, ("\0",)))

    def matches(self, concepts: Any) -> Coding | None:
        """The first coding of a CodeableConcept (or list of them) in this set."""
        for system, code in codings(concepts):
            if self.contains(system, code):
                return system, code
        return None

    def any_in(self, pairs: Iterable[Coding]) -> bool:
        return any(self.contains(system, code) for system, code in pairs)


@dataclass(frozen=True)
class DxaCode:
    site: str  # femur, hip, lumbar-spine, spine, forearm; "-left"/"-right" when the code says so
    measure: str  # T, Z or BMD


def _build(name: str, table: Mapping[str, list[str]]) -> ValueSet:
    exact: set[Coding] = set()
    excluded: set[Coding] = set()
    prefixes: dict[str, list[str]] = {}
    excluded_prefixes: dict[str, list[str]] = {}
    for alias, codes in table.items():
        system = SYSTEMS[alias]
        for raw in codes:
            negated = raw.startswith("!")
            code = _normalise(system, raw.lstrip("!"))
            if code.endswith("*"):
                (excluded_prefixes if negated else prefixes).setdefault(system, []).append(code[:-1])
            else:
                (excluded if negated else exact).add((system, code))
    return ValueSet(
        name,
        frozenset(exact),
        {system: tuple(values) for system, values in prefixes.items()},
        frozenset(excluded),
        {system: tuple(values) for system, values in excluded_prefixes.items()},
    )


@cache
def _tables() -> dict[str, Any]:
    text = resources.files("service.screening").joinpath("valuesets.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@cache
def value_set(name: str) -> ValueSet:
    return _build(name, _tables()[name])


@cache
def dxa_codes() -> Mapping[str, DxaCode]:
    return {code: DxaCode(site, measure) for code, (site, measure) in _tables()["dxa_codes"].items()}


@cache
def drug_names() -> Mapping[str, tuple[str, ...]]:
    """Drug class -> lower-case names and brands: the last resort when a medication carries no code we know."""
    return {name: tuple(words) for name, words in _tables()["drug_names"].items()}


_NOT_VALUE_SETS = {"dxa_codes", "drug_names"}


@cache
def value_set_names() -> frozenset[str]:
    return frozenset(name for name in _tables() if name not in _NOT_VALUE_SETS)


@cache
def _index() -> tuple[dict[Coding, frozenset[str]], dict[str, tuple[tuple[str, str], ...]]]:
    """Every value set at once: exact codes to set names, and per system the (prefix, set name) pairs."""
    exact: dict[Coding, set[str]] = {}
    prefixes: dict[str, list[tuple[str, str]]] = {}
    for name in _tables():
        if name in _NOT_VALUE_SETS:
            continue
        valueset = value_set(name)
        for key in valueset.exact:
            exact.setdefault(key, set()).add(name)
        for system, stems in valueset.prefixes.items():
            prefixes.setdefault(system, []).extend((stem, name) for stem in stems)
    return (
        {key: frozenset(names) for key, names in exact.items()},
        {system: tuple(pairs) for system, pairs in prefixes.items()},
    )


@lru_cache(maxsize=65536)
def _memberships(system: str, code: str) -> frozenset[str]:
    exact, prefixes = _index()
    system = _ALIASES.get(system, system)
    normal = _normalise(system, code)
    names = set(exact.get((system, normal), ()))
    names.update(name for stem, name in prefixes.get(system, ()) if normal.startswith(stem))
    return frozenset(name for name in names if value_set(name).contains(system, code))  # applies exclusions


def classify(concepts: Any) -> frozenset[str]:
    """Names of every value set that holds a coding of these concepts: one look-up per coding, cached."""
    found: frozenset[str] = frozenset()
    for system, code in codings(concepts):
        found |= _memberships(system, code)
    return found


OBSERVATION_SETS = (
    "pregnancy_status", "estimated_delivery_date", "gestational_age_weeks", "gestational_age_days", "delivery_date",
    "pain_score", "crp", "esr", "wbc", "calcium", "phosphate", "vitamin_d", "body_temperature", "bmi",
)  # fmt: skip


@cache
def observation_loinc_codes() -> tuple[str, ...]:
    """Every LOINC code the screening reads from Observations: the filter of the observations prefetch."""
    codes = {code for name in OBSERVATION_SETS for system, code in value_set(name).exact if system == LOINC}
    return tuple(sorted(codes | set(dxa_codes())))
