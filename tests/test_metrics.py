from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.main import create_app
from service.ops.redis_server import RedisServer
from service.pipeline.celery import create_celery_app
from service.pipeline.store import SCREENINGS_KEY
from service.settings import Settings
from tests.processes import LoggedProcess
from tests.waiting import eventually

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):  # raises on malformed exposition text
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings())) as test_client:
        yield test_client


def test_requests_are_counted_by_route_and_status(client: TestClient) -> None:
    before = scrape(client)
    client.get("/livez")
    client.get("/livez")
    client.get("/no/such/Patient/123")
    after = scrape(client)
    livez = {"method": "GET", "route": "/livez", "status": "200"}
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    assert value(after, "toh_http_requests_total", **livez) - value(before, "toh_http_requests_total", **livez) == 2
    assert (
        value(after, "toh_http_requests_total", **unmatched) - value(before, "toh_http_requests_total", **unmatched)
        == 1
    )
    assert value(after, "toh_http_request_duration_seconds_count", **livez) >= 2
    assert not any("Patient/123" in str(labels) for _, labels in after)  # raw paths never become labels


def test_task_outcomes_add_up_over_several_worker_processes(client: TestClient, worker: LoggedProcess) -> None:
    from workers.tasks import ping

    labels = {"task": "toh.ping", "outcome": "success"}
    before = value(scrape(client), "toh_celery_task_outcomes_total", **labels)
    results = [ping.delay() for _ in range(20)]
    assert [result.get(timeout=30) for result in results] == ["pong"] * 20
    eventually(
        lambda: value(scrape(client), "toh_celery_task_outcomes_total", **labels) - before,
        lambda delta: delta == 20,
    )
    ids = {result.id for result in results}
    records = [json.loads(line) for line in list(worker.lines) if line.startswith("{")]
    processes = {record["process"] for record in records if record.get("task_id") in ids}
    assert len(processes) == 2  # both prefork children ran some and each counted its own


def test_queue_depth_is_read_from_the_broker(private_redis: RedisServer) -> None:
    settings = Settings(redis_url=private_redis.url)
    producer = create_celery_app(settings)  # no worker listens on this Redis
    for _ in range(3):
        producer.send_task("toh.ping")
    with TestClient(create_app(settings)) as client:
        samples = scrape(client)
    producer.close()
    assert value(samples, "toh_celery_queue_length", queue="celery") == 3
    assert value(samples, "toh_celery_unacked_tasks") == 0


def test_metrics_still_served_when_redis_is_down(private_redis: RedisServer) -> None:
    with TestClient(create_app(Settings(redis_url=private_redis.url))) as client:
        private_redis.stop()
        samples = scrape(client)
    assert value(samples, "toh_http_requests_total", method="GET", route="/metrics", status="200") >= 0
    assert not any(name == "toh_celery_queue_length" for name, _ in samples)


def test_screenings_are_read_from_what_the_workers_counted(private_redis: RedisServer) -> None:
    with redis.Redis.from_url(private_redis.url) as store:
        store.hset(SCREENINGS_KEY, mapping={"screened": 7, "written-back": 2})
    with TestClient(create_app(Settings(redis_url=private_redis.url))) as client:
        samples = scrape(client)
    assert value(samples, "toh_screenings_total", result="screened") == 7
    assert value(samples, "toh_screenings_total", result="written-back") == 2
    assert ("toh_screenings_total", frozenset({("result", "dead-lettered")})) in samples  # zero, but present
