"""The processes a benchmark measures, on loopback: Redis, sekmet-fhir, the API, the bare reference app, a worker.

Each is a real child process started the way an operator would start it; peak memory is read from /proc.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from bench import bodies
from service.ops.hook_client import JwtSigner
from service.ops.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
SEKMET = ROOT / ".venv-sekmet" / "bin" / "sekmet"
HEALTHCHAIN_PYTHON = ROOT / ".venv-healthchain" / "bin" / "python"
ISSUER = "https://bench.ehr.example"
NOTIFY_TOKEN = "bench-notify-token"


class Child:
    """A child process whose output is drained on a thread; `ready` blocks until a line contains a marker."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(
            list(command), env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.tail: list[str] = []
        self._marker: str | None = None
        self._seen = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.tail = [*self.tail[-20:], line]
            if self._marker is not None and self._marker in line:
                self._seen.set()
        self._seen.set()  # it exited: `ready` reports that instead of waiting out its timeout

    def ready(self, marker: str, timeout: float = 60) -> Child:
        self._marker = marker
        if any(marker in line for line in self.tail):
            return self
        if not self._seen.wait(timeout) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError(f"{self.process.args} not ready:\n{''.join(self.tail)}")
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_http(url: str, timeout: float = 30) -> None:
    """For servers that print nothing when they are up: poll until the URL answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def clean_env(**settings: str) -> dict[str, str]:
    """The caller's environment without any TOH_ setting, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOH_")}
    env.update(settings)
    return env


def sekmet(scratch: Path, port: int) -> tuple[Child, str]:
    base = f"http://127.0.0.1:{port}/fhir"
    config = scratch / "sekmet.yaml"
    config.write_text(
        f"base_url: {base}\nhost: 127.0.0.1\nport: {port}\ndata_dir: {scratch / 'sekmet'}\nsimulator: {{enabled: false}}\n"
    )
    return Child([str(SEKMET), "serve", "-c", str(config)], os.environ).ready("startup complete"), base


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by every thread of a process (schedstat: nanoseconds on the CPU)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size of one process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def _mint(args: tuple[bytes, str, str, str, int]) -> list[str]:
    pem, kid, algorithm, audience, count = args
    key = serialization.load_pem_private_key(pem, password=None)
    signer = JwtSigner(ISSUER, kid, key, algorithm)
    return [signer.token(audience) for _ in range(count)]


class Keys:
    """The bench EHR's signing keys (RS384 and ES384) and a pool that mints one-use tokens on both cores."""

    def __init__(self) -> None:
        self.pems = {"RS384": rsa.generate_private_key(65537, 2048), "ES384": ec.generate_private_key(ec.SECP384R1())}
        self.jwks = {
            "keys": [
                json.loads(RSAAlgorithm.to_jwk(self.pems["RS384"].public_key())) | {"kid": "bench-RS384"},
                json.loads(ECAlgorithm.to_jwk(self.pems["ES384"].public_key())) | {"kid": "bench-ES384"},
            ]
        }
        self.pool = ProcessPoolExecutor(2)

    def tokens(self, algorithm: str, audience: str, count: int) -> list[str]:
        pem = self.pems[algorithm].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        chunks = [(pem, f"bench-{algorithm}", algorithm, audience, count // 8 + 1)] * 8
        return [token for chunk in self.pool.map(_mint, chunks) for token in chunk]


class Stack:
    """Redis, sekmet-fhir, the API, the bare reference app and (on demand) a worker, with the bench EHR's keys."""

    def __init__(self, scratch: Path, *, appendonly: bool = False, **settings: str) -> None:
        self.scratch = scratch
        self.redis_server = RedisServer(scratch / "redis", appendonly=appendonly).start()
        self.store = redis.Redis.from_url(self.redis_server.url)
        self.sekmet, self.fhir_base = sekmet(scratch, free_port())
        self.keys = Keys()
        api_port, bare_port = free_port(), free_port()
        self.api_url, self.bare_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
        self.env = (
            clean_env(
                TOH_REDIS_URL=self.redis_server.url,
                TOH_FHIR_BASE_URL=self.fhir_base,
                TOH_NOTIFY_TOKEN=NOTIFY_TOKEN,
                TOH_COALESCE_SECONDS="0",  # the default window (0.2 s) would be part of every latency measured
                TOH_PUBLIC_BASE_URL=self.api_url,
                # Bound to the bench FHIR server: precomputed cards are served only to an issuer bound to theirs.
                TOH_CDS_ISSUERS=json.dumps({ISSUER: {"jwks": self.keys.jwks, "fhir_servers": [self.fhir_base]}}),
                TOH_FHIR_SERVER_ALLOWLIST=json.dumps([self.fhir_base]),
                TOH_CDS_RATE_LIMIT_PER_MINUTE="0",  # capacity is measured here, not the limiter
                TOH_NOTIFY_RATE_LIMIT_PER_MINUTE="0",
            )
            | settings
        )
        self.api = Child(python("-m", "service.cli", "api", "--port", str(api_port)), self.env)
        self.api.ready("startup complete")
        self.bare = Child(python("-m", "uvicorn", "bench.bare_app:app", "--port", str(bare_port), "--no-access-log",
                                 "--log-level", "warning"), self.env | {"TOH_BENCH_JWKS": json.dumps(self.keys.jwks)})  # fmt: skip
        wait_http(f"{self.bare_url}/openapi.json")
        self.worker: Child | None = None

    def close(self) -> None:
        for child in (self.worker, self.api, self.bare, self.sekmet):
            if child is not None:
                child.stop()
        self.keys.pool.shutdown()
        self.store.close()
        self.redis_server.stop()

    def load_fhir(self, resources: list[dict[str, Any]]) -> None:
        for start in range(0, len(resources), 500):
            response = httpx.post(self.fhir_base, json=bodies.transaction(resources[start : start + 500]), timeout=120)
            response.raise_for_status()

    def start_api(self, *args: str, **settings: str) -> tuple[Child, str]:
        """Another API process (or group, with `--workers`), on a port of its own, with these settings changed."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"  # also the JWT audience it expects
        api = Child(python("-m", "service.cli", "api", "--port", str(port), *args),
                    self.env | {"TOH_PUBLIC_BASE_URL": url} | settings)  # fmt: skip
        return api.ready("startup complete"), url

    def start_healthchain(self) -> tuple[Child, str]:
        """Reference (c): HealthChain's CDS Hooks service with a fixed card, in its own venv (bench/healthchain_app.py)."""
        port = free_port()
        command = [str(HEALTHCHAIN_PYTHON), "-m", "uvicorn", "bench.healthchain_app:app", "--app-dir", str(ROOT),
                   "--port", str(port), "--no-access-log", "--log-level", "warning"]  # fmt: skip
        child = Child(command, clean_env())
        wait_http(f"http://127.0.0.1:{port}/health")
        return child, f"http://127.0.0.1:{port}/cds/cds-services"

    def start_worker(self) -> None:
        self.store.delete("celery")
        self.worker = Child(python("-m", "service.cli", "worker"), self.env).ready('"worker.ready"')

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
