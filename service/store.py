"""Redis key layout shared by the API and the workers. Every key the service writes starts with `toh:`."""

from __future__ import annotations

__all__ = ["TASK_OUTCOMES_KEY", "task_outcome_field"]

# Hash: "<task name>|<outcome>" -> count. Workers (any number of processes) HINCRBY; /metrics reads it.
TASK_OUTCOMES_KEY = "toh:metrics:task-outcomes"


def task_outcome_field(task: str, outcome: str) -> str:
    return f"{task}|{outcome}"
