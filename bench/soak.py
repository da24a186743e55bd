"""`make soak`: mixed load at a fixed rate on the whole stack (Redis with AOF, sekmet-fhir, the API, a worker).

Every second: HOOKS patient-view calls (half with full prefetch, screened inline; half with none, answered from the
precomputed cards or fetched), NOTIFICATIONS backport notifications for PATIENTS patients, FEEDBACK feedback posts.
It passes when no answer is a 5xx, every notification was accepted and processed (each patient's cards are newer
than its last notification), and the resident memory of the API and of the worker grew less than 10% from the end
of the first minute to the end. TOH_SOAK_SECONDS sets the length (default 600). Results: bench/results/soak.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from pathlib import Path
from typing import Any

import httpx

from bench import bodies
from bench.stack import NOTIFY_TOKEN, Stack, children
from service.pipeline.store import cards_key

RESULTS = Path(__file__).resolve().parent / "results" / "soak.json"
SECONDS = float(os.environ.get("TOH_SOAK_SECONDS", "600"))
HOOKS, NOTIFICATIONS, FEEDBACK, PATIENTS = 10, 10, 2, 40
WARM_UP = min(60.0, SECONDS / 4)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def memory(stack: Stack) -> dict[str, float]:
    assert stack.worker is not None
    worker = [stack.worker.pid, *children(stack.worker.pid)]
    return {"api_mb": rss_mb(stack.api.pid), "worker_mb": sum(rss_mb(pid) for pid in worker)}


class Soak:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.statuses: Counter[str] = Counter()
        self.last_notified: dict[str, float] = {}
        # One-use JWTs by route called (their `aud`), oldest first: each lives five minutes.
        self.tokens: dict[str, deque[str]] = {"hook": deque(), "feedback": deque()}
        self.stocked = asyncio.Event()
        self.number = 0
        seed = bodies.scenario_resources("seed-2")
        self.inline = json.loads(bodies.hook_body("patient-view", seed))
        self.hook_url = f"{stack.api_url}/cds-services/toh-patient-view"
        self.urls = {"hook": self.hook_url, "feedback": f"{self.hook_url}/feedback"}

    async def refill_tokens(self) -> None:
        """A minute of one-use JWTs ahead of need (they live five minutes)."""
        while True:
            for kind, rate in (("hook", HOOKS), ("feedback", FEEDBACK)):
                if len(self.tokens[kind]) < rate * 30:
                    minted = await asyncio.to_thread(self.stack.keys.tokens, "RS384", self.urls[kind], rate * 60)
                    self.tokens[kind].extend(minted)
            self.stocked.set()
            await asyncio.sleep(1)

    async def send(self, client: httpx.AsyncClient, kind: str, url: str, body: Any, headers: dict[str, str]) -> None:
        try:
            response = await client.post(url, json=body, headers=headers)
            self.statuses[f"{kind} {response.status_code}"] += 1
        except httpx.HTTPError as exc:
            self.statuses[f"{kind} {type(exc).__name__}"] += 1

    def hook(self, client: httpx.AsyncClient, tick: int) -> Any:
        patient = f"toh-soak-{tick % PATIENTS}"
        if tick % 2:
            body = self.inline | {"hookInstance": str(uuid.uuid4())}
        else:
            context = {"userId": "Practitioner/soak", "patientId": patient}
            body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": context,
                    "fhirServer": self.stack.fhir_base}  # fmt: skip
        token = self.tokens["hook"].popleft()
        return self.send(client, "hook", self.hook_url, body, {"Authorization": f"Bearer {token}"})

    def notification(self, client: httpx.AsyncClient) -> Any:
        self.number += 1
        patient = f"toh-soak-{self.number % PATIENTS}"
        self.last_notified[patient] = time.time()
        body = bodies.notification(patient, str(self.number), "Subscription/soak")
        url = f"{self.stack.api_url}/fhir/notifications"
        headers = {"Authorization": f"Bearer {NOTIFY_TOKEN}", "Content-Type": "application/fhir+json"}
        return self.send(client, "notification", url, body, headers)

    def feedback(self, client: httpx.AsyncClient) -> Any:
        item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-01-15T10:00:00Z",
                "overrideReason": {"reason": {"code": "soak", "system": "urn:toh-cds:soak"}}}  # fmt: skip
        token = self.tokens["feedback"].popleft()
        return self.send(client, "feedback", f"{self.hook_url}/feedback", {"feedback": [item]},
                         {"Authorization": f"Bearer {token}"})  # fmt: skip

    async def run(self) -> dict[str, Any]:
        refill = asyncio.create_task(self.refill_tokens())
        await self.stocked.wait()
        sent: list[asyncio.Task[None]] = []
        samples: dict[str, dict[str, float]] = {}
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as client:
            tick = 0
            while (elapsed := time.monotonic() - started) < SECONDS:
                sent += [asyncio.create_task(self.hook(client, tick * HOOKS + i)) for i in range(HOOKS)]
                sent += [asyncio.create_task(self.notification(client)) for _ in range(NOTIFICATIONS)]
                sent += [asyncio.create_task(self.feedback(client)) for _ in range(FEEDBACK)]
                if "after_warm_up" not in samples and elapsed >= WARM_UP:
                    samples["after_warm_up"] = memory(self.stack)
                tick += 1
                await asyncio.sleep(max(0.0, started + tick - time.monotonic()))  # the fixed rate: one batch a second
            await asyncio.gather(*sent)
        refill.cancel()
        samples["end"] = memory(self.stack)
        return {"seconds": SECONDS, "per_second": {"hooks": HOOKS, "notifications": NOTIFICATIONS, "feedback": FEEDBACK},
                "statuses": dict(self.statuses), "memory": samples}  # fmt: skip

    def unprocessed(self, timeout: float = 180) -> list[str]:
        """Patients whose cards are not newer than their last notification once the queue had time to drain."""
        deadline = time.monotonic() + timeout
        while True:
            late = []
            for patient, notified in self.last_notified.items():
                raw = self.stack.store.get(cards_key(self.stack.fhir_base, patient))
                if not raw or json.loads(raw)["evaluated_at"] < notified:
                    late.append(patient)
            if not late or time.monotonic() > deadline:
                return late
            time.sleep(0.5)  # polling Redis for results: there is no event to await


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="toh-soak-") as scratch:
        stack = Stack(Path(scratch), appendonly=True, TOH_CDS_RATE_LIMIT_PER_MINUTE="12000",
                      TOH_NOTIFY_RATE_LIMIT_PER_MINUTE="60000", TOH_COALESCE_SECONDS="0.2")  # fmt: skip
        try:
            stack.load_fhir([r for i in range(PATIENTS) for r in bodies.scenario_resources("seed-1", f"toh-soak-{i}")])
            stack.start_worker()
            soak = Soak(stack)
            figures = asyncio.run(soak.run())
            figures["unprocessed_patients"] = soak.unprocessed()
        finally:
            stack.close()
    memory_before, memory_after = figures["memory"]["after_warm_up"], figures["memory"]["end"]
    figures["growth"] = {name: round(memory_after[name] / memory_before[name] - 1, 3) for name in memory_before}
    errors = {status: count for status, count in figures["statuses"].items() if not status.endswith(" 200")}
    figures["passed"] = not errors and not figures["unprocessed_patients"] and max(figures["growth"].values()) < 0.10
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))  # noqa: T201 - the report
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
