"""Micro-benchmark: screen the seed case from JSON text (parse included) and render its cards.

A benchmark, never a timed test: `make bench` prints the figures and writes bench/results/screening.json.
The reference figure is fhir.resources validating the same Bundle, which the hot path deliberately avoids.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from fixtures.scenarios import NOW, SEED_DELIVERY, seed
from service.cds.cards import cards
from service.screening import screen

RESULTS = Path(__file__).resolve().parent / "results" / "screening.json"
TARGET_US = 1000.0


def seed_record(size: int = 30) -> dict[str, Any]:
    """The seed case two months postpartum (TOH and DXA cards), padded with vital signs to `size` resources."""
    now = NOW + timedelta(days=SEED_DELIVERY + 61)
    record = seed(3)(now)
    for index in range(size - len(record.resources)):
        record.observation(
            {"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"},
            at=-index,
            quantity=(70 + index % 20, "/min"),
            category="vital-signs",
        )
    return record.bundle()


def per_call_us(action: Callable[[], object], rounds: int = 15, number: int = 300) -> float:
    """Median over rounds of the mean time per call, in microseconds."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(number):
            action()
        samples.append((time.perf_counter() - started) / number * 1e6)
    return statistics.median(samples)


def main() -> dict[str, Any]:
    bundle = seed_record()
    text = json.dumps(bundle)
    now = NOW + timedelta(days=SEED_DELIVERY + 61)

    def from_json() -> object:
        resources = [entry["resource"] for entry in json.loads(text)["entry"]]
        assessment = screen(resources, now)
        return cards(assessment.outcomes, assessment.patient_id)

    topics = [card["source"]["topic"]["code"] for card in from_json()]  # type: ignore[attr-defined]
    resources = [entry["resource"] for entry in bundle["entry"]]
    figures = {
        "resources": len(resources),
        "topics": topics,
        "json_parse_us": per_call_us(lambda: json.loads(text)),
        "screen_us": per_call_us(lambda: screen(resources, now)),
        "screen_and_cards_from_json_us": per_call_us(from_json),
        "reference_fhir_resources_bundle_validation_us": per_call_us(
            lambda: Bundle.model_validate_json(text), number=20
        ),
        "target_us": TARGET_US,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
    }
    figures["ratio_to_validation"] = round(
        figures["screen_and_cards_from_json_us"] / figures["reference_fhir_resources_bundle_validation_us"], 3
    )
    figures["meets_target"] = figures["screen_and_cards_from_json_us"] < TARGET_US
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    result = main()
    width = max(len(key) for key in result)
    for key, value in result.items():
        shown = (f"{value:,.1f}" if value >= 1 else f"{value:.3f}") if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")  # noqa: T201 - a command-line report
