"""The API's task publisher writes what Celery's own send_task writes, and marks-and-queues atomically."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import redis
import redis.asyncio as aioredis

from service.ops.redis_server import RedisServer
from service.pipeline.celery import create_celery_app
from service.pipeline.due import Due, DuePatient
from service.pipeline.publisher import TaskPublisher
from service.settings import Settings

PER_MESSAGE = {("headers", "id"), ("headers", "root_id"), ("headers", "origin"), ("properties", "correlation_id"),
               ("properties", "delivery_tag"), ("properties", "reply_to")}  # fmt: skip


def comparable(raw: bytes) -> dict[str, Any]:
    """A queued message without what differs from one message to the next; its body decoded."""
    message: dict[str, Any] = json.loads(raw)
    for part, field in PER_MESSAGE:
        message[part].pop(field)
    message["headers"].pop("eta")
    message["headers"].pop("kwargsrepr")  # ours names the arguments only, Celery's shows their values
    message["headers"]["ignore_result"] = bool(message["headers"]["ignore_result"])  # None (send_task) or False
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


def publish(
    url: str,
    jobs: list[tuple[str | None, str, dict[str, Any]]],
    state: tuple[str, str, str] | None = None,
    due: list[DuePatient] | None = None,
) -> int:
    async def run() -> int:
        client = aioredis.Redis.from_url(url)
        publisher = TaskPublisher(create_celery_app(Settings(redis_url=url)), client)
        messages = [(mark, publisher.message(task, kwargs)) for mark, task, kwargs in jobs]
        screen = publisher.message("toh.screen_due", {"fhir_base": "http://fhir.example/fhir"})
        patients = Due("toh:due:x", "toh:due-scheduled:x", 30, screen, due) if due is not None else None
        queued = await publisher.publish(messages, state=state, due=patients)
        await client.aclose()
        return queued

    return asyncio.run(run())


def test_the_envelope_is_the_one_celery_writes(private_redis: RedisServer) -> None:
    store = redis.Redis.from_url(private_redis.url)
    kwargs = {"fhir_base": "http://fhir.example/fhir", "focus": "Observation/1", "resource": {"id": "1"}}
    celery = create_celery_app(Settings(redis_url=private_redis.url))
    celery.send_task("toh.process_event", kwargs=kwargs, retry=False)
    celery.close()
    publish(private_redis.url, [(None, "toh.process_event", kwargs)])
    newest, oldest = store.lrange("celery", 0, -1)  # LPUSH: newest first
    assert comparable(newest) == comparable(oldest)
    assert "Observation/1" not in json.dumps(json.loads(newest)["headers"])  # argument values (PHI) stay out
    store.close()


def test_an_event_already_marked_is_not_queued_again(private_redis: RedisServer) -> None:
    store = redis.Redis.from_url(private_redis.url)
    jobs: list[tuple[str | None, str, dict[str, Any]]] = [
        ("toh:seen:Subscription/s:1", "toh.ping", {}),
        ("toh:seen:Subscription/s:2", "toh.ping", {}),
        (None, "toh.ping", {}),  # no mark: always queued
    ]
    assert publish(private_redis.url, jobs) == 3
    assert publish(private_redis.url, jobs) == 1
    assert store.llen("celery") == 4
    assert store.ttl("toh:seen:Subscription/s:1") > 0
    store.close()


def test_the_channel_state_is_written_with_the_work(private_redis: RedisServer) -> None:
    store = redis.Redis.from_url(private_redis.url)
    assert publish(private_redis.url, [], state=("toh:subscriptions", "Subscription/s", '{"status": "active"}')) == 0
    assert store.hget("toh:subscriptions", "Subscription/s") == b'{"status": "active"}'
    assert (
        publish(private_redis.url, [(None, "toh.ping", {})], state=("toh:subscriptions", "Subscription/s", "{}")) == 1
    )
    assert store.hget("toh:subscriptions", "Subscription/s") == b"{}" and store.llen("celery") == 1
    store.close()


def test_due_patients_are_marked_once_and_share_one_screening_task(private_redis: RedisServer) -> None:
    store = redis.Redis.from_url(private_redis.url)
    first: list[DuePatient] = [("toh:seen:Subscription/s:1", "p1"), ("toh:seen:Subscription/s:2", "p2")]
    assert publish(private_redis.url, [(None, "toh.ping", {})], due=first) == 3
    assert store.smembers("toh:due:x") == {b"p1", b"p2"} and 0 < store.ttl("toh:due-scheduled:x") <= 30
    assert sorted(json.loads(raw)["headers"]["task"] for raw in store.lrange("celery", 0, -1)) == [
        "toh.ping",
        "toh.screen_due",
    ]
    assert publish(private_redis.url, [], due=[*first, (None, "p3")]) == 1  # two duplicates; the task is queued
    assert store.smembers("toh:due:x") == {b"p1", b"p2", b"p3"} and store.llen("celery") == 2
    store.delete("toh:due-scheduled:x")  # the task took its batch
    assert publish(private_redis.url, [], due=first) == 0  # nothing new: no task for nothing
    assert publish(private_redis.url, [], due=[(None, "p4")]) == 1 and store.llen("celery") == 3
    store.close()
