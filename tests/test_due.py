"""The set of patients waiting for a screening, on a real Redis: batches are claimed whole and never dropped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from service.ops.redis_server import RedisServer
from service.pipeline import due

BASE = "http://fhir.example/r4"


@pytest.fixture
def store(private_redis: RedisServer) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(private_redis.url) as client:
        yield client


def test_only_the_first_patient_of_a_window_schedules_a_task(store: redis.Redis) -> None:
    assert due.mark_due(store, BASE, "p1", coalesce_seconds=0) is True
    assert due.mark_due(store, BASE, "p2", coalesce_seconds=0) is False
    assert due.mark_due(store, BASE, "p1", coalesce_seconds=0) is False
    assert due.mark_due(store, "http://other.example/fhir", "p1", coalesce_seconds=0) is True  # its own server


def test_a_claim_takes_one_batch_and_reopens_the_window(store: redis.Redis) -> None:
    for index in range(25):
        due.mark_due(store, BASE, f"p{index:02}", coalesce_seconds=0)
    batch, waiting = due.claim(store, BASE, "task-a", size=10)
    assert len(batch) == 10 and waiting == 15
    assert due.mark_due(store, BASE, "p99", coalesce_seconds=0) is True  # claimed: the next event schedules again
    other, waiting = due.claim(store, BASE, "task-b", size=10)
    assert not set(batch) & set(other) and waiting == 6


def test_the_same_task_again_resumes_what_is_left_of_its_batch(store: redis.Redis) -> None:
    for index in range(5):
        due.mark_due(store, BASE, f"p{index}", coalesce_seconds=0)
    batch, _ = due.claim(store, BASE, "task-a", size=3)
    due.screened(store, "task-a", batch[0])
    due.mark_due(store, BASE, "late", coalesce_seconds=0)
    # Redelivered after its worker died, or retried: the rest of its own batch, nothing new, nothing lost.
    again, waiting = due.claim(store, BASE, "task-a", size=3)
    assert again == batch[1:] and waiting == 3
    assert due.claimed(store, "task-a") == batch[1:]
    due.release(store, "task-a")
    assert due.claimed(store, "task-a") == []


def test_what_a_task_gives_back_waits_again(store: redis.Redis) -> None:
    for index in range(4):
        due.mark_due(store, BASE, f"p{index}", coalesce_seconds=0)
    batch, waiting = due.claim(store, BASE, "task-a", size=4)
    assert waiting == 0
    due.screened(store, "task-a", batch[0])
    assert due.give_back(store, BASE, "task-a") == 3
    rest, waiting = due.claim(store, BASE, "task-b", size=10)
    assert rest == batch[1:] and waiting == 0
    assert due.claimed(store, "task-a") == []
