"""`make bench`: every figure of the performance report beside its reference, measured in one run on loopback.

  1  patient-view, 50 patients screened inline from full prefetch, a fresh RS384 JWT per request, against (b)
     the bare handler verifying the same JWT with one Redis round trip (1a: against (a), the bare handler alone;
     1b: ES384; 1c: JWT off, against (c) HealthChain's CDS service returning a fixed card, same bodies)
  2  patient-view answered from the workers' precomputed cards, 50 patients, against (b) (2c: JWT off, against
     (c); 2d: `toh-cds api --workers 2` against the one process of row 2, and /metrics counting every answer)
  3  order-sign with a draft MedicationRequest, 50 patients, against (b)
  4  notifications accepted/s (R4 backport, full-resource)                 vs a bare Celery send_task() loop
  5  event to cards-ready latency at 50 events/s for 30 s                  (absolute target: p99 <= 150 ms)
     (5b: the same right after figure 6's runs at full load)
  6  worker screenings/s, a burst of 600 patients (6b: first screenings, with write-back; 6c: one task per
     screening)                                                            vs no-op tasks on the same worker
  7  peak RSS of the API process and of each worker process                (absolute targets: 150 / 200 MB)
  8  patient-view latency for records of 10 to 5,000 resources, fetched    vs linear growth from the smallest
  9  `toh-cds backfill` of 1,000 / 5,000 / 10,000 generated patients        vs the $export download alone, and
     (patients/s, peak RSS of the backfill process and of the workers)       no-op tasks (figure 6's reference)

Paired figures alternate A/B runs and quote medians. Results: bench/results/latest.{json,md} and chart.png.
TOH_BENCH_SECONDS sets the length of each load run (default 5).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import bodies, load, report
from bench import screening as screening_bench
from bench.stack import NOTIFY_TOKEN, Child, Stack, children, cpu_seconds, peak_rss_mb, python, sekmet
from fixtures.population import population
from service.fhir.bulk import BulkExport
from service.ops.redis_server import free_port
from service.pipeline import due
from service.pipeline.backfill import EXPORT_TYPES, export_type_filters
from service.pipeline.celery import create_celery_app
from service.pipeline.store import SCREENINGS_KEY, cards_key, due_flag_key, due_key
from service.pipeline.task_names import TaskName
from service.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
SECONDS = float(os.environ.get("TOH_BENCH_SECONDS", "5"))
ROUNDS = 2
# Rows 1-3: this many distinct patients per run, of realistic size, from these scenarios (no per-body cache helps).
POOL = 50
POOL_SCENARIOS = ("seed-1", "seed-2", "seed-3", "01", "02", "03", "10", "13", "16", "29")
RATE, LATENCY_SECONDS, PATIENTS = 50, float(os.environ.get("TOH_BENCH_LATENCY_SECONDS", "30")), 60
BURST, SCREENING_ROUNDS = 600, 3  # figure 6: distinct patients; its runs are short, so one pair more
SIZES = (10, 100, 1000, 5000)
BACKFILL_SIZES = tuple(int(n) for n in os.environ.get("TOH_BENCH_BACKFILL_SIZES", "1000,5000,10000").split(","))
REFERENCE_SECONDS = 10


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def paired(
    a: Callable[[], dict[str, float]], b: Callable[[], dict[str, float]], rounds: int = ROUNDS
) -> tuple[dict[str, Any], ...]:
    """A, B, A, B...: slow drifts of the machine hit both sides alike."""
    runs: tuple[list[dict[str, float]], list[dict[str, float]]] = ([], [])
    for _ in range(rounds):
        runs[0].append(a())
        runs[1].append(b())
    return tuple(median_of(side) | {"runs": side} for side in runs)


def ratio(value: float, reference: float) -> float:
    return round(value / reference, 3)


class Bench(Stack):
    """The stack, and how each figure is measured on it."""

    # 1-3 ---------------------------------------------------------------------------------------------------------
    def hook(self, service: str, pool: tuple[bytes, ...], algorithm: str = "RS384") -> dict[str, Any]:
        """Against reference (b), A/B: the bare handler verifying the same JWT and making the same one Redis round
        trip for the replay check, on the same bodies; reference (a), the bare handler alone, once, as context.
        Every request carries a fresh JWT and the next of `pool`'s distinct patients."""
        url = f"{self.api_url}/cds-services/{service}"
        checked = f"{self.bare_url}/jwt-replay/cds-services/{service}"

        def ours() -> dict[str, float]:
            tokens = self.keys.tokens(algorithm, url, int(SECONDS * 3000))
            return load.run(load.Post(url, pool[0], tokens=tokens, pool=pool), SECONDS)

        def reference() -> dict[str, float]:
            tokens = self.keys.tokens(algorithm, checked, int(SECONDS * 4000))
            return load.run(load.Post(checked, pool[0], tokens=tokens, pool=pool), SECONDS)

        service_figures, reference_figures = paired(ours, reference)
        bare = load.run(load.Post(f"{self.bare_url}/cds-services/{service}", pool[0], pool=pool), SECONDS)
        return {
            "service": service_figures,
            "reference": reference_figures,
            "bare": bare,
            "ratio": ratio(service_figures["requests_per_second"], reference_figures["requests_per_second"]),
            "ratio_to_bare": ratio(service_figures["requests_per_second"], bare["requests_per_second"]),
            "distinct_bodies": len(set(pool)),
        }

    # 1c, 2c ------------------------------------------------------------------------------------------------------
    def against_healthchain(self, pools: dict[str, tuple[bytes, ...]]) -> dict[str, Any]:
        """JWT off on both sides (HealthChain verifies none): our patient-view, against reference (c), HealthChain's
        CDS Hooks service returning a fixed card, A/B on the same bodies."""
        api, api_url = self.start_api(TOH_CDS_REQUIRE_AUTH="false")
        healthchain, healthchain_url = self.start_healthchain()
        figures: dict[str, Any] = {}
        try:
            for name, pool in pools.items():
                ours = load.Post(f"{api_url}/cds-services/toh-patient-view", pool[0], pool=pool)
                theirs = load.Post(f"{healthchain_url}/toh-patient-view", pool[0], pool=pool)
                service, reference = paired(lambda: load.run(ours, SECONDS), lambda: load.run(theirs, SECONDS))  # noqa: B023
                figures[name] = {"service": service, "reference": reference,
                                 "ratio": ratio(service["requests_per_second"], reference["requests_per_second"])}  # fmt: skip
        finally:
            api.stop()
            healthchain.stop()
        return figures

    # 2d ----------------------------------------------------------------------------------------------------------
    def scale_out(self, pool: tuple[bytes, ...], workers: int = 2) -> dict[str, Any]:
        """Row 2's load on `toh-cds api --workers 2` against the one process of row 2, A/B; then /metrics of the
        group must count every answer wrk received (prometheus_client's multiprocess mode)."""
        group, group_url = self.start_api("--workers", str(workers))
        url = f"{group_url}/cds-services/toh-patient-view"

        def answered() -> float:
            text = httpx.get(f"{group_url}/metrics", timeout=10).text
            prefix = 'toh_cds_responses_total{service="toh-patient-view",source="precomputed"} '
            return sum(float(line.removeprefix(prefix)) for line in text.splitlines() if line.startswith(prefix))

        try:
            before = answered()

            def scaled() -> dict[str, float]:
                tokens = self.keys.tokens("RS384", url, int(SECONDS * 5000))
                return load.run(load.Post(url, pool[0], tokens=tokens, pool=pool), SECONDS)

            single = f"{self.api_url}/cds-services/toh-patient-view"

            def one_process() -> dict[str, float]:
                tokens = self.keys.tokens("RS384", single, int(SECONDS * 3000))
                return load.run(load.Post(single, pool[0], tokens=tokens, pool=pool), SECONDS)

            service_figures, reference = paired(scaled, one_process)
            counted = answered() - before
        finally:
            group.stop()
        received = sum(run["answered"] for run in service_figures["runs"])
        return {
            "workers": workers,
            "service": service_figures,
            "reference": reference,
            "ratio": ratio(service_figures["requests_per_second"], reference["requests_per_second"]),
            "metrics_counted": counted,
            "requests_answered": received,
            # wrk stops counting with requests on the wire: the servers answer (and count) up to one per connection
            "in_flight_at_end": load.CONNECTIONS * len(service_figures["runs"]),
        }

    # 4 -----------------------------------------------------------------------------------------------------------
    def accepted(self) -> dict[str, Any]:
        body = json.dumps(bodies.notification("toh-bench-0", "__EVENT__")).encode()
        post = load.Post(f"{self.api_url}/fhir/notifications", body, "application/fhir+json", bearer=NOTIFY_TOKEN)
        producer = create_celery_app(Settings(redis_url=self.redis_server.url))
        payload = bodies.notification("toh-bench-0", "1")["entry"][1]["resource"]

        def bare_loop() -> dict[str, float]:
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < SECONDS:
                producer.send_task(TaskName.PROCESS_EVENT, kwargs={"fhir_base": self.fhir_base,
                                                                "focus": "Observation/1", "resource": payload})  # fmt: skip
                count += 1
            return {"requests_per_second": count / (time.perf_counter() - started)}

        try:
            service_figures, reference = paired(lambda: load.run(post, SECONDS), bare_loop)
        finally:
            producer.close()
            self.store.delete("celery", due_key(self.fhir_base), due_flag_key(self.fhir_base))
        return {
            "service": service_figures,
            "reference": reference,
            "ratio": ratio(service_figures["requests_per_second"], reference["requests_per_second"]),
        }

    # 5 -----------------------------------------------------------------------------------------------------------
    async def event_to_cards(self, first_event: int = 0) -> dict[str, Any]:
        """RATE events a second, each for one of PATIENTS (screened once before, so their RiskAssessments exist: the
        steady state); time until that patient's cards are newer than the event."""
        samples: list[float] = []
        lost = 0
        async with httpx.AsyncClient(timeout=10) as client:

            async def one(index: int) -> None:
                nonlocal lost
                patient = f"toh-bench-{index % PATIENTS}"
                key = cards_key(self.fhir_base, patient)
                sent = time.time()
                number = str(first_event + index + 1)  # a run again continues the numbering, or it is all duplicates
                body = json.dumps(bodies.notification(patient, number, "Subscription/bench-latency"))
                response = await client.post(f"{self.api_url}/fhir/notifications", content=body,
                                             headers={"Authorization": f"Bearer {NOTIFY_TOKEN}",
                                                      "Content-Type": "application/fhir+json"})  # fmt: skip
                response.raise_for_status()
                while time.time() - sent < 30:
                    raw = self.store.get(key)
                    if raw and json.loads(raw)["evaluated_at"] >= sent:
                        samples.append((time.time() - sent) * 1e3)
                        return
                    await asyncio.sleep(0.005)  # polling for the result is the measurement itself
                lost += 1

            tasks = []
            started = time.perf_counter()
            for index in range(int(RATE * LATENCY_SECONDS)):
                tasks.append(asyncio.create_task(one(index)))
                await asyncio.sleep(max(0.0, started + (index + 1) / RATE - time.perf_counter()))
            await asyncio.gather(*tasks)
        samples.sort()
        return {
            "offered_per_second": RATE,
            "seconds": LATENCY_SECONDS,
            "events": len(samples),
            "not_ready_in_30_s": lost,
            "p50_ms": samples[len(samples) // 2],
            "p99_ms": samples[math.ceil(len(samples) * 0.99) - 1],
        }

    async def noop_latency(self) -> dict[str, Any]:
        """The reference of figure 5: no-op tasks sent with send_task at the same rate; send to result stored."""
        producer = create_celery_app(Settings(redis_url=self.redis_server.url))
        samples: list[float] = []

        async def one() -> None:
            sent = time.time()
            task_id = producer.send_task(TaskName.PING).id
            while time.time() - sent < 30:
                if self.store.exists(f"celery-task-meta-{task_id}"):
                    samples.append((time.time() - sent) * 1e3)
                    return
                await asyncio.sleep(0.005)  # the same polling as figure 5, so both carry its granularity

        started = time.perf_counter()
        tasks = []
        for index in range(int(RATE * REFERENCE_SECONDS)):
            tasks.append(asyncio.create_task(one()))
            await asyncio.sleep(max(0.0, started + (index + 1) / RATE - time.perf_counter()))
        await asyncio.gather(*tasks)
        producer.close()
        samples.sort()
        return {"events": len(samples), "p50_ms": samples[len(samples) // 2],
                "p99_ms": samples[math.ceil(len(samples) * 0.99) - 1]}  # fmt: skip

    # 6 -----------------------------------------------------------------------------------------------------------
    def drain_rate(self, task: str, kwargs_list: list[dict[str, Any]]) -> dict[str, float]:
        """Tasks per second from the first send to the last completion (counted by the workers in Redis)."""

        def done() -> int:
            outcomes = self.store.hgetall("toh:metrics:task-outcomes")
            return sum(int(v) for k, v in outcomes.items() if k.decode().startswith(task + "|"))

        producer = create_celery_app(Settings(redis_url=self.redis_server.url))
        before, started = done(), time.perf_counter()
        for kwargs in kwargs_list:
            producer.send_task(task, kwargs=kwargs)
        while done() - before < len(kwargs_list):
            time.sleep(0.01)
        producer.close()
        return {"tasks_per_second": len(kwargs_list) / (time.perf_counter() - started)}

    def screened_rate(self, patients: list[str]) -> dict[str, float]:
        """A burst: every patient due at once, as a wave of notifications leaves them; screenings per second from
        the task that starts on them until the last one is stored (counted by the workers in Redis)."""

        def screened() -> int:
            return int(self.store.hget(SCREENINGS_KEY, "screened") or 0)

        producer = create_celery_app(Settings(redis_url=self.redis_server.url))
        for patient in patients:
            due.mark_due(self.store, self.fhir_base, patient, coalesce_seconds=0)
        before, started = screened(), time.perf_counter()
        producer.send_task(TaskName.SCREEN_DUE, kwargs={"fhir_base": self.fhir_base})
        while screened() - before < len(patients):
            time.sleep(0.01)
        producer.close()
        return {"screenings_per_second": len(patients) / (time.perf_counter() - started)}

    def screenings(self) -> dict[str, Any]:
        """Each patient's first screening also writes the RiskAssessment and Provenance back (6b); it runs apart, so
        that the paired runs all measure the common case, a screening whose assessment did not change (6). 6c: the
        same screenings sent one task each."""
        patients = [f"toh-bench-burst-{i}" for i in range(BURST)]
        first_rate = self.screened_rate(patients)
        service_figures, reference = paired(
            lambda: self.screened_rate(patients),
            lambda: self.drain_rate(TaskName.PING, [{} for _ in range(2000)]),
            rounds=SCREENING_ROUNDS,
        )
        one_each = self.drain_rate(
            TaskName.SCREEN_PATIENT, [{"fhir_base": self.fhir_base, "patient_id": patient} for patient in patients]
        )
        return {
            "service": service_figures,
            "reference": reference,
            "ratio": ratio(service_figures["screenings_per_second"], reference["tasks_per_second"]),
            "first_screening": first_rate
            | {"ratio": ratio(first_rate["screenings_per_second"], reference["tasks_per_second"])},
            "one_task_each": one_each | {"ratio": ratio(one_each["tasks_per_second"], reference["tasks_per_second"])},
        }

    # 8 -----------------------------------------------------------------------------------------------------------
    def scaling(self) -> dict[str, Any]:
        """patient-view with no prefetch: the service pages through the record on the FHIR server and screens it.
        Wall time includes the FHIR server's work; the API's own CPU time per request is what toh-cds costs."""
        url = f"{self.api_url}/cds-services/toh-patient-view"
        points = []
        for size in SIZES:
            patient = f"toh-bench-size-{size}"
            body = json.loads(bodies.hook_body("patient-view", bodies.padded_record(patient, size), prefetch=False))
            body["fhirServer"] = self.fhir_base
            tokens = self.keys.tokens("RS384", url, 16)
            latencies = []
            with httpx.Client(timeout=60) as client:
                for index, token in enumerate(tokens[:12]):
                    if index == 2:  # the first two warm the servers' caches
                        cpu_before = cpu_seconds(self.api.pid), cpu_seconds(self.sekmet.pid)
                    started = time.perf_counter()
                    response = client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
                    latencies.append((time.perf_counter() - started) * 1e3)
                    response.raise_for_status()
                    assert len(response.json()["cards"]) > 0
                api_cpu_ms = (cpu_seconds(self.api.pid) - cpu_before[0]) * 1e3 / 10
                fhir_cpu_ms = (cpu_seconds(self.sekmet.pid) - cpu_before[1]) * 1e3 / 10
            points.append({"resources": size, "p50_ms": statistics.median(latencies[2:]), "api_cpu_ms": api_cpu_ms,
                           "fhir_server_cpu_ms": fhir_cpu_ms})  # fmt: skip
        last, previous = points[-1], points[-2]
        step = math.log(SIZES[-1] / SIZES[-2])
        return {
            "points": points,
            "exponent_last_step": round(math.log(last["p50_ms"] / previous["p50_ms"]) / step, 3),
            "api_cpu_exponent_last_step": round(math.log(last["api_cpu_ms"] / previous["api_cpu_ms"]) / step, 3),
            "fhir_server_cpu_exponent_last_step": round(
                math.log(last["fhir_server_cpu_ms"] / previous["fhir_server_cpu_ms"]) / step, 3
            ),
        }

    # 7 -----------------------------------------------------------------------------------------------------------
    def memory(self) -> dict[str, Any]:
        """Peak RSS of the API and the worker, beside the bare handler app (under the same loads) and a bare Celery
        worker (same broker, two prefork processes) that ran as many no-op tasks as our worker ran pings."""
        assert self.worker is not None
        bare_worker = Child(python("-m", "celery", "-A", "bench.bare_worker", "worker", "-l", "INFO", "--concurrency",
                                   "2", "--without-mingle", "--without-gossip"), self.env).ready(" ready.")  # fmt: skip
        try:
            producer = create_celery_app(Settings(redis_url=self.redis_server.url))
            for _ in range(4000):
                producer.send_task("bare.noop", queue="bare")
            producer.close()
            while self.store.llen("bare"):
                time.sleep(0.05)  # the queue draining is the only sign the bare worker gives
            bare_pool = max(peak_rss_mb(pid) for pid in children(bare_worker.pid))
            bare_main = peak_rss_mb(bare_worker.pid)
        finally:
            bare_worker.stop()
        pool = [peak_rss_mb(pid) for pid in children(self.worker.pid)]
        figures = {
            "api_mb": peak_rss_mb(self.api.pid),
            "worker_main_mb": peak_rss_mb(self.worker.pid),
            "worker_pool_mb": pool,
            "reference_bare_handler_mb": peak_rss_mb(self.bare.pid),
            "reference_bare_worker_main_mb": bare_main,
            "reference_bare_worker_pool_mb": bare_pool,
        }
        figures["api_ratio"] = round(figures["api_mb"] / figures["reference_bare_handler_mb"], 3)
        figures["worker_ratio"] = round(max(pool) / bare_pool, 3)
        return figures


class Backfills(Bench):
    """Figure 9, on servers of their own: a population of each size loaded, exported and backfilled."""

    def backfill(self, size: int) -> dict[str, Any]:
        directory = self.scratch / f"backfill-{size}"
        directory.mkdir()
        server, base = sekmet(directory, free_port())
        try:
            members = population(size, seed=size)
            entries: list[dict[str, Any]] = []
            for member in members:
                entries += [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                            for r in member.resources]  # fmt: skip
                if len(entries) >= 500:
                    self._load(base, entries)
            self._load(base, entries)
            download = self._download_alone(base)
            command = python("-m", "service.cli", "backfill", "--fhir-base", base, "--max-rps", "0", "--batch", "50",
                             "--timeout", "1800")  # fmt: skip
            started = time.perf_counter()
            child = subprocess.Popen(
                command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
            peak = 0.0
            while child.poll() is None:
                try:
                    peak = max(peak, peak_rss_mb(child.pid))
                except (OSError, RuntimeError):
                    pass  # it exited between the poll and the read
                time.sleep(0.2)  # sampling its memory is the measurement
            seconds = time.perf_counter() - started
            summary = (child.stdout.read() if child.stdout else "").strip().splitlines()[-1]
            assert child.returncode == 0 and f"{size} patients read, {size} screened" in summary, summary
        finally:
            server.stop()
        return {"patients": size, "seconds": seconds, "patients_per_second": size / seconds,
                "backfill_peak_rss_mb": peak, "summary": summary,
                "export_download_seconds": download, "export_download_patients_per_second": size / download}  # fmt: skip

    @staticmethod
    def _load(base: str, entries: list[dict[str, Any]]) -> None:
        if entries:
            bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
            httpx.post(base, json=bundle, timeout=300).raise_for_status()
            entries.clear()

    @staticmethod
    def _download_alone(base: str) -> float:
        """Reference: the same export kicked off, waited for and every line read, with nothing done with them."""
        started = time.perf_counter()
        with httpx.Client(timeout=300) as http:
            export = BulkExport(http, base)
            status = export.kick_off(types=EXPORT_TYPES, type_filters=export_type_filters())
            assert status is not None
            for file in export.wait_for_files(status, lambda _: None):
                for _ in export.resources(file):
                    pass
        return time.perf_counter() - started

    def backfills(self, noop_per_second: float) -> dict[str, Any]:
        assert self.worker is not None
        points = [self.backfill(size) for size in BACKFILL_SIZES]
        first, last, previous = points[0], points[-1], points[-2]
        return {
            "points": points,
            "time_exponent_last_step": round(
                math.log(last["seconds"] / previous["seconds"]) / math.log(last["patients"] / previous["patients"]), 3
            ),
            "backfill_rss_growth": round(last["backfill_peak_rss_mb"] / first["backfill_peak_rss_mb"] - 1, 3),
            "worker_pool_peak_rss_mb": [peak_rss_mb(pid) for pid in children(self.worker.pid)],
            "reference_noop_tasks_per_second": noop_per_second,
        }


def run() -> dict[str, Any]:
    started = time.monotonic()
    figures: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_generator": load.GENERATOR,
        "connections": load.CONNECTIONS,
        "seconds_per_run": SECONDS,
        "rounds": ROUNDS,
    }
    with tempfile.TemporaryDirectory(prefix="toh-bench-") as scratch:
        bench = Backfills(Path(scratch))
        try:
            patients = [r for i in range(PATIENTS) for r in bodies.scenario_resources("seed-1", f"toh-bench-{i}")]
            patients += [r for i in range(BURST) for r in bodies.scenario_resources("seed-1", f"toh-bench-burst-{i}")]
            bench.load_fhir(patients)
            for size in SIZES:
                bench.load_fhir(bodies.padded_record(f"toh-bench-size-{size}", size))
            # Figure 5 first, beside its reference, before any run at full load: this VM stays slower for a while
            # after one (see the README); 5b runs it again right after figure 6, for the record.
            bench.start_worker()
            bench.screened_rate([f"toh-bench-{i}" for i in range(PATIENTS)])  # figure 5 measures the steady state
            figures["5_event_to_cards"] = asyncio.run(bench.event_to_cards())
            figures["5_event_to_cards"]["reference_noop_task"] = asyncio.run(bench.noop_latency())
            bench.stop_worker()  # figure 4 measures the API alone
            figures["4_notifications_accepted"] = bench.accepted()
            bench.start_worker()
            figures["6_worker_screenings"] = bench.screenings()
            figures["5_event_to_cards"]["after_full_load"] = asyncio.run(
                bench.event_to_cards(first_event=int(RATE * LATENCY_SECONDS))
            )
            inline = bodies.pool("patient-view", POOL_SCENARIOS, POOL)
            figures["1_patient_view_inline"] = bench.hook("toh-patient-view", inline)
            figures["1_patient_view_inline"]["es384"] = bench.hook("toh-patient-view", inline, algorithm="ES384")
            precomputed = tuple(  # patients the workers screened for figure 5: their cards are in Redis
                bodies.hook_body("patient-view", bodies.scenario_resources("seed-1", f"toh-bench-{i}"), prefetch=False)
                for i in range(POOL)
            )
            figures["2_patient_view_precomputed"] = bench.hook("toh-patient-view", precomputed)
            figures["2_patient_view_precomputed"]["scale_out"] = bench.scale_out(precomputed)
            healthchain = bench.against_healthchain({"inline": inline, "precomputed": precomputed})
            figures["1_patient_view_inline"]["healthchain"] = healthchain["inline"]
            figures["2_patient_view_precomputed"]["healthchain"] = healthchain["precomputed"]
            figures["3_order_sign"] = bench.hook("toh-order-sign", bodies.pool("order-sign", ("14",), POOL))
            figures["8_scaling"] = bench.scaling()
            figures["7_peak_rss"] = bench.memory()
            figures["9_backfill"] = bench.backfills(figures["6_worker_screenings"]["reference"]["tasks_per_second"])
        finally:
            bench.close()
    figures["screening_micro"] = screening_bench.main()
    figures["bench_seconds"] = round(time.monotonic() - started)
    return figures


def main() -> None:
    figures = run()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(figures, indent=2) + "\n")
    table = report.table(figures)
    (RESULTS / "latest.md").write_text(table)
    report.chart(figures, RESULTS / "chart.png")
    print(table)  # noqa: T201 - the report


if __name__ == "__main__":
    main()
