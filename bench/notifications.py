"""The Subscription pipeline under load, each figure beside a reference measured in the same run:

accepted/s   one API process receiving backport full-resource notifications (wrk, unique event numbers)
             vs a bare Celery send_task() loop of the same payload
latency      event to cards-ready (p50/p99) at a fixed 50 events/s, sekmet-fhir as the FHIR server
screenings/s one worker (same settings) screening patients vs the same worker running no-op tasks
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis

from fixtures.scenarios import SCENARIOS
from service.redis_server import RedisServer, free_port
from service.settings import Settings
from service.store import cards_key
from workers.celery_app import create_celery_app

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "notifications.json"
SEKMET = ROOT / ".venv-sekmet" / "bin" / "sekmet"
TOKEN = "bench-notify-token"
SECONDS = float(os.environ.get("TOH_BENCH_SECONDS", "8"))
RATE, LATENCY_SECONDS, PATIENTS = 50, float(os.environ.get("TOH_BENCH_LATENCY_SECONDS", "30")), 60


def notification(patient: str, number: str) -> dict[str, Any]:
    observation = {"resourceType": "Observation", "id": f"{patient}-pain", "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
                   "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": datetime.now(UTC).isoformat(),
                   "valueQuantity": {"value": 7, "unit": "{score}"}}  # fmt: skip
    parameters = [
        {"name": "subscription", "valueReference": {"reference": "Subscription/bench"}},
        {"name": "status", "valueCode": "active"},
        {"name": "type", "valueCode": "event-notification"},
        {"name": "notification-event", "part": [{"name": "event-number", "valueString": number},
                                                 {"name": "focus", "valueReference": {"reference": f"Observation/{patient}-pain"}}]},
    ]  # fmt: skip
    return {"resourceType": "Bundle", "type": "history",
            "entry": [{"resource": {"resourceType": "Parameters", "parameter": parameters}}, {"resource": observation}]}  # fmt: skip


def start(command: list[str], env: dict[str, str], ready: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:  # wait for the line that says it is ready
        if ready in line:
            break
    subprocess.Popen(["cat"], stdin=process.stdout, stdout=subprocess.DEVNULL)  # keep draining its output
    return process


def accepted_per_second(api: str, scratch: Path) -> dict[str, float]:
    template = json.dumps(notification("toh-bench-0", "__EVENT__"))
    (scratch / "body.json").write_text(template)
    script = Path(__file__).resolve().parent / "wrk_notifications.lua"
    output = subprocess.run(["wrk", "-t", "2", "-c", "16", "-d", f"{SECONDS:g}s", "--latency", "-s", str(script),
                             f"{api}/fhir/notifications", "--", str(scratch / "body.json"), TOKEN],
                            capture_output=True, text=True, check=True, timeout=SECONDS + 60).stdout  # fmt: skip
    figures = json.loads(output.strip().splitlines()[-1])
    return {
        "per_second": figures["requests"] / figures["seconds"],
        "p99_ms": figures["p99_ms"],
        "errors": figures["errors"],
    }


def send_task_per_second(redis_url: str) -> dict[str, float]:
    producer = create_celery_app(Settings(redis_url=redis_url))
    payload = notification("toh-bench-0", "1")["entry"][1]["resource"]
    count, deadline = 0, time.perf_counter() + SECONDS
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        producer.send_task(
            "toh.process_event", kwargs={"fhir_base": "http://x", "focus": "Observation/1", "resource": payload}
        )
        count += 1
    elapsed = time.perf_counter() - started
    producer.close()
    return {"per_second": count / elapsed}


async def latency(api: str, store: redis.Redis, fhir_base: str) -> dict[str, float]:
    """Send RATE events a second, each for one of PATIENTS; time until that patient's cards are newer than it."""
    samples: list[float] = []
    interval = 1 / RATE
    async with httpx.AsyncClient(timeout=10) as client:

        async def one(index: int) -> None:
            patient = f"toh-bench-{index % PATIENTS}"
            key = cards_key(fhir_base, patient)
            sent = time.time()
            body = json.dumps(notification(patient, str(10**9 + index)))
            response = await client.post(f"{api}/fhir/notifications", content=body,
                                         headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"})  # fmt: skip
            assert response.status_code == 200
            while time.time() - sent < 10:
                raw = store.get(key)
                if raw and json.loads(raw)["evaluated_at"] >= sent:
                    samples.append((time.time() - sent) * 1e3)
                    return
                await asyncio.sleep(0.005)  # polling Redis for the result: the measured quantity itself

        tasks = []
        for index in range(int(RATE * LATENCY_SECONDS)):
            tasks.append(asyncio.create_task(one(index)))
            await asyncio.sleep(interval)
        await asyncio.gather(*tasks)
    samples.sort()
    return {
        "events": len(samples),
        "p50_ms": samples[len(samples) // 2],
        "p99_ms": samples[int(len(samples) * 0.99) - 1],
    }


def drain_rate(redis_url: str, task: str, kwargs_list: list[dict[str, Any]], store: redis.Redis) -> float:
    producer = create_celery_app(Settings(redis_url=redis_url))
    before = sum(
        int(v) for k, v in store.hgetall("toh:metrics:task-outcomes").items() if k.decode().startswith(task + "|")
    )
    started = time.perf_counter()
    for kwargs in kwargs_list:
        producer.send_task(task, kwargs=kwargs)
    while True:
        done = sum(
            int(v) for k, v in store.hgetall("toh:metrics:task-outcomes").items() if k.decode().startswith(task + "|")
        )
        if done - before >= len(kwargs_list):
            break
        time.sleep(0.02)
    producer.close()
    return len(kwargs_list) / (time.perf_counter() - started)


def main() -> dict[str, Any]:
    assert shutil.which("wrk"), "wrk is needed (apt-get install wrk)"
    scratch = Path(tempfile.mkdtemp(prefix="toh-bench-"))
    redis_server = RedisServer(scratch / "redis", appendonly=False).start()
    store = redis.Redis.from_url(redis_server.url)
    fhir_port, api_port = free_port(), free_port()
    fhir_base = f"http://127.0.0.1:{fhir_port}/fhir"
    (scratch / "sekmet.yaml").write_text(f"base_url: {fhir_base}\nhost: 127.0.0.1\nport: {fhir_port}\n"
                                          f"data_dir: {scratch / 'sekmet'}\nsimulator: {{enabled: false}}\n")  # fmt: skip
    sekmet = start([str(SEKMET), "serve", "-c", str(scratch / "sekmet.yaml")], dict(os.environ), "startup complete")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOH_")}
    env.update(TOH_REDIS_URL=redis_server.url, TOH_FHIR_BASE_URL=fhir_base, TOH_NOTIFY_TOKEN=TOKEN,
               TOH_COALESCE_SECONDS="0")  # fmt: skip
    api = start([sys.executable, "-m", "service.cli", "api", "--port", str(api_port)], env, "startup complete")
    api_url = f"http://127.0.0.1:{api_port}"
    try:
        for index in range(PATIENTS):  # the patients the latency run screens
            resources = next(s for s in SCENARIOS if s.id == "seed-1").build(datetime.now(UTC)).resources
            resources = json.loads(json.dumps(resources).replace("toh-seed-stage-1", f"toh-bench-{index}"))
            entries = [
                {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                for r in resources
            ]
            httpx.post(fhir_base, json={"resourceType": "Bundle", "type": "transaction", "entry": entries}, timeout=30)
        accepted = [accepted_per_second(api_url, scratch) for _ in range(2)]
        store.delete("celery")
        bare = [send_task_per_second(redis_server.url) for _ in range(2)]
        store.delete("celery")
        worker = start([sys.executable, "-m", "service.cli", "worker"], env, '"worker.ready"')
        try:
            timing = asyncio.run(latency(api_url, store, fhir_base))
            screens = [{"fhir_base": fhir_base, "patient_id": f"toh-bench-{i % PATIENTS}"} for i in range(200)]
            screenings = drain_rate(redis_server.url, "toh.screen_patient", screens, store)
            noops = drain_rate(redis_server.url, "toh.ping", [{} for _ in range(2000)], store)
        finally:
            worker.terminate()
            worker.wait(30)
    finally:
        for process in (api, sekmet):
            process.terminate()
            process.wait(30)
        store.close()
        redis_server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    accepted_rate = statistics.median(a["per_second"] for a in accepted)
    bare_rate = statistics.median(b["per_second"] for b in bare)
    figures: dict[str, Any] = {
        "accepted_per_second": accepted_rate,
        "accepted_p99_ms": statistics.median(a["p99_ms"] for a in accepted),
        "accepted_errors": sum(a["errors"] for a in accepted),
        "bare_send_task_per_second": bare_rate,
        "accepted_ratio": round(accepted_rate / bare_rate, 3),
        "event_to_cards": timing,
        "screenings_per_second": screenings,
        "noop_tasks_per_second": noops,
        "screening_ratio": round(screenings / noops, 3),
        "targets": {"accepted_ratio": 0.7, "event_to_cards_p99_ms": 150, "screening_ratio": 0.5},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))  # noqa: T201 - the report
