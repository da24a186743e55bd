"""Redis key layout shared by the API and the workers. Every key the service writes starts with `toh:`."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

__all__ = [
    "DEAD_LETTERS_KEY",
    "EVIDENCE_SECONDS",
    "FEEDBACK_STREAM",
    "FOREIGN_RESOURCES_KEY",
    "RECORD_FEEDBACK",
    "SCREENINGS_KEY",
    "TASK_OUTCOMES_KEY",
    "cards_entry",
    "cards_key",
    "due_flag_key",
    "due_flag_seconds",
    "due_key",
    "evidence_key",
    "fresh_cards",
    "server_digest",
    "snooze_key",
    "task_outcome_field",
]

# Hash: "<task name>|<outcome>" -> count. Workers (any number of processes) HINCRBY; /metrics reads it.
TASK_OUTCOMES_KEY = "toh:metrics:task-outcomes"
# Hash: "screened" | "written-back" | "dead-lettered" -> count of patient screenings, over all workers.
SCREENINGS_KEY = "toh:metrics:screenings"
# Hash: "hook" | "worker" -> resources about another patient that a record query or a prefetch returned, dropped.
FOREIGN_RESOURCES_KEY = "toh:metrics:foreign-resources"
# List of JSON records: work that failed permanently (a 4xx from the FHIR server), with the reason.
DEAD_LETTERS_KEY = "toh:dead-letters"
# Stream of CDS Hooks feedback, one entry per distinct feedback item (AOF keeps it across restarts).
FEEDBACK_STREAM = "toh:feedback"
FEEDBACK_SEEN_SECONDS = 30 * 86400

# KEYS[1] seen-marker, KEYS[2] stream; ARGV[1] ttl, then field/value pairs. Marks and appends atomically, so a
# duplicate is never stored twice and a first delivery is never lost between the two steps.
RECORD_FEEDBACK = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
  return 1
end
return 0
"""


def task_outcome_field(task: str, outcome: str) -> str:
    return f"{task}|{outcome}"


def server_digest(fhir_base: str) -> str:
    """A FHIR server's part of a key: the same server with or without a trailing slash is one server."""
    return hashlib.sha256(fhir_base.rstrip("/").encode()).hexdigest()[:16]


EVIDENCE_SECONDS = 30 * 86400  # as long as a card can be snoozed: its link works while it can be shown


def evidence_key(card_uuid: str) -> str:
    """A card's evidence trail (JSON), behind the card's evidence link."""
    return f"toh:evidence:{card_uuid}"


def snooze_key(card_uuid: str) -> str:
    """Set when a card was overridden; its value is the override reason. A card's uuid names its patient, topic and
    data, so new data is a new card, shown again."""
    return f"toh:snooze:{card_uuid}"


def cards_key(fhir_base: str, patient_id: str) -> str:
    """Precomputed cards of one patient on one FHIR server (patient ids are only unique per server)."""
    return f"toh:cards:{server_digest(fhir_base)}:{patient_id}"


def due_key(fhir_base: str) -> str:
    """Set of the patients on one FHIR server waiting for a screening (workers/due.py drains it)."""
    return f"toh:due:{server_digest(fhir_base)}"


def due_flag_key(fhir_base: str) -> str:
    """Set while a `toh.screen_due` task for this server is queued and has not taken its batch yet."""
    return f"toh:due-scheduled:{server_digest(fhir_base)}"


def due_flag_seconds(coalesce_seconds: float) -> int:
    """How long the flag lives at most: if its task were ever lost, events after this schedule another."""
    return max(30, int(coalesce_seconds * 10))


def cards_entry(cards: list[dict[str, Any]], *, evaluated_at: datetime, rules_version: str, fingerprint: str) -> str:
    return json.dumps(
        {
            "cards": cards,
            "evaluated_at": evaluated_at.timestamp(),
            "rules_version": rules_version,
            "fingerprint": fingerprint,
        },
        separators=(",", ":"),
    )


def fresh_cards(
    raw: bytes | str | None, *, now: datetime, rules_version: str, max_age_seconds: int
) -> list[Any] | None:
    """The cached cards if they were made by these rules recently enough, else None (screen again)."""
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
        cards, evaluated_at = entry["cards"], float(entry["evaluated_at"])
    except (ValueError, KeyError, TypeError):
        return None
    if entry.get("rules_version") != rules_version or not isinstance(cards, list):
        return None
    return cards if 0 <= now.timestamp() - evaluated_at <= max_age_seconds else None
