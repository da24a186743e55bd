from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.core.logging import redact_sensitive
from service.ops.redis_server import free_port
from tests.processes import LISTENING, LoggedProcess
from tests.support.session import service_env


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[LoggedProcess, str]]:
    port = free_port()
    process = LoggedProcess([sys.executable, "-m", "service.cli", "api", "--port", str(port)], env=service_env())
    process.wait_for(LISTENING)
    yield process, f"http://127.0.0.1:{port}"
    process.stop()


def records(process: LoggedProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in list(process.lines) if line.startswith("{")]


def test_every_line_is_json_with_a_level_and_a_role(api: tuple[LoggedProcess, str]) -> None:
    process, base_url = api
    httpx.get(f"{base_url}/livez")
    process.wait_for('"http.request"')
    assert all(line.startswith("{") for line in process.lines)
    assert all({"level", "timestamp", "role", "event"} <= record.keys() for record in records(process))
    assert {record["role"] for record in records(process)} == {"api"}


def test_request_id_is_echoed_and_logged(api: tuple[LoggedProcess, str]) -> None:
    process, base_url = api
    response = httpx.get(f"{base_url}/livez", headers={"X-Request-ID": "ehr-call-42"})
    assert response.headers["x-request-id"] == "ehr-call-42"
    line = process.wait_for(lambda text: "ehr-call-42" in text)
    assert json.loads(line) | {"request_id": "ehr-call-42", "route": "/livez", "status": 200} == json.loads(line)


def test_unsafe_request_ids_are_replaced(api: tuple[LoggedProcess, str]) -> None:
    _, base_url = api
    response = httpx.get(f"{base_url}/livez", headers={"X-Request-ID": "x" * 500})
    assert len(response.headers["x-request-id"]) == 32
    response = httpx.get(f"{base_url}/livez", headers={"X-Request-ID": 'a b\tc"}'})
    assert len(response.headers["x-request-id"]) == 32  # spaces, quotes and control characters are refused


def test_tokens_sent_to_the_api_never_reach_the_logs(api: tuple[LoggedProcess, str]) -> None:
    process, base_url = api
    secret = "eyJhbGciOiJFUzM4NCJ9.secret-token-value"
    httpx.get(f"{base_url}/readyz", headers={"Authorization": f"Bearer {secret}", "X-Request-ID": "with-token"})
    process.wait_for(lambda text: "with-token" in text)
    assert not any(secret in line for line in process.lines)


@pytest.mark.parametrize("key", ["access_token", "Authorization", "birthDate", "name", "fhirAuthorization"])
def test_sensitive_keys_are_redacted(key: str) -> None:
    event = redact_sensitive(None, "info", {"event": "x", key: "Jane Doe", "patient_count": 3})
    assert event == {"event": "x", key: "[redacted]", "patient_count": 3}
