"""A rules version change: the first worker to start with the new RULES_VERSION queues every patient whose cards an
older one made; `toh.rescreen` feeds them to the due set at TOH_RESCREEN_PER_SECOND, they are screened again, and
`toh_rescreen_pending` in /metrics counts those still waiting."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import httpx
import redis
from fastapi.testclient import TestClient

from fixtures.population import population
from service.main import create_app
from service.ops.redis_server import RedisServer
from service.pipeline.store import RESCREEN_KEY, RULES_VERSION_KEY, cards_entry, cards_key, server_digest
from service.screening import RULES_VERSION
from service.settings import Settings
from tests.processes import LoggedProcess, event_of
from tests.support.session import service_env
from tests.waiting import eventually


def pending_in(metrics: str) -> float:
    return next(float(line.split()[1]) for line in metrics.splitlines() if line.startswith("toh_rescreen_pending "))


def test_a_rules_change_rescreens_the_patients_with_stale_cards(fhir_server: str, private_redis: RedisServer) -> None:
    members = [m for m in population(120, seed=11) if m.kind != "general"][:6]
    entries = [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
               for m in members for r in m.resources]  # fmt: skip
    assert httpx.post(fhir_server, json={"resourceType": "Bundle", "type": "transaction", "entry": entries},
                      timeout=60).status_code == 200  # fmt: skip
    store = redis.Redis.from_url(private_redis.url)
    old = datetime(2026, 1, 1, tzinfo=UTC)
    for index, member in enumerate(members):  # as the workers of the version before left them
        base = fhir_server if index % 2 else None  # entries before this change did not name their server
        entry = cards_entry([], evaluated_at=old, rules_version="1", cards_digest="old", fhir_base=base)
        store.set(cards_key(fhir_server, member.patient_id), entry)
    store.set(cards_key("http://elsewhere.example/fhir", "unknown-server"), cards_entry(
        [], evaluated_at=old, rules_version="1", cards_digest="old"))  # fmt: skip
    store.set(RULES_VERSION_KEY, "1")

    with TestClient(create_app(Settings(redis_url=private_redis.url))) as api:
        assert pending_in(api.get("/metrics").text) == 0
        worker = LoggedProcess([sys.executable, "-m", "service.cli", "worker"],
                               env=service_env(TOH_REDIS_URL=private_redis.url, TOH_FHIR_BASE_URL=fhir_server,
                                               TOH_RESCREEN_PER_SECOND="1", TOH_COALESCE_SECONDS="0"))  # fmt: skip
        try:
            queued = event_of(worker.wait_for('"rescreen.queued"', timeout=60))
            assert queued["patients"] == len(members)  # the one of an unknown server cannot be fetched: left
            eventually(lambda: int(store.scard(RESCREEN_KEY)), lambda n: n < len(members))
            shown = pending_in(api.get("/metrics").text)
            assert 0 < shown < len(members)  # one a second: the rest wait, and /metrics says how many

            def versions() -> list[str]:
                raws = [store.get(cards_key(fhir_server, m.patient_id)) for m in members]
                return [json.loads(raw)["rules_version"] for raw in raws if raw]

            eventually(versions, lambda found: found == [RULES_VERSION] * len(members), timeout=60)
            assert int(store.scard(RESCREEN_KEY)) == 0
            assert pending_in(api.get("/metrics").text) == 0
            assert store.get(RULES_VERSION_KEY) == RULES_VERSION.encode()
            assert server_digest(fhir_server) in cards_key(fhir_server, members[0].patient_id)
        finally:
            worker.stop()

    again = LoggedProcess([sys.executable, "-m", "service.cli", "worker"],
                          env=service_env(TOH_REDIS_URL=private_redis.url, TOH_FHIR_BASE_URL=fhir_server))  # fmt: skip
    try:
        again.wait_for('"worker.ready"', timeout=60)
        assert not [line for line in again.lines if '"rescreen.queued"' in line]  # the same version: nothing to do
    finally:
        again.stop()
    store.close()
