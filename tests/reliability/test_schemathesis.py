"""schemathesis against the running API's own OpenAPI schema: every route, over 1,000 generated requests, and no
answer is a 5xx; every error carries a clear body (an OperationOutcome that says what is wrong, or a bare 401).

The API runs under uvicorn as in production, with its own Redis, CDS auth off and the notify token sent, so the
generated bodies reach the parsers instead of stopping at authentication (the JWT tests cover that door).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from service.ops.redis_server import RedisServer, free_port
from tests.processes import LISTENING, LoggedProcess
from tests.support.session import service_env

EXAMPLES_PER_OPERATION = 130  # per generation mode: valid-looking and deliberately invalid requests
NOTIFY_TOKEN = "schemathesis-notify-token"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("schemathesis")
    redis = RedisServer(workdir / "redis").start()  # its own: generated notifications queue nowhere shared
    port = free_port()
    env = service_env(TOH_REDIS_URL=redis.url, TOH_CDS_REQUIRE_AUTH="false", TOH_NOTIFY_TOKEN=NOTIFY_TOKEN,
                      TOH_FHIR_BASE_URL="http://127.0.0.1:9/fhir", TOH_READY_WORKER_TIMEOUT="0.1",
                      TOH_READY_FHIR_TIMEOUT="0.2", TOH_CDS_RATE_LIMIT_PER_MINUTE="0",
                      TOH_NOTIFY_RATE_LIMIT_PER_MINUTE="0", TOH_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")  # fmt: skip
    process = LoggedProcess([sys.executable, "-m", "service.cli", "api", "--port", str(port)], env=env)
    try:
        process.wait_for(LISTENING)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()
        redis.stop()
        Path(workdir / "api.log").write_text("\n".join(process.lines))


def exercise(
    api: str, operation: Any, mode: GenerationMode, session: requests.Session, seen: dict[str, int], problems: list[str]
) -> None:
    """Send the operation's generated requests; note every 5xx, and every other error without a diagnostic."""
    label = f"{operation.method.upper()} {operation.path}"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=api, session=session, headers={"Authorization": f"Bearer {NOTIFY_TOKEN}"})
        seen[label] = seen.get(label, 0) + 1
        if response.status_code >= 500:
            problems.append(f"{label} -> {response.status_code}: {response.text[:300]}")
        elif response.status_code >= 400 and response.status_code != 401:
            issues = json.loads(response.text).get("issue") or [{}]
            if not all(issue.get("diagnostics") for issue in issues):
                problems.append(f"{label} -> {response.status_code} without a diagnostic: {response.text[:300]}")

    try:
        run()
    except Unsatisfiable:  # an operation with nothing to send (GET /livez) has no invalid request
        assert mode is GenerationMode.NEGATIVE


def test_no_generated_request_gets_a_5xx(api: str) -> None:
    schema = schemathesis.openapi.from_url(f"{api}/openapi.json")
    seen: dict[str, int] = {}
    problems: list[str] = []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                exercise(api, result.ok(), mode, session, seen, problems)
    assert problems == []
    assert {"POST /cds-services/{service_id}", "POST /fhir/notifications", "GET /readyz"} <= set(seen)
    assert sum(seen.values()) >= 1000, seen
