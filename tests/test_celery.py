from __future__ import annotations

import json

from service.pipeline.celery import celery_config
from service.settings import Settings
from tests.processes import LoggedProcess
from workers.celery_app import app


def test_configuration_is_safe_for_idempotent_tasks() -> None:
    settings = Settings()
    config = celery_config(settings)
    assert config["accept_content"] == ["json"]
    assert config["task_serializer"] == config["result_serializer"] == "json"
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["worker_prefetch_multiplier"] == 1
    assert config["task_ignore_result"] is True
    assert config["task_soft_time_limit"] < config["task_time_limit"]
    assert config["broker_transport_options"]["visibility_timeout"] > settings.retry_backoff_max
    assert app.conf.broker_url == settings.redis_url
    # The transport that queues again, on reconnect, what a worker held when Redis went away (tests/test_broker.py).
    assert app.connection_for_write().transport_cls == "service.pipeline.broker:Transport"


def test_ping_round_trip_through_a_real_worker(worker: LoggedProcess) -> None:
    from workers.tasks import ping

    result = ping.delay()
    assert result.get(timeout=30) == "pong"
    # The worker's log lines are JSON and carry the task id while the task runs.
    line = worker.wait_for(lambda text: result.id in text and "succeeded" in text)
    record = json.loads(line)
    assert record["task_id"] == result.id
    assert record["task_name"] == "toh.ping"
    assert record["role"] == "worker"
