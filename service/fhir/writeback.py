"""What the workers write back to the FHIR server: a RiskAssessment per patient and rules version (a
deterministic id, so every write is an idempotent PUT) and a Provenance naming toh-cds as its author. Pure."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from service.screening import RULES_VERSION, Assessment

__all__ = [
    "CARDS_DIGEST_SYSTEM",
    "TOH_TOPICS",
    "cards_digest_of",
    "provenance",
    "risk_assessment",
    "risk_assessment_id",
]

TOH_TOPICS = ("toh-consistent", "toh-consider")
SNOMED = "http://snomed.info/sct"
_RISK = {"high": "high", "medium": "moderate", "low": "low"}
CARDS_DIGEST_SYSTEM = (
    "urn:toh-cds:fingerprint"  # meta.tag: the cards digest a version holds (URI kept: servers hold it)
)


def cards_digest_of(resource: dict[str, Any] | None) -> str | None:
    """The cards digest a RiskAssessment we wrote carries, so a rerun can tell it is already on the server."""
    meta = (resource or {}).get("meta")
    for tag in meta.get("tag") or [] if isinstance(meta, dict) else []:
        if isinstance(tag, dict) and tag.get("system") == CARDS_DIGEST_SYSTEM and isinstance(tag.get("code"), str):
            return str(tag["code"])
    return None


def risk_assessment_id(patient_id: str) -> str:
    return "toh-" + hashlib.sha256(f"{patient_id}|{RULES_VERSION}".encode()).hexdigest()[:40]


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def risk_assessment(assessment: Assessment, patient_id: str, cards_digest: str | None = None) -> dict[str, Any]:
    """Open when a TOH card applies, amended with a negligible risk once it no longer does (resolved, or a red
    flag now explains the pain)."""
    toh = next((assessment.outcome(topic) for topic in TOH_TOPICS if assessment.outcome(topic)), None)
    pregnant = any(hit.rule == "P1" for hit in assessment.hits)
    outcome = ("240160002", "Transient osteoporosis of hip in pregnancy") if pregnant else ("240159007", "Transient osteoporosis of hip")  # fmt: skip
    resource: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "id": risk_assessment_id(patient_id),
        **({"meta": {"tag": [{"system": CARDS_DIGEST_SYSTEM, "code": cards_digest}]}} if cards_digest else {}),
        "status": "final" if toh else "amended",
        "subject": {"reference": f"Patient/{patient_id}"},
        "occurrenceDateTime": _instant(assessment.evaluated_at),
        "method": {
            "coding": [{"system": "urn:toh-cds:rules", "code": RULES_VERSION, "display": "toh-cds TOH screening"}],
            "text": f"toh-cds TOH screening, rules {RULES_VERSION}",
        },
        "code": {"coding": [{"system": SNOMED, "code": outcome[0], "display": outcome[1]}]},
    }
    if toh is not None:
        references = sorted({item.reference for item in toh.evidence})
        resource["basis"] = [{"reference": reference} for reference in references]
        rationale = "; ".join(f"{hit.rule} {hit.label}" for hit in toh.hits)
        resource["prediction"] = [
            {
                "outcome": {"coding": [{"system": SNOMED, "code": outcome[0], "display": outcome[1]}]},
                "qualitativeRisk": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/risk-probability",
                            "code": _RISK[toh.priority or "medium"],
                        }
                    ]
                },
                "rationale": f"{toh.summary} {rationale}.",
            }
        ]
        resource["note"] = [{"text": toh.summary}]
    else:
        others = ", ".join(assessment.topics) or "no card"
        resource["prediction"] = [
            {
                "outcome": {"coding": [{"system": SNOMED, "code": outcome[0], "display": outcome[1]}]},
                "qualitativeRisk": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/risk-probability", "code": "negligible"}
                    ]
                },
                "rationale": f"No longer indicated ({others}).",
            }
        ]
        resource["note"] = [{"text": f"Closed by toh-cds: the TOH screening no longer applies ({others})."}]
    return resource


def provenance(risk: dict[str, Any], cards_digest: str, recorded: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Provenance",
        "id": f"{risk['id'][:40]}-{cards_digest[:16]}",
        "target": [{"reference": f"RiskAssessment/{risk['id']}"}],
        "recorded": _instant(recorded),
        "activity": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": "UPDATE"}]
        },
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                            "code": "assembler",
                        }
                    ]
                },
                "who": {"display": f"toh-cds rules {RULES_VERSION}"},
            }
        ],
    } | ({"entity": [{"role": "source", "what": basis} for basis in risk["basis"]]} if risk.get("basis") else {})
