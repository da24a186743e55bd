"""Feedback that silences (clinical.md 2.7 and 2.8): an overridden card is not shown again for the same data for
TOH_CARD_SNOOZE_DAYS; changed data brings it back; a red flag or a critical card only by "already addressed".
Real Redis."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import redis

from fixtures.scenarios import SCENARIOS
from service.pipeline.store import snooze_key
from tests.cds.conftest import BASE, Keys
from tests.cds.test_hooks import context, full_prefetch, topics

FEEDBACK = "/cds-services/toh-patient-view/feedback"


def record(scenario_id: str) -> list[dict[str, Any]]:
    return next(s for s in SCENARIOS if s.id == scenario_id).build(datetime.now(UTC)).resources


def override(client: Any, keys: Keys, card: dict[str, Any], code: str = "already-imaged") -> None:
    item = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": datetime.now(UTC).isoformat(),
        "overrideReason": {"reason": {"system": "urn:toh-cds:override-reason", "code": code}},
    }
    auth = {"Authorization": f"Bearer {keys.es384().token(BASE + FEEDBACK)}"}
    assert client.post(FEEDBACK, json={"feedback": [item]}, headers=auth).status_code == 200


def view(hook_client: Any, resources: list[dict[str, Any]]) -> Any:
    patient = resources[0]["id"]
    response = hook_client.call("toh-patient-view", "patient-view", context(patient), prefetch=full_prefetch(resources))
    assert response.status_code == 200
    return response


def suppressed(client: Any, reason: str) -> float:
    found = re.search(rf'toh_cds_cards_suppressed_total\{{reason="{reason}"\}} (\S+)', client.get("/metrics").text)
    return float(found.group(1)) if found else 0.0


def test_an_overridden_card_is_not_shown_again_for_the_same_data(make_client: Any, keys: Keys, redis_url: str) -> None:
    client, hook_client = make_client()
    resources = record("01")
    [card] = view(hook_client, resources).json()["cards"]
    before = suppressed(client, "already-imaged")
    override(client, keys, card)
    assert topics(view(hook_client, resources)) == []
    assert suppressed(client, "already-imaged") == before + 1
    ttl = redis.Redis.from_url(redis_url).ttl(snooze_key(card["uuid"]))
    assert 29 * 86400 < ttl <= 30 * 86400

    changed = copy.deepcopy(resources)
    score = next(
        r for r in changed if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "72514-3"
    )
    score["valueQuantity"]["value"] = 9  # new data: a new card uuid, shown again
    [again] = view(hook_client, changed).json()["cards"]
    assert again["uuid"] != card["uuid"] and again["source"]["topic"]["code"] == "toh-consider"
    redis.Redis.from_url(redis_url).delete(snooze_key(card["uuid"]))  # other tests may show this card


def test_a_red_flag_is_silenced_by_already_addressed_only(make_client: Any, keys: Keys, redis_url: str) -> None:
    """Rules version 3 (clinical.md 2.8, "Snoozing"): a managed fracture or infection must not fire critical at every
    chart open, so "already addressed" silences a red flag for the same data; any other reason does not."""
    client, hook_client = make_client()
    for scenario in ("10", "06"):  # critical infection; warning trauma
        resources = record(scenario)
        [card] = view(hook_client, resources).json()["cards"]
        override(client, keys, card, "alternative-diagnosis")
        assert [c["uuid"] for c in view(hook_client, resources).json()["cards"]] == [card["uuid"]]
        override(client, keys, card, "already-addressed")
        assert view(hook_client, resources).json()["cards"] == []
        redis.Redis.from_url(redis_url).delete(snooze_key(card["uuid"]))  # other tests may show this card


def test_the_snooze_can_be_switched_off(make_client: Any, keys: Keys) -> None:
    client, hook_client = make_client(card_snooze_days=0)
    resources = record("16")
    [card] = view(hook_client, resources).json()["cards"]
    override(client, keys, card)
    assert topics(view(hook_client, resources)) == ["toh-consider"]
