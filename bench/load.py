"""Closed-loop HTTP load at a fixed concurrency: wrk (a C load generator, Debian package `wrk`) when installed,
else an asyncio httpx generator, which competes with the servers for the same cores (figures are then lower)."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_post.lua"
WRK_THREADS = 2
CONNECTIONS = 16
GENERATOR = "wrk" if shutil.which("wrk") else "asyncio-httpx"


@dataclass(frozen=True)
class Post:
    """What each request sends: a body ("__EVENT__" becomes a unique number), or each of `pool` in turn (distinct
    patients, so that nothing cached per body helps), and one JWT per request from `tokens` or the same bearer
    token every time."""

    url: str
    body: bytes
    content_type: str = "application/json"
    tokens: list[str] | None = None
    bearer: str | None = None
    pool: tuple[bytes, ...] = ()

    @property
    def bodies(self) -> tuple[bytes, ...]:
        return self.pool or (self.body,)


def run(post: Post, seconds: float) -> dict[str, float]:
    """requests per second and answered (2xx), p50 and p99 in ms, and the count of non-2xx or failed requests."""
    if GENERATOR == "wrk":
        return _wrk(post, seconds)
    return asyncio.run(_asyncio(post, seconds))


def _wrk(post: Post, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="toh-bench-load-") as scratch:
        body_file, tokens_file = Path(scratch) / "body", Path(scratch) / "tokens"
        body_file.write_bytes(b"\x1e".join(post.bodies))
        if post.tokens is not None:
            tokens_file.write_text("\n".join(post.tokens) + "\n")
        command = ["wrk", "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds:g}s", "--latency",
                   "-s", str(WRK_SCRIPT), post.url, "--", str(body_file),
                   str(tokens_file) if post.tokens is not None else "-", post.bearer or "-", post.content_type,
                   str(WRK_THREADS)]  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    return {
        "requests_per_second": figures["requests"] / figures["seconds"],
        "answered": figures["requests"] - figures["errors"],
        "p50_ms": figures["p50_ms"],
        "p99_ms": figures["p99_ms"],
        "errors": figures["errors"],
    }


async def _asyncio(post: Post, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    numbers = itertools.count(1)
    tokens = iter(post.tokens or [])
    payloads = itertools.cycle(post.bodies)
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def connection() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                headers = {"Content-Type": post.content_type}
                token = next(tokens) if post.tokens is not None else post.bearer
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                body = next(payloads).replace(b"__EVENT__", str(next(numbers)).encode())
                started = time.perf_counter()
                response = await client.post(post.url, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                errors += not response.is_success

        await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    latencies.sort()
    return {
        "requests_per_second": len(latencies) / seconds,
        "answered": len(latencies) - errors,
        "p50_ms": latencies[len(latencies) // 2] * 1e3,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3,
        "errors": errors,
    }
