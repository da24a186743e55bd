"""The write-back lock on a real Redis: one live writer per patient; a dead writer's lock is taken over at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from service.ops.redis_server import RedisServer
from workers.write_lock import Busy, writing

KEY = "toh:cards:abc:patient-1"
LOCK = f"toh:writing:{KEY}"


@pytest.fixture
def store(private_redis: RedisServer) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(private_redis.url) as client:
        yield client


def held_by(store: redis.Redis, holder: str) -> None:
    store.set(LOCK, holder, ex=60)


def test_a_live_writer_keeps_it_and_the_lock_is_released_after(store: redis.Redis) -> None:
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        try:
            held_by(store, f"{socket.gethostname()} {alive.pid}")
            started = time.monotonic()
            with pytest.raises(Busy), writing(store, KEY, ttl=60, wait=0.3):
                pass
            assert time.monotonic() - started >= 0.3  # it waited for the holder first
        finally:
            alive.kill()
    store.delete(LOCK)
    with writing(store, KEY, ttl=60):
        assert store.get(LOCK) == f"{socket.gethostname()} {os.getpid()}".encode()
        assert 0 < store.ttl(LOCK) <= 60
    assert store.get(LOCK) is None


def test_a_lock_released_meanwhile_is_taken_without_giving_up(store: redis.Redis) -> None:
    held_by(store, "another-host 1")
    threading.Timer(0.1, store.delete, [LOCK]).start()  # the other writer finishes
    with writing(store, KEY, ttl=60, wait=5):
        assert store.get(LOCK) == f"{socket.gethostname()} {os.getpid()}".encode()


def test_the_lock_of_a_killed_writer_on_this_host_is_taken_over(store: redis.Redis) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    held_by(store, f"{socket.gethostname()} {int(dead.stdout)}")
    with writing(store, KEY, ttl=60):
        assert store.get(LOCK) == f"{socket.gethostname()} {os.getpid()}".encode()


def test_a_writer_on_another_host_is_waited_for(store: redis.Redis) -> None:
    held_by(store, "another-host 1")
    with pytest.raises(Busy), writing(store, KEY, ttl=60, wait=0):
        pass
    assert store.get(LOCK) == b"another-host 1"  # not released by the one that could not take it
