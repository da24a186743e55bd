"""One write-back per patient at a time, across every worker process and every copy of a task.

At-least-once delivery means two copies of one task can run at once (a message queued again after Redis came
back while the first copy was still at work), so the lock belongs to a process, not to a task id. Its holder is
"host pid": a copy redelivered after its process was killed takes the lock over at once when that process is
known to be gone (same host); otherwise the lock expires with the task time limit, by which its holder is dead.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import redis

from service.pipeline.store import writing_key

__all__ = ["Busy", "writing"]

# KEYS[1] the lock; ARGV[1] the holder seen, ARGV[2] the new holder, ARGV[3] ttl: take it only if still held by that one.
TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end
return false
"""
# KEYS[1] the lock; ARGV[1] its holder: release it only if still ours (not taken over after it expired).
RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class Busy(Exception):
    """Another live process is writing back this patient's assessment."""


def _me() -> str:
    return f"{socket.gethostname()} {os.getpid()}"


def _gone(holder: str) -> bool:
    """Whether the process holding the lock has died: knowable only on its own host. This process holds nothing
    between tasks, so a lock in its own name was left by a task that ended without releasing it."""
    host, _, pid = holder.rpartition(" ")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _take(store: redis.Redis, lock: str, me: str, ttl: int) -> bool:
    if store.set(lock, me, nx=True, ex=ttl):
        return True
    holder = cast(bytes | None, store.get(lock))
    return holder is not None and _gone(holder.decode()) and bool(store.eval(TAKE_OVER, 1, lock, holder, me, ttl))


@contextmanager
def writing(store: redis.Redis, key: str, ttl: int, wait: float = 1.0) -> Iterator[None]:
    """Hold the patient's write-back lock. A write takes tens of milliseconds, so a held lock is waited for up to
    `wait` seconds (Redis gives no event for its release: polled) before giving up with Busy."""
    lock, me = writing_key(key), _me()
    deadline = time.monotonic() + wait
    while not _take(store, lock, me, ttl):
        if time.monotonic() >= deadline:
            raise Busy
        time.sleep(0.01)
    try:
        yield
    finally:
        store.eval(RELEASE, 1, lock, me)
