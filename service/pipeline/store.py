"""Redis key layout shared by the API and the workers. Every key the service writes starts with `toh:`."""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import datetime
from typing import Any

__all__ = [
    "CARDS_PATTERN",
    "CLAIM_PREFIX",
    "DEAD_LETTERS_KEY",
    "EVIDENCE_SECONDS",
    "FEEDBACK_SEEN_SECONDS",
    "FEEDBACK_STREAM",
    "FOREIGN_RESOURCES_KEY",
    "READY_KEY",
    "RECORD_FEEDBACK",
    "REPORT_TEXT_UNREAD_KEY",
    "RESCREEN_KEY",
    "RULES_VERSION_KEY",
    "RUN_ID_KEY",
    "SCREENINGS_KEY",
    "SUBSCRIPTIONS_KEY",
    "TASK_OUTCOMES_KEY",
    "app_launch_key",
    "app_session_key",
    "backfill_key",
    "backfill_record_key",
    "cards_entry",
    "cards_key",
    "due_flag_key",
    "due_flag_seconds",
    "due_key",
    "evidence_key",
    "feedback_seen_key",
    "fresh_cards",
    "jti_key",
    "seen_key",
    "server_digest",
    "snooze_key",
    "task_outcome_field",
    "watchdog_key",
    "writing_key",
    "written_key",
]

# Hash: "<task name>|<outcome>" -> count. Workers (any number of processes) HINCRBY; /metrics reads it.
TASK_OUTCOMES_KEY = "toh:metrics:task-outcomes"
# Hash: "screened" | "written-back" | "dead-lettered" -> count of patient screenings, over all workers.
SCREENINGS_KEY = "toh:metrics:screenings"
# Hash: "hook" | "worker" -> resources about another patient that a record query or a prefetch returned, dropped.
FOREIGN_RESOURCES_KEY = "toh:metrics:foreign-resources"
# Hash: reason (report_sources.unread_reason) -> report parts whose text was not read, by hooks and workers.
REPORT_TEXT_UNREAD_KEY = "toh:metrics:report-text-unread"
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


@functools.lru_cache(maxsize=256)  # a handful of servers, on every hook's key
def server_digest(fhir_base: str) -> str:
    """A FHIR server's part of a key: the same server with or without a trailing slash is one server."""
    return hashlib.sha256(fhir_base.rstrip("/").encode()).hexdigest()[:16]


EVIDENCE_SECONDS = 30 * 86400  # as long as a card can be snoozed: its link works while it can be shown


SUBSCRIPTIONS_KEY = "toh:subscriptions"  # hash: subscription reference -> JSON of what its channel last said
READY_KEY = "toh:ready"  # written (with a TTL) by every readiness round: a Redis that refuses writes is not ready
RUN_ID_KEY = "toh:redis-run-id"  # the Redis run id the workers last saw (workers/restarts.py)
CLAIM_PREFIX = "toh:claim:"  # + task id: a set of the patients that screening task took (service/pipeline/due.py)


def seen_key(scope: str, mark: str) -> str:
    """Marks one notification event as received: `scope` is its subscription (mark: the event number) or its focus
    resource (mark: the resource version)."""
    return f"toh:seen:{scope}:{mark}"


def watchdog_key(subscription: str) -> str:
    """Held while one API process asks the workers about a silent channel, so that only one does."""
    return f"toh:watchdog:{subscription}"


def jti_key(issuer: str, jti: str) -> str:
    """A JWT id seen from one issuer: a second use within the token's lifetime is a replay."""
    return f"toh:jti:{issuer}:{jti}"


def feedback_seen_key(digest: str) -> str:
    """One distinct feedback item, stored once however often it is sent."""
    return f"toh:feedback:seen:{digest}"


def writing_key(cards_key: str) -> str:
    """The write-back lock of one patient (workers/write_lock.py)."""
    return f"toh:writing:{cards_key}"


def written_key(cards_key: str) -> str:
    """The digest of the cards last written back to the FHIR server for one patient."""
    return f"toh:written:{cards_key}"


def evidence_key(card_uuid: str) -> str:
    """A card's evidence trail (JSON), behind the card's evidence link."""
    return f"toh:evidence:{card_uuid}"


def snooze_key(card_uuid: str) -> str:
    """Set when a card was overridden; its value is the override reason. A card's uuid names its patient, topic and
    data, so new data is a new card, shown again."""
    return f"toh:snooze:{card_uuid}"


def app_launch_key(state: str) -> str:
    """A SMART launch in progress, by its OAuth `state`: the PKCE verifier and the endpoints (minutes)."""
    return f"toh:app:launch:{state}"


def backfill_key(job: str, part: str = "") -> str:
    """A backfill job's state (hash); with `part`, one of its sets or counters (patients, queued, done, counts)."""
    return f"toh:backfill:{job}" + (f":{part}" if part else "")


def backfill_record_key(job: str, patient_id: str) -> str:
    """One patient's exported resources (hash: Type/id -> JSON), until her screening."""
    return f"toh:backfill:{job}:record:{patient_id}"


RULES_VERSION_KEY = "toh:rules-version"  # the RULES_VERSION the workers last started with
RESCREEN_KEY = "toh:rescreen"  # set of "fhir_base|patient" whose cards an older rules version made


def app_session_key(session_id: str) -> str:
    """A launched case view: the access token and its patient, for as long as the token lives."""
    return f"toh:app:session:{session_id}"


def cards_key(fhir_base: str, patient_id: str) -> str:
    """Precomputed cards of one patient on one FHIR server (patient ids are only unique per server)."""
    return f"toh:cards:{server_digest(fhir_base)}:{patient_id}"


CARDS_PATTERN = "toh:cards:*"  # every cards_key, for SCAN; its parts are "toh", "cards", server digest, patient


def due_key(fhir_base: str) -> str:
    """Set of the patients on one FHIR server waiting for a screening (service/pipeline/due.py drains it)."""
    return f"toh:due:{server_digest(fhir_base)}"


def due_flag_key(fhir_base: str) -> str:
    """Set while a `toh.screen_due` task for this server is queued and has not taken its batch yet."""
    return f"toh:due-scheduled:{server_digest(fhir_base)}"


def due_flag_seconds(coalesce_seconds: float) -> int:
    """How long the flag lives at most: if its task were ever lost, events after this schedule another."""
    return max(30, int(coalesce_seconds * 10))


def cards_entry(
    cards: list[dict[str, Any]],
    *,
    evaluated_at: datetime,
    rules_version: str,
    cards_digest: str,
    fhir_base: str | None = None,
) -> str:
    """A patient's precomputed cards, with what made them (the server too: a rules change re-screens from it)."""
    return json.dumps(
        {
            "cards": cards,
            "evaluated_at": evaluated_at.timestamp(),
            "rules_version": rules_version,
            "cards_digest": cards_digest,
            "fhir_base": fhir_base,
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
