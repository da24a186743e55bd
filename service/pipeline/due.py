"""The due-set protocol: patients waiting for a screening, per FHIR server, in a Redis set that `toh.screen_due`
tasks drain in batches. This module is its one home; the notification receiver's atomic enqueue
(service/pipeline/publisher.py) carries out `mark_due` inside its Lua script, from the `Due` built here.

A burst of notifications about many patients costs one Celery task per batch instead of one per patient (the
broker round trips and the hand-over to a pool process cost as much as a screening). A task moves its batch into
a claim named after its task id, atomically; it removes each patient once screened. A task redelivered after its
worker died, or retried, carries the same id and resumes what is left of its claim: nothing taken is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import redis

from service.pipeline.store import CLAIM_PREFIX, due_flag_key, due_flag_seconds, due_key

__all__ = [
    "Due",
    "DuePatient",
    "claim",
    "claimed",
    "due_on",
    "give_back",
    "mark_due",
    "release",
    "screened",
    "unschedule",
]

DuePatient = tuple[str | None, str]  # (the mark that says this event was seen, or None; the patient id)


@dataclass(frozen=True)
class Due:
    """Patients to add to a FHIR server's due set, and the message of the task that screens that set: queued only
    when none is queued yet (the flag), as `mark_due` does for the workers."""

    key: str
    flag: str
    flag_seconds: int
    message: str
    patients: Sequence[DuePatient]


def due_on(fhir_base: str, patients: Sequence[DuePatient], screen_message: str, coalesce_seconds: float) -> Due:
    """The receiver's side of `mark_due`: these patients wait on this server; `screen_message` is queued unless a
    screening task is queued already."""
    flag_seconds = due_flag_seconds(coalesce_seconds)
    return Due(due_key(fhir_base), due_flag_key(fhir_base), flag_seconds, screen_message, patients)


CLAIM_TTL_SECONDS = 7 * 86400  # a claim outlives any retry schedule; finished claims are deleted, not expired

# KEYS[1] due set, KEYS[2] this task's claim, KEYS[3] the "a task is scheduled" flag; ARGV[1] batch size,
# ARGV[2] claim ttl. A claim that exists is resumed as it is; otherwise the flag is cleared (events from now on
# schedule another task) and up to a batch moves from the set into the claim. Returns the claim and how many wait.
CLAIM = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[3])
  local taken = redis.call('SPOP', KEYS[1], ARGV[1])
  if #taken > 0 then
    redis.call('SADD', KEYS[2], unpack(taken))
    redis.call('EXPIRE', KEYS[2], ARGV[2])
  end
end
return {redis.call('SMEMBERS', KEYS[2]), redis.call('SCARD', KEYS[1])}
"""

# KEYS[1] due set, KEYS[2] a claim: what is left of the claim waits again.
GIVE_BACK = """
local left = redis.call('SMEMBERS', KEYS[2])
if #left > 0 then redis.call('SADD', KEYS[1], unpack(left)) end
redis.call('DEL', KEYS[2])
return #left
"""


def _claim(task_id: str) -> str:
    return f"{CLAIM_PREFIX}{task_id}"


def mark_due(store: redis.Redis, fhir_base: str, patient_id: str, coalesce_seconds: float) -> bool:
    """Add the patient to the waiting set; True when no task is scheduled yet for this server (schedule one)."""
    with store.pipeline(transaction=True) as pipe:
        pipe.sadd(due_key(fhir_base), patient_id)
        pipe.set(due_flag_key(fhir_base), "1", nx=True, ex=due_flag_seconds(coalesce_seconds))
        return bool(pipe.execute()[1])


def unschedule(store: redis.Redis, fhir_base: str) -> None:
    """The task that `mark_due` asked for could not be sent: the next event (or the caller's retry) sends one."""
    store.delete(due_flag_key(fhir_base))


def claim(store: redis.Redis, fhir_base: str, task_id: str, size: int) -> tuple[list[str], int]:
    """This task's batch (resumed if it already has one) and how many patients still wait after it."""
    keys = [due_key(fhir_base), _claim(task_id), due_flag_key(fhir_base)]
    members, waiting = cast(list[object], store.eval(CLAIM, len(keys), *keys, size, CLAIM_TTL_SECONDS))
    return sorted(m.decode() for m in cast(list[bytes], members)), cast(int, waiting)


def claimed(store: redis.Redis, task_id: str) -> list[str]:
    """What is left of a task's batch."""
    return sorted(m.decode() for m in cast(set[bytes], store.smembers(_claim(task_id))))


def screened(store: redis.Redis, task_id: str, patient_id: str) -> None:
    store.srem(_claim(task_id), patient_id)


def give_back(store: redis.Redis, fhir_base: str, task_id: str) -> int:
    """Put what is left of a task's batch back with the waiting patients (for another task to take)."""
    return cast(int, store.eval(GIVE_BACK, 2, due_key(fhir_base), _claim(task_id)))


def release(store: redis.Redis, task_id: str) -> None:
    store.delete(_claim(task_id))
