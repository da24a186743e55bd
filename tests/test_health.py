from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.ops.readiness import check_fhir
from service.ops.redis_server import RedisServer, free_port
from service.settings import Settings
from tests.processes import LoggedProcess
from tests.waiting import eventually


def client_for(**settings: Any) -> TestClient:
    return TestClient(create_app(Settings(**{"ready_interval_seconds": 0.1, **settings})))


def ready(client: TestClient, status: str) -> Any:
    """/readyz once its background round says `status` (the checks run every 0.1 s here)."""
    return eventually(lambda: client.get("/readyz"), lambda response: response.json()["status"] == status)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with client_for() as test_client:
        yield test_client


def checks(response: Any) -> dict[str, dict[str, Any]]:
    return {key: value[0] for key, value in response.json()["checks"].items()}


def test_livez_checks_nothing(private_redis: RedisServer) -> None:
    with client_for(redis_url=private_redis.url) as client:
        private_redis.stop()
        response = client.get("/livez")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/health+json"
    assert response.json() == {"status": "pass"}


def test_readyz_passes_with_redis_and_a_worker(client: TestClient, worker: LoggedProcess) -> None:
    response = ready(client, "pass")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/health+json"
    body = response.json()
    assert body["status"] == "pass"
    assert set(body["checks"]) == {"redis:responseTime", "celery:workers"}
    assert checks(response)["celery:workers"]["observedValue"] >= 1
    assert checks(response)["redis:responseTime"]["observedUnit"] == "ms"


def test_readyz_warns_without_a_worker(private_redis: RedisServer) -> None:
    with client_for(redis_url=private_redis.url, ready_worker_timeout=0.3) as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "warn"
    assert checks(response)["celery:workers"]["status"] == "warn"
    assert "No worker answered" in checks(response)["celery:workers"]["output"]


def test_readyz_fails_while_redis_is_down_and_recovers(private_redis: RedisServer) -> None:
    with client_for(redis_url=private_redis.url, ready_worker_timeout=0.3) as client:
        assert client.get("/readyz").status_code == 200

        private_redis.stop()
        down = ready(client, "fail")
        assert down.status_code == 503
        assert down.json()["status"] == "fail"
        assert checks(down)["redis:responseTime"]["status"] == "fail"
        assert "Redis unreachable" in checks(down)["redis:responseTime"]["output"]

        private_redis.start()  # same port, same data directory
        back = eventually(lambda: client.get("/readyz"), lambda response: response.status_code == 200)
        assert back.status_code == 200, back.text
        assert checks(back)["redis:responseTime"]["status"] == "pass"


def test_readyz_checks_the_fhir_server_when_configured(fhir_server: str, worker: LoggedProcess) -> None:
    with client_for(fhir_base_url=fhir_server) as client:
        response = ready(client, "pass")
    assert response.status_code == 200
    assert checks(response)["fhir:metadata"]["status"] == "pass"


def test_readyz_warns_when_the_fhir_server_is_unreachable(worker: LoggedProcess) -> None:
    with client_for(fhir_base_url=f"http://127.0.0.1:{free_port()}/fhir") as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "warn"
    assert checks(response)["fhir:metadata"]["output"] == "FHIR server unreachable: ConnectError"


@pytest.mark.parametrize(
    ("status", "body", "output"),
    [
        (404, {"resourceType": "OperationOutcome"}, "FHIR /metadata answered 404"),
        (200, {"resourceType": "Bundle"}, "FHIR /metadata is not a CapabilityStatement"),
        (200, "not json", "FHIR /metadata is not a CapabilityStatement"),
    ],
)
@pytest.mark.anyio
async def test_fhir_check_warns_on_answers_that_are_not_a_capability_statement(
    status: int, body: Any, output: str
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/fhir/metadata"
        return httpx.Response(status, json=body) if isinstance(body, dict) else httpx.Response(status, text=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        check = await check_fhir(http, "http://fhir.test/fhir", timeout=1.0)
    assert (check.key, check.status, check.output) == ("fhir:metadata", "warn", output)
