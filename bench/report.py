"""The benchmark's figures as a markdown table (each beside its reference and target) and a PNG chart.

`python -m bench.report` redraws both from bench/results/latest.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TARGETS = {"1": 0.5, "2": 0.8, "3": 0.5, "4": 0.7, "6": 0.5}
P99_TARGET_MS = {"1": 50, "5": 150}
RSS_TARGET_MB = {"api": 150, "worker": 200}
LINEAR = 1.1  # growth exponent (log time / log size) counted as linear, allowing for noise


def _rate(figures: dict[str, Any]) -> str:
    shown = f"{figures['requests_per_second']:,.0f} req/s"
    if "p99_ms" in figures:
        shown += f", p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms"
    if figures.get("errors"):  # answers that were not 2xx (or never came): such a rate is not a result
        shown += f", **{figures['errors']:,.0f} errors**"
    return shown


def _ratio_b(scaled: dict[str, Any], row: dict[str, Any]) -> str:
    """A scaled-out rate against its row's reference (b), measured in the same run."""
    return f"{scaled['service']['requests_per_second'] / row['reference']['requests_per_second']:.2f}x"


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def rows(f: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """(#, figure, toh-cds, reference, ratio, target and verdict) per line of the table."""
    one, two, three = f["1_patient_view_inline"], f["2_patient_view_precomputed"], f["3_order_sign"]
    four, five, six = f["4_notifications_accepted"], f["5_event_to_cards"], f["6_worker_screenings"]
    seven, eight = f["7_peak_rss"], f["8_scaling"]
    noop = five["reference_noop_task"]
    reference = "bare handler + same JWT check + one Redis round trip (b): "
    lines = [
        ("1", f"patient-view, screened inline from full prefetch, JWT RS384, {one.get('distinct_bodies', 1)} patients",
         _rate(one["service"]), reference + _rate(one["reference"]), f"{one['ratio']:.2f}x",
         f">= 0.5x {_met(one['ratio'] >= 0.5)}; p99 <= 30 ms {_met(one['service']['p99_ms'] <= 30)}"),
        ("1a", "the same against the bare handler alone (a)", _rate(one["service"]), "bare handler (a): "
         + _rate(one["bare"]), f"{one['ratio_to_bare']:.2f}x", "context"),
        ("1b", "the same with ES384 tokens", _rate(one["es384"]["service"]), reference + _rate(one["es384"]["reference"]),
         f"{one['es384']['ratio']:.2f}x", "context"),
        ("2", "patient-view answered from precomputed cards, JWT RS384", _rate(two["service"]),
         reference + _rate(two["reference"]), f"{two['ratio']:.2f}x",
         f">= 0.8x {_met(two['ratio'] >= 0.8)}; p99 <= 15 ms {_met(two['service']['p99_ms'] <= 15)}"),
    ]  # fmt: skip
    if "healthchain" in one:  # results from before 2026-12-02 have no rows 1c, 2c and 2d
        healthchain = "HealthChain 0.16.1, fixed card (c): "
        one_c, two_c, two_d = one["healthchain"], two["healthchain"], two["scale_out"]
        lines[3:3] = [("1c", "row 1 with JWT off (HealthChain verifies none)", _rate(one_c["service"]),
                       healthchain + _rate(one_c["reference"]), f"{one_c['ratio']:.2f}x",
                       f">= 1.0x {_met(one_c['ratio'] >= 1.0)}")]  # fmt: skip
        lines += [
            ("2c", "row 2 with JWT off", _rate(two_c["service"]), healthchain + _rate(two_c["reference"]),
             f"{two_c['ratio']:.2f}x", f">= 2.0x {_met(two_c['ratio'] >= 2.0)}"),
            ("2d", f"row 2 on `toh-cds api --workers {two_d['workers']}`", _rate(two_d["service"]),
             "row 2's one process, A/B: " + _rate(two_d["reference"]),
             f"{two_d['ratio']:.2f}x; {_ratio_b(two_d, two)} of (b)",
             f"/metrics counted {two_d['metrics_counted']:,.0f} for {two_d['requests_answered']:,.0f} answers "
             f"wrk received (plus at most {two_d['in_flight_at_end']} still in flight when it stopped) "
             + _met(0 < two_d["requests_answered"] <= two_d["metrics_counted"]
                    <= two_d["requests_answered"] + two_d["in_flight_at_end"])),
        ]  # fmt: skip
    lines += [
        ("3", "order-sign, draft MedicationRequest (alendronate), JWT RS384", _rate(three["service"]),
         reference + _rate(three["reference"]), f"{three['ratio']:.2f}x", f">= 0.5x {_met(three['ratio'] >= 0.5)}"),
    ]  # fmt: skip
    lines += [
        ("4", "notifications accepted (backport full-resource), one API process",
         _rate(four["service"]), f"bare send_task() loop: {four['reference']['requests_per_second']:,.0f}/s",
         f"{four['ratio']:.2f}x", f">= 0.7x {_met(four['ratio'] >= 0.7)}"),
        ("5", f"event to cards-ready at {five['offered_per_second']}/s for {five['seconds']:g} s",
         f"p50 {five['p50_ms']:.0f} ms, p99 {five['p99_ms']:.0f} ms ({five['events']} events, "
         f"{five['not_ready_in_30_s']} late)",
         f"no-op task sent at the same rate, send to result: p50 {noop['p50_ms']:.0f} ms, p99 {noop['p99_ms']:.0f} ms",
         f"p99 {five['p99_ms'] / noop['p99_ms']:.1f}x", f"p99 <= 150 ms {_met(five['p99_ms'] <= 150)}"),
    ]  # fmt: skip
    if "after_full_load" in five:  # results from before 2026-12-01 (afternoon) have no row 5b
        late = five["after_full_load"]
        lines.append(("5b", "the same right after figure 6 (about 40 s at full load)",
                      f"p50 {late['p50_ms']:.0f} ms, p99 {late['p99_ms']:.0f} ms ({late['events']} events, "
                      f"{late['not_ready_in_30_s']} late)", "no-op task (row 5)",
                      f"p99 {late['p99_ms'] / noop['p99_ms']:.1f}x", "context"))  # fmt: skip
    lines += [
        ("6", "worker screenings, a burst of 600 patients, assessment unchanged (fetch record, screen, store)",
         f"{six['service']['screenings_per_second']:,.0f}/s",
         f"no-op tasks, same worker: {six['reference']['tasks_per_second']:,.0f}/s",
         f"{six['ratio']:.2f}x", f">= 0.5x {_met(six['ratio'] >= 0.5)}"),
        ("6b", "each patient's first screening (also writes RiskAssessment and Provenance back)",
         f"{six['first_screening']['screenings_per_second']:,.0f}/s", "no-op tasks (row 6)",
         f"{six['first_screening']['ratio']:.2f}x", "context"),
        ("6c", "the same screenings sent one task each (toh.screen_patient), as before batches",
         f"{six['one_task_each']['tasks_per_second']:,.0f}/s", "no-op tasks (row 6)",
         f"{six['one_task_each']['ratio']:.2f}x", "context"),
    ]  # fmt: skip
    worker_peak = max([seven["worker_main_mb"], *seven["worker_pool_mb"]])
    pool = ", ".join(f"{mb:.0f}" for mb in seven["worker_pool_mb"])
    reference = (
        f"bare handler app {seven['reference_bare_handler_mb']:.0f} MB; bare Celery worker "
        f"{seven['reference_bare_worker_main_mb']:.0f} / {seven['reference_bare_worker_pool_mb']:.0f} MB"
    )
    lines.append(("7", "peak RSS: API / worker main / worker pool processes",
                  f"{seven['api_mb']:.0f} / {seven['worker_main_mb']:.0f} / {pool} MB", reference,
                  f"API {seven['api_ratio']:.2f}x, worker process {seven['worker_ratio']:.2f}x",
                  f"API <= 150 MB {_met(seven['api_mb'] <= RSS_TARGET_MB['api'])}; "
                  f"worker <= 200 MB {_met(worker_peak <= RSS_TARGET_MB['worker'])}"))  # fmt: skip
    curve = ", ".join(f"{p['resources']:,}: {p['p50_ms']:.0f}" for p in eight["points"])
    cpu = ", ".join(f"{p['resources']:,}: {p['api_cpu_ms']:.1f}" for p in eight["points"])
    lines += [
        ("8", "patient-view p50 (ms) by record size, fetched and paged from the FHIR server", curve,
         "linear growth", f"exponent {eight['exponent_last_step']:.2f}",
         f"linear or better (<= {LINEAR}) {_met(eight['exponent_last_step'] <= LINEAR)}"),
        ("8b", "of which the API's own CPU (ms per request)", cpu, "linear growth",
         f"exponent {eight['api_cpu_exponent_last_step']:.2f}",
         f"linear or better (<= {LINEAR}) {_met(eight['api_cpu_exponent_last_step'] <= LINEAR)}"),
        ("8c", "and the FHIR server's CPU (sekmet-fhir, ms per request)",
         ", ".join(f"{p['resources']:,}: {p['fhir_server_cpu_ms']:.1f}" for p in eight["points"]), "",
         f"exponent {eight['fhir_server_cpu_exponent_last_step']:.2f}", "context (not ours)"),
    ]  # fmt: skip
    if "9_backfill" in f:  # results from before 2026-12-02 have no row 9
        nine = f["9_backfill"]
        points, last = nine["points"], nine["points"][-1]
        rates = ", ".join(f"{p['patients']:,}: {p['patients_per_second']:,.0f}/s" for p in points)
        downloads = ", ".join(f"{p['export_download_patients_per_second']:,.0f}/s" for p in points)
        noop = nine["reference_noop_tasks_per_second"]
        lines += [
            ("9", "`toh-cds backfill` of generated patients ($export, spool, worker batches, write-back), patients/s",
             rates, f"the $export download alone: {downloads}; no-op tasks: {noop:,.0f}/s",
             f"{last['patients_per_second'] / last['export_download_patients_per_second']:.2f}x of the download, "
             f"{last['patients_per_second'] / noop:.2f}x of no-op tasks at {last['patients']:,}",
             f"time linear or better (exponent {nine['time_exponent_last_step']:.2f} <= {LINEAR}) "
             + _met(nine["time_exponent_last_step"] <= LINEAR)),
            ("9b", "peak RSS of the backfill process; the workers' pool processes after it",
             ", ".join(f"{p['patients']:,}: {p['backfill_peak_rss_mb']:.0f} MB" for p in points)
             + "; workers " + ", ".join(f"{mb:.0f}" for mb in nine["worker_pool_peak_rss_mb"]) + " MB",
             "flat in N", f"{nine['backfill_rss_growth']:+.0%} from the smallest to the largest",
             f"within 20% {_met(abs(nine['backfill_rss_growth']) <= 0.2)}"),
        ]  # fmt: skip
    return lines


def table(f: dict[str, Any]) -> str:
    header = (
        f"Measured {f['when']} on {f['machine']}; load by {f['load_generator']}, {f['connections']} connections, "
        f"{f['rounds']} alternating A/B runs of {f['seconds_per_run']:g} s per pair, medians; "
        f"whole run {f['bench_seconds']} s.\n\n"
        "| # | figure | toh-cds | reference (same run) | ratio | target |\n|---|---|---|---|---|---|\n"
    )
    return header + "".join(f"| {' | '.join(row)} |\n" for row in rows(f))


def chart(f: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"1": "1 patient-view inline", "2": "2 precomputed", "3": "3 order-sign", "4": "4 accepted/s",
              "6": "6 screenings/s"}  # fmt: skip
    keys = {"1": "1_patient_view_inline", "2": "2_patient_view_precomputed", "3": "3_order_sign",
            "4": "4_notifications_accepted", "6": "6_worker_screenings"}  # fmt: skip
    ratios = [f[keys[n]]["ratio"] for n in labels]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    positions = range(len(labels))
    colours = ["tab:green" if r >= TARGETS[n] else "tab:red" for n, r in zip(labels, ratios, strict=True)]
    left.barh(list(positions), ratios, color=colours)
    left.scatter([TARGETS[n] for n in labels], list(positions), marker="|", s=400, color="black", label="target")
    left.set_yticks(list(positions), list(labels.values()))
    left.invert_yaxis()
    left.set_xlabel("toh-cds / reference, same run")
    left.set_title("Throughput against its reference")
    left.set_xlim(0, 1)
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize="small")
    points = f["8_scaling"]["points"]
    sizes = [p["resources"] for p in points]
    right.loglog(sizes, [p["p50_ms"] for p in points], "o-", label="patient-view p50, wall (FHIR server included)")
    right.loglog(sizes, [p["api_cpu_ms"] for p in points], "s-", label="toh-cds API CPU per request")
    right.loglog(sizes, [p["fhir_server_cpu_ms"] for p in points], "^:", label="FHIR server CPU per request")
    right.loglog(sizes, [points[0]["api_cpu_ms"] * s / sizes[0] for s in sizes], "--", color="grey",
                 label="linear from the smallest (API CPU)")  # fmt: skip
    right.set_xlabel("resources in the record")
    right.set_ylabel("ms")
    right.set_title("Cost as the record grows")
    right.legend()
    figure.suptitle(f"toh-cds make bench, {f['when']}, {f['machine']}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    results = Path(__file__).resolve().parent / "results"
    figures = json.loads((results / "latest.json").read_text())
    (results / "latest.md").write_text(table(figures))
    chart(figures, results / "chart.png")
