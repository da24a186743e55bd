"""Setting a FHIR server up to notify us: topics and Subscriptions (backport or classic), and loading Bundles.

Everything is PUT with deterministic ids, so running it twice changes nothing (idempotent).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import httpx

from service.fhir.validate import validated

__all__ = ["TOPICS", "Subscribed", "as_transaction", "backport_subscription", "classic_subscription", "subscribe"]

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
# Resource type -> the topic resource (R4 Basic, as sekmet-fhir and HAPI represent R4 topics).
TOPICS = {"Observation": "topic-observation-new.json", "ImagingStudy": "topic-imagingstudy-available.json"}
Payload = Literal["full-resource", "id-only", "empty"]


@dataclass(frozen=True)
class Subscribed:
    reference: str  # Subscription/<id>
    watches: str  # what it watches: a topic URL (backport) or a criteria (classic)
    status: str  # once the server has handshaken: active, error, or still requested


def _id(*parts: str) -> str:
    return "toh-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


def _topic(resource_type: str) -> dict[str, Any]:
    # Package data, so that an installed wheel finds them as the source tree does.
    text = resources.files("service.fhir").joinpath("topics", TOPICS[resource_type]).read_text(encoding="utf-8")
    topic: dict[str, Any] = json.loads(text)
    return topic


def topic_url(topic: dict[str, Any]) -> str:
    url: str = next(e["valueUri"] for e in topic["extension"] if e["url"].endswith("SubscriptionTopic.url"))
    return url


def backport_subscription(
    resource_type: str, endpoint: str, payload: Payload, token: str, heartbeat: int | None
) -> dict[str, Any]:
    url = topic_url(_topic(resource_type))
    channel: dict[str, Any] = {
        "type": "rest-hook",
        "endpoint": endpoint,
        "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": f"{BACKPORT}/backport-payload-content", "valueCode": payload}]},
        "header": [f"Authorization: Bearer {token}"],
    }
    if heartbeat:
        channel["extension"] = [{"url": f"{BACKPORT}/backport-heartbeat-period", "valueUnsignedInt": heartbeat}]
    return {
        "resourceType": "Subscription",
        "id": _id("backport", resource_type, endpoint, payload),
        "meta": {"profile": [f"{BACKPORT}/backport-subscription"]},
        "status": "requested",
        "reason": f"toh-cds: screen patients when an {resource_type} is created or updated",
        "criteria": url,
        "channel": channel,
    }


def classic_subscription(resource_type: str, endpoint: str, token: str) -> dict[str, Any]:
    return {
        "resourceType": "Subscription",
        "id": _id("classic", resource_type, endpoint),
        "status": "requested",
        "reason": f"toh-cds: screen patients when an {resource_type} is created or updated",
        "criteria": f"{resource_type}?",
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "header": [f"Authorization: Bearer {token}"],
        },
    }


def _put(http: httpx.Client, base: str, resource: dict[str, Any]) -> dict[str, Any]:
    response = http.put(
        f"{base}/{resource['resourceType']}/{resource['id']}",
        json=validated(resource),
        headers={"Content-Type": "application/fhir+json"},
    )
    if response.status_code not in (200, 201):
        raise RuntimeError(f"PUT {resource['resourceType']} answered {response.status_code}: {response.text[:300]}")
    result: dict[str, Any] = response.json()
    return result


def subscribe(
    http: httpx.Client,
    base: str,
    endpoint: str,
    *,
    mode: Literal["backport", "classic"],
    payload: Payload,
    token: str,
    heartbeat: int | None = None,
) -> Iterator[Subscribed]:
    """Create (or re-assert) what the server needs; yields each Subscription as it settles."""
    for resource_type in TOPICS:
        if mode == "backport":
            _put(http, base, _topic(resource_type))
            subscription = backport_subscription(resource_type, endpoint, payload, token, heartbeat)
        else:
            subscription = classic_subscription(resource_type, endpoint, token)
        _put(http, base, subscription)
        status = _settled_status(http, f"{base}/Subscription/{subscription['id']}")
        yield Subscribed(f"Subscription/{subscription['id']}", subscription["criteria"], status)


def _settled_status(http: httpx.Client, url: str, wait_seconds: float = 10.0) -> str:
    """The status once the server has handshaken (requested -> active or error), or still requested after the wait."""
    deadline = time.monotonic() + wait_seconds
    while True:
        status = str(http.get(url).json().get("status", "unknown"))
        if status != "requested" or time.monotonic() > deadline:
            return status
        time.sleep(0.2)  # a remote state change: nothing to await but the server itself


def as_transaction(bundle: dict[str, Any]) -> dict[str, Any]:
    """A collection Bundle of resources with ids as a transaction of PUTs (ids kept); transactions pass as they are."""
    if bundle.get("type") in ("transaction", "batch"):
        return bundle
    entries = []
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        entries.append(
            {"resource": resource, "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}}
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
