"""Where a hook request's time goes, under load: py-spy samples the real API process (one uvicorn process) while wrk
sends the same loads as rows 1-3 of `make bench` (50 distinct patients, a fresh RS384 JWT per request). Each sample
is charged to the innermost part of the request it is in; `python -m bench.profile_hook` prints, per load, each
part's share of the API's CPU and its cost per request (CPU milliseconds, from /proc, split by those shares).

PROFILE_SECONDS sets the length of each load (default 8); PROFILE_FLAME=DIR also writes py-spy's SVG flame graphs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench import bodies, load
from bench.__main__ import POOL, POOL_SCENARIOS, Bench
from bench.stack import cpu_seconds

SECONDS = float(os.environ.get("PROFILE_SECONDS", "8"))
PY_SPY = Path(sys.executable).with_name("py-spy")
# Part of a request -> (path prefix as py-spy shows it, function or "" for any) of the frames that belong to it. A
# frame belongs to the first part whose rule it matches; a stack, to the part of its innermost frame that has one.
PARTS: dict[str, tuple[tuple[str, str], ...]] = {
    "replay check and cards read (Redis)": (("service/cds/hooks.py", "_first_round_trip"),),
    "snooze check and evidence writes (Redis)": (("service/cds/hooks.py", "_without_snoozed"),),
    "response encoding": (
        ("starlette/responses.py", ""),
        ("fastapi/encoders.py", ""),
        ("json/encoder.py", ""),
        ("fastapi/routing.py", "serialize_response"),
    ),
    "HTTP parsing and writing (uvicorn)": (("uvicorn/protocols/", ""), ("h11/", ""), ("httptools", "")),
    "middleware (ours)": (("service/core/middleware.py", ""), ("service/core/rate_limit.py", "")),
    "JWT parse and verify": (("service/cds/auth.py", ""), ("jwt/", ""), ("cryptography/", "")),
    "body parse": (("service/api/body.py", ""), ("json/decoder.py", "")),
    "request model": (("service/cds/request.py", ""), ("pydantic/", "")),
    "record assembly": (("service/cds/prefetch.py", ""), ("service/fhir/", "")),
    "screening": (("service/screening/", ""),),
    "card rendering": (("service/cds/cards.py", ""), ("service/cds/card_text.py", "")),
    "precomputed cards decode": (("service/pipeline/store.py", ""),),
    "hook logic (ours)": (("service/cds/", ""), ("service/api/", "")),
    "handler (reference)": (("bench/bare_app.py", ""),),
    "logging": (("structlog/", ""), ("service/core/logging.py", ""), ("logging/", "")),
    "metrics": (("prometheus_client/", ""),),
    "routing and dependencies (FastAPI)": (("fastapi/", ""), ("starlette/", "")),
    "Redis client (redis-py)": (("redis/", ""),),
    "event loop and sockets": (("asyncio/", ""), ("uvloop", ""), ("anyio/", "")),
}


def part_of(stack: list[str]) -> str:
    """The innermost part a stack is in. Parts listed later are more specific (fastapi's encoder inside routing),
    so among the frames of one part the deepest frame decides, and the Redis client inside a round trip counts as
    that round trip."""
    found = "other"
    for frame in stack:  # root first
        name, _, where = frame.rpartition(" (")
        for part, rules in PARTS.items():
            if any(where.startswith(fragment) and (not function or name == function) for fragment, function in rules):
                if not (part in ("Redis client (redis-py)", "event loop and sockets") and found.endswith("(Redis)")):
                    found = part
                break
    return found


def profile(
    bench: Bench, url: str, pid: int, pool: tuple[bytes, ...], flame: Path | None
) -> tuple[Counter[str], float]:
    """Samples of `pid` under wrk's load on `url` (the raw stacks kept in `flame` when given), and its CPU ms per
    request."""
    tokens = bench.keys.tokens("RS384", url, int(SECONDS * 3000))
    with tempfile.TemporaryDirectory(prefix="toh-profile-") as scratch:
        raw = Path(scratch) / "stacks.txt"
        spy = subprocess.Popen([str(PY_SPY), "record", "--pid", str(pid), "--rate", "250", "--nonblocking",
                                "--format", "raw", "--output", str(raw), "--duration", str(int(SECONDS)),
                                ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        cpu_before = cpu_seconds(pid)
        figures = load.run(load.Post(url, pool[0], tokens=tokens, pool=pool), SECONDS)
        cpu = cpu_seconds(pid) - cpu_before
        spy.wait(60)
        samples: Counter[str] = Counter()
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")[2:]  # process, thread
            if frames and "select" not in frames[-1] and "epoll" not in frames[-1] and "_run_once" not in frames[-1]:
                samples[part_of(frames)] += int(count)
        if flame is not None:
            shutil.copy(raw, flame / f"{pid}-{url.rsplit('/', 1)[-1]}-{len(list(flame.iterdir()))}.txt")
    requests = figures["requests_per_second"] * SECONDS
    return samples, cpu * 1e3 / requests


def report(title: str, samples: Counter[str], cpu_ms: float) -> str:
    total = sum(samples.values())
    lines = [f"\n{title}: {cpu_ms:.2f} ms of API CPU per request ({total} samples)",
             "| part | share | ms per request |", "|---|---|---|"]  # fmt: skip
    for part, count in samples.most_common():
        lines.append(f"| {part} | {count / total:.0%} | {cpu_ms * count / total:.3f} |")
    return "\n".join(lines)


def main() -> None:
    flame = Path(os.environ["PROFILE_FLAME"]) if os.environ.get("PROFILE_FLAME") else None
    with tempfile.TemporaryDirectory(prefix="toh-profile-") as scratch:
        bench = Bench(Path(scratch))
        try:
            screened = [f"toh-bench-{i}" for i in range(POOL)]
            bench.load_fhir([r for p in screened for r in bodies.scenario_resources("seed-1", p)])
            bench.start_worker()
            bench.screened_rate(screened)
            bench.stop_worker()
            loads = {
                "patient-view, screened inline (row 1)": (
                    "toh-patient-view", bodies.pool("patient-view", POOL_SCENARIOS, POOL)),
                "patient-view, precomputed cards (row 2)": ("toh-patient-view", tuple(
                    bodies.hook_body("patient-view", bodies.scenario_resources("seed-1", p), prefetch=False)
                    for p in screened)),
                "order-sign (row 3)": ("toh-order-sign", bodies.pool("order-sign", ("14",), POOL)),
            }  # fmt: skip
            for title, (service, pool) in loads.items():
                ours = profile(bench, f"{bench.api_url}/cds-services/{service}", bench.api.pid, pool, flame)
                print(report(title, *ours), flush=True)  # noqa: T201
            reference = profile(
                bench,
                f"{bench.bare_url}/jwt-replay/cds-services/toh-patient-view",
                bench.bare.pid,
                loads["patient-view, screened inline (row 1)"][1],
                flame,
            )
            print(report("reference (b), row 1's bodies", *reference), flush=True)  # noqa: T201
        finally:
            bench.close()


if __name__ == "__main__":
    main()
