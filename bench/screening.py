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


MRI_REPORT = (
    "MRI of both hips and pelvis without contrast. Clinical details: 34 weeks pregnant, left hip pain for three "
    "weeks, worse on weight bearing. Comparison: none. Technique: coronal T1 and STIR, axial PD fat-saturated and "
    "T2 images of the pelvis and both hips. Findings: there is diffuse bone marrow oedema of the left femoral head "
    "and neck extending to the intertrochanteric region, with a small joint effusion. No subchondral fracture line, "
    "no double-line sign and no subchondral collapse. The right femoral head and neck are normal. The sacrum, "
    "sacroiliac joints and pubic rami are intact; no insufficiency fracture. The acetabula are normal. The labra "
    "are intact. No soft tissue mass. The gravid uterus is noted. Impression: 1. Bone marrow oedema of the left "
    "femoral head and neck with a small effusion, in keeping with transient osteoporosis of the hip. 2. No "
    "fracture. No avascular necrosis."
)


def report_reading_figures(from_json: Callable[[], object]) -> dict[str, Any]:
    """What the NLP report reader costs: its import and first load (a fresh process), the memory it adds, a typical
    MRI report read uncached, the same read cached, and the seed case screened with every reading uncached."""
    import subprocess
    import sys

    from service.screening import report_reading

    probe = (
        "import re, time; rss = lambda: int(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read())[1]); "
        "t = time.perf_counter(); from service.screening import report_reading as r; i = time.perf_counter(); "
        "before = rss(); r.warm(); w = time.perf_counter(); "
        "print(round((i - t) * 1e3), round((w - i) * 1e3), round((rss() - before) / 1024))"
    )
    imported_ms, warm_ms, rss_mb = (int(x) for x in subprocess.check_output([sys.executable, "-c", probe]).split())
    report_reading.warm()

    def uncached() -> object:
        report_reading._readings.clear()
        return report_reading.read_report(MRI_REPORT)

    def seed_uncached() -> object:
        report_reading._readings.clear()
        return from_json()

    return {
        "report_reader_import_ms": imported_ms,
        "report_reader_first_load_ms": warm_ms,
        "report_reader_rss_mb": rss_mb,
        "report_chars": len(MRI_REPORT),
        "report_read_uncached_us": per_call_us(uncached, rounds=7, number=20),
        "report_read_cached_us": per_call_us(lambda: report_reading.read_report(MRI_REPORT)),
        "screen_and_cards_from_json_uncached_reports_us": per_call_us(seed_uncached, rounds=7, number=50),
    }


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
    figures |= report_reading_figures(from_json)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    result = main()
    width = max(len(key) for key in result)
    for key, value in result.items():
        shown = (f"{value:,.1f}" if value >= 1 else f"{value:.3f}") if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")  # noqa: T201 - a command-line report
