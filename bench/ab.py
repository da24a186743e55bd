"""A/B against another revision, in one run on this machine: row 1 (patient-view screened inline, a fresh RS384 JWT
per request, 50 patients) and the screening micro-benchmark.

    python -m bench.ab d489775        (the revision to compare with; any git revision)

The other revision is checked out in a temporary git worktree. Its API runs from there and ours from here, against
the same Redis, the same keys and the same request bodies, in alternating runs (`paired`, medians quoted); then
`python -m bench.screening` runs in each tree. Results: bench/results/ab.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import bodies, load
from bench.__main__ import POOL, POOL_SCENARIOS, SECONDS, Bench, paired, ratio
from bench.stack import Child
from service.ops.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "ab.json"


def _api_from(tree: Path, bench: Bench) -> tuple[Child, str]:
    """An API process running the code of `tree` (first on its path), with the bench's settings."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    code = f"import runpy, sys; sys.path.insert(0, {str(tree)!r}); runpy.run_module('service.cli', run_name='__main__')"
    api = Child([sys.executable, "-c", code, "api", "--port", str(port)], bench.env | {"TOH_PUBLIC_BASE_URL": url})
    return api.ready("startup complete"), url


def _micro(tree: Path) -> dict[str, Any]:
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); from bench import screening; screening.main()"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=tree)
    figures: dict[str, Any] = json.loads((tree / "bench" / "results" / "screening.json").read_text())
    return figures


def main(revision: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="toh-ab-") as scratch:
        tree = Path(scratch) / "other"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), revision], check=True,
                       capture_output=True)  # fmt: skip
        try:
            bench = Bench(Path(scratch) / "stack")
            other, other_url = _api_from(tree, bench)
            try:
                pool = bodies.pool("patient-view", POOL_SCENARIOS, POOL)

                def run_against(base: str) -> dict[str, float]:
                    url = f"{base}/cds-services/toh-patient-view"
                    tokens = bench.keys.tokens("RS384", url, int(SECONDS * 3000))
                    return load.run(load.Post(url, pool[0], tokens=tokens, pool=pool), SECONDS)

                ours, theirs = paired(lambda: run_against(bench.api_url), lambda: run_against(other_url), rounds=4)
            finally:
                other.stop()
                bench.close()
            micro = {"this": _micro(ROOT), "other": _micro(tree)}
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    figures = {
        "revision": revision,
        "row_1_inline": {
            "this": ours,
            "other": theirs,
            "ratio": ratio(ours["requests_per_second"], theirs["requests_per_second"]),
        },
        "screening_micro": micro,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.ab REVISION")
    result = main(sys.argv[1])
    row = result["row_1_inline"]
    for side in ("this", "other"):
        run = row[side]
        print(f"row 1 {side:5}: {run['requests_per_second']:8.1f} req/s, p99 {run.get('p99_ms', float('nan')):.1f} ms")  # noqa: T201
    print(f"row 1 ratio this/other: {row['ratio']:.3f}")  # noqa: T201
    for side, figures in result["screening_micro"].items():
        print(f"micro {side:5}: {figures['screen_and_cards_from_json_us']:.0f} us (seed case, JSON to cards)")  # noqa: T201
