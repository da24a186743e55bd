"""Re-screening when the rules change: cards made by an older RULES_VERSION are never served (service/pipeline/
store.py `fresh_cards`), so the first worker to start with a new version queues a re-screening of every patient
it holds cards for, and `toh.rescreen` feeds them to the due set at a bounded rate (TOH_RESCREEN_PER_SECOND).

The version the workers last started with is kept in Redis (RULES_VERSION_KEY); swapping it is atomic, so of the
workers starting together one queues the patients. A patient waits in RESCREEN_KEY as "fhir_base|patient_id"; the
set's size is `toh_rescreen_pending` in /metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import cast

import orjson
import redis

from service.pipeline.store import CARDS_PATTERN, RESCREEN_KEY, RULES_VERSION_KEY, server_digest

__all__ = ["queue_if_rules_changed", "stale_patients", "take"]

_SCAN = 500


def stale_patients(store: redis.Redis, rules_version: str, known_bases: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(FHIR base, patient) of every cards entry an older rules version made. An entry names its server
    (`fhir_base`, since rules version 2); an older one is matched to a known server by its key's digest."""
    by_digest = {server_digest(base): base.rstrip("/") for base in known_bases}
    keys: list[bytes] = []
    for key in store.scan_iter(match=CARDS_PATTERN, count=_SCAN):
        keys.append(key)
        if len(keys) >= _SCAN:
            yield from _stale(store, keys, rules_version, by_digest)
            keys = []
    yield from _stale(store, keys, rules_version, by_digest)


def _stale(
    store: redis.Redis, keys: list[bytes], rules_version: str, by_digest: dict[str, str]
) -> Iterator[tuple[str, str]]:
    if not keys:
        return
    for key, raw in zip(keys, cast(list[bytes | None], store.mget(keys)), strict=True):
        parts = key.decode().split(":", 3)  # toh:cards:<server digest>:<patient>
        if raw is None or len(parts) != 4:
            continue
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError:
            entry = {}
        if not isinstance(entry, dict) or entry.get("rules_version") == rules_version:
            continue
        base = entry.get("fhir_base") if isinstance(entry.get("fhir_base"), str) else by_digest.get(parts[2])
        if base is not None:
            yield base, parts[3]


def queue_if_rules_changed(store: redis.Redis, rules_version: str, known_bases: Iterable[str]) -> int | None:
    """On a worker's start: the number of patients queued for re-screening, or None when the version is the one
    the workers last started with. With no version recorded (a new Redis, or workers from before this check) the
    cards are looked through all the same."""
    previous = cast(bytes | None, store.getset(RULES_VERSION_KEY, rules_version))
    if previous is not None and previous.decode() == rules_version:
        return None
    queued = 0
    pipe = store.pipeline(transaction=False)
    for base, patient in stale_patients(store, rules_version, known_bases):
        pipe.sadd(RESCREEN_KEY, f"{base}|{patient}")
        queued += 1
        if len(pipe) >= _SCAN:
            pipe.execute()
    pipe.execute()
    return queued


def take(store: redis.Redis, count: int) -> list[tuple[str, str]]:
    """Up to `count` waiting patients, taken out of the set."""
    members = cast(list[bytes] | None, store.spop(RESCREEN_KEY, count)) or []
    taken = []
    for member in members:
        base, _, patient = member.decode().rpartition("|")
        if base and patient:
            taken.append((base, patient))
    return taken
