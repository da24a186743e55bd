"""patient-view throughput: the real service (JWT on, seed case screened inline from full prefetch) against a bare
FastAPI handler that parses the same body, both under uvicorn on loopback, alternating A/B runs; medians quoted.

Tokens are minted before each run so signing does not compete for the CPU with the servers.
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
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from fixtures.scenarios import SCENARIOS
from service.cds.client import JwtSigner
from service.redis_server import RedisServer, free_port

RESULTS = Path(__file__).resolve().parent / "results" / "cds_hooks.json"
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_tokens.lua"
WRK_THREADS = 2
CONNECTIONS = 16
SECONDS = float(os.environ.get("TOH_BENCH_SECONDS", "8"))
ROUNDS = 2
ISSUER = "https://bench.ehr.example"


def request_body() -> bytes:
    resources = next(s for s in SCENARIOS if s.id == "seed-2").build(datetime.now(UTC)).resources
    kinds = {"conditions": "Condition", "observations": "Observation", "procedures": "Procedure",
             "encounters": "Encounter", "imagingStudies": "ImagingStudy", "diagnosticReports": "DiagnosticReport",
             "medicationRequests": "MedicationRequest", "medicationStatements": "MedicationStatement"}  # fmt: skip
    prefetch: dict[str, Any] = {"patient": resources[0]}
    for key, kind in kinds.items():
        prefetch[key] = {"resourceType": "Bundle", "type": "searchset",
                         "entry": [{"resource": r} for r in resources if r["resourceType"] == kind]}  # fmt: skip
    context = {"userId": "Practitioner/bench", "patientId": resources[0]["id"]}
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": context, "prefetch": prefetch}
    return json.dumps(body).encode()


def start(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # a server's readiness is its port answering
        try:
            httpx.get(f"http://127.0.0.1:{port}/livez", timeout=0.5)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{command} did not start")


async def load(url: str, body: bytes, tokens: list[str] | None, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                headers = {"Content-Type": "application/json"}
                if tokens is not None:
                    headers["Authorization"] = f"Bearer {tokens.pop()}"
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 200

        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    latencies.sort()
    return {
        "requests_per_second": len(latencies) / seconds,
        "p50_ms": latencies[len(latencies) // 2] * 1e3,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3,
        "errors": errors,
    }


def wrk_load(url: str, body: bytes, tokens: list[str] | None, seconds: float, scratch: Path) -> dict[str, float]:
    """wrk (a C load generator): the fair way to load a server on a 2-core machine."""
    body_file, tokens_file = scratch / "body.json", scratch / "tokens.txt"
    body_file.write_bytes(body)
    if tokens is not None:
        tokens_file.write_text("\n".join(tokens) + "\n")
    command = ["wrk", "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds:g}s", "--latency",
               "-s", str(WRK_SCRIPT), url, "--", str(tokens_file) if tokens is not None else "-", str(body_file),
               str(WRK_THREADS)]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    return {
        "requests_per_second": figures["requests"] / figures["seconds"],
        "p50_ms": figures["p50_ms"],
        "p99_ms": figures["p99_ms"],
        "errors": figures["errors"],
    }


def main() -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP384R1())
    jwks = {"keys": [json.loads(ECAlgorithm.to_jwk(key.public_key())) | {"kid": "bench-1"}]}
    signer = JwtSigner(ISSUER, "bench-1", key, "ES384")
    body = request_body()
    with tempfile.TemporaryDirectory() as scratch:
        redis = RedisServer(Path(scratch) / "redis", appendonly=False).start()
        service_port, bare_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOH_")}
        env.update(TOH_REDIS_URL=redis.url, TOH_PUBLIC_BASE_URL=f"http://127.0.0.1:{service_port}",
                   TOH_CDS_ISSUERS=json.dumps({ISSUER: {"jwks": jwks}}))  # fmt: skip
        service = start([sys.executable, "-m", "service.cli", "api", "--port", str(service_port)], env, service_port)
        bare_env = dict(env, TOH_BENCH_PUBLIC_JWK=json.dumps(jwks["keys"][0]))
        bare = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(bare_port),
                                 "--no-access-log", "--log-level", "warning"], env=bare_env, stdout=subprocess.DEVNULL)  # fmt: skip
        time.sleep(2)  # the bare app has no /livez; its start is not on the measured path
        try:
            service_url = f"http://127.0.0.1:{service_port}/cds-services/toh-patient-view"
            bare_url = f"http://127.0.0.1:{bare_port}/cds-services/toh-patient-view"
            bare_jwt_url = f"http://127.0.0.1:{bare_port}/jwt/cds-services/toh-patient-view"
            runs: dict[str, list[dict[str, float]]] = {"service": [], "bare": [], "bare_with_jwt": []}
            generator = "wrk" if shutil.which("wrk") else "asyncio-httpx"

            def measure(url: str, tokens: list[str] | None) -> dict[str, float]:
                if generator == "wrk":
                    return wrk_load(url, body, tokens, SECONDS, Path(scratch))
                return asyncio.run(load(url, body, tokens, SECONDS))

            asyncio.run(load(bare_url, body, None, 1))  # warm-up
            for _ in range(ROUNDS):
                tokens = [signer.token(service_url) for _ in range(int(SECONDS * 4000))]
                runs["service"].append(measure(service_url, tokens))
                runs["bare"].append(measure(bare_url, None))
                runs["bare_with_jwt"].append(
                    measure(bare_jwt_url, [signer.token(service_url) for _ in range(int(SECONDS * 4000))])
                )
        finally:
            for process in (service, bare):
                process.terminate()
                process.wait(10)
            redis.stop()
    median = {name: {k: statistics.median(r[k] for r in results) for k in results[0]} for name, results in runs.items()}
    figures = {
        "load_generator": generator,
        "connections": CONNECTIONS,
        "seconds_per_run": SECONDS,
        "rounds": ROUNDS,
        "body_bytes": len(body),
        "service": median["service"],
        "bare_handler": median["bare"],
        "bare_handler_verifying_jwt": median["bare_with_jwt"],
        "ratio_to_bare_with_jwt": round(
            median["service"]["requests_per_second"] / median["bare_with_jwt"]["requests_per_second"], 3
        ),
        "throughput_ratio": round(median["service"]["requests_per_second"] / median["bare"]["requests_per_second"], 3),
        "targets": {"throughput_ratio": 0.5, "p99_ms": 50},
        "runs": runs,
    }
    figures["meets_targets"] = figures["throughput_ratio"] >= 0.5 and median["service"]["p99_ms"] <= 50
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    result = main()
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))  # noqa: T201 - the report
