"""The notification receiver against a real Redis with no worker: what it answers, and exactly what it enqueues."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from service.fhir.notifications import parse_notification
from service.main import create_app
from service.ops.redis_server import RedisServer
from service.pipeline.ingest import SUBSCRIPTIONS_KEY
from service.pipeline.store import due_flag_key, due_key
from service.settings import Settings
from tests.waiting import eventually
from workers import tasks

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "notifications"
TOKEN = {"Authorization": "Bearer secret-notify-token"}
FHIR_JSON = {"Content-Type": "application/fhir+json"}
FHIR_BASE = "http://fhir.example.org/fhir"
SCREEN_DUE = ("toh.screen_due", {"fhir_base": FHIR_BASE})


def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return body


@pytest.fixture
def receiver(private_redis: RedisServer) -> Iterator[tuple[TestClient, redis.Redis]]:
    settings = Settings(redis_url=private_redis.url, notify_token="secret-notify-token",
                        fhir_base_url=FHIR_BASE, notify_max_body_bytes=64_000, ready_interval_seconds=0.1)  # fmt: skip
    store = redis.Redis.from_url(private_redis.url)
    with TestClient(create_app(settings)) as client:
        yield client, store
    store.close()


def queued(store: redis.Redis) -> list[tuple[str, dict[str, Any]]]:
    """(task name, kwargs) of every message in the broker's default queue, oldest first."""
    tasks = []
    for raw in reversed(store.lrange("celery", 0, -1)):
        message = json.loads(raw)
        _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        tasks.append((message["headers"]["task"], kwargs))
    return tasks


def due(store: redis.Redis) -> set[str]:
    """The patients waiting for a screening on the test's FHIR server."""
    return {patient.decode() for patient in store.smembers(due_key(FHIR_BASE))}


def diagnostics(response: Any) -> str:
    text: str = response.json()["issue"][0]["diagnostics"]
    return text


def post(client: TestClient, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.post("/fhir/notifications", content=json.dumps(body), headers=(headers or TOKEN) | FHIR_JSON)


@pytest.mark.parametrize("name", ["r4-backport-full-resource.json", "r4b-full-resource.json", "r5-full-resource.json"])
def test_every_bundle_format_queues_the_same_work(name: str, receiver: tuple[TestClient, redis.Redis]) -> None:
    """A full resource names its patient: the patient waits in the due set, and the batch task that screens it is
    queued to run when the coalescing window (0.2 s by default) closes."""
    client, store = receiver
    response = post(client, fixture(name))
    assert response.status_code == 200
    assert response.json()["issue"][0]["severity"] == "information"
    assert diagnostics(response) == "Accepted: 1 queued, 0 duplicate(s) ignored"
    assert due(store) == {"toh-notified"}
    assert queued(store) == [SCREEN_DUE]
    eta = datetime.fromisoformat(json.loads(store.lindex("celery", 0))["headers"]["eta"])
    assert datetime.now(UTC) < eta < datetime.now(UTC) + timedelta(seconds=0.2)


def test_one_screening_task_per_window_not_per_event(receiver: tuple[TestClient, redis.Redis]) -> None:
    client, store = receiver
    assert post(client, fixture("r4-backport-full-resource.json")).status_code == 200
    three = fixture("r4-backport-event-3.json")
    three["entry"][1]["resource"]["subject"] = {"reference": "http://fhir.example.org/fhir/Patient/toh-other"}
    assert post(client, three).status_code == 200
    assert due(store) == {"toh-notified", "toh-other"}
    assert [task for task, _ in queued(store)].count("toh.screen_due") == 1  # the window is open: it covers both
    store.delete(due_flag_key(FHIR_BASE))  # what the task does when it takes its batch: the window closes
    response = client.put("/fhir/notifications/Observation/obs-77", content=json.dumps(fixture("classic-observation.json")),
                          headers=TOKEN | FHIR_JSON)  # fmt: skip
    assert diagnostics(response) == "Accepted: 1 queued, 0 duplicate(s) ignored"
    assert [task for task, _ in queued(store)].count("toh.screen_due") == 2


def test_a_resource_without_a_patient_is_read_by_a_worker(receiver: tuple[TestClient, redis.Redis]) -> None:
    client, store = receiver
    body = fixture("r4-backport-full-resource.json")
    del body["entry"][1]["resource"]["subject"]
    assert post(client, body).status_code == 200
    [(task, kwargs)] = queued(store)
    assert task == "toh.process_event" and kwargs["focus"] == "http://fhir.example.org/fhir/Observation/obs-77"
    assert kwargs["resource"]["id"] == "obs-77" and due(store) == set()


def test_formats_parse_to_the_same_event() -> None:
    parsed = [parse_notification(fixture(n)) for n in ("r4-backport-full-resource.json", "r4b-full-resource.json",
                                                         "r5-full-resource.json")]  # fmt: skip
    assert {p.format for p in parsed} == {"r4-backport", "r4b", "r5"}
    assert all((p.subscription, p.events) == (parsed[0].subscription, parsed[0].events) for p in parsed)
    assert all(p.kind == "event-notification" and p.events_since_start == 1 for p in parsed)


def test_duplicates_are_processed_once(receiver: tuple[TestClient, redis.Redis]) -> None:
    client, store = receiver
    for _ in range(3):
        assert post(client, fixture("r4-backport-full-resource.json")).status_code == 200
    assert queued(store) == [SCREEN_DUE]
    again = post(client, fixture("r4-backport-full-resource.json"))
    assert diagnostics(again) == "Accepted: 0 queued, 1 duplicate(s) ignored"
    classic = json.dumps(fixture("classic-observation.json"))
    said = []
    for _ in range(2):
        response = client.put("/fhir/notifications/Observation/obs-77", content=classic, headers=TOKEN | FHIR_JSON)
        assert response.status_code == 200
        said.append(diagnostics(response))
    assert said == ["Accepted: 1 queued, 0 duplicate(s) ignored", "Accepted: 0 queued, 1 duplicate(s) ignored"]


def test_id_only_queues_the_focus_to_fetch(receiver: tuple[TestClient, redis.Redis]) -> None:
    client, store = receiver
    assert post(client, fixture("r4-backport-id-only.json")).status_code == 200
    [(task, kwargs)] = queued(store)
    assert (task, kwargs["resource"]) == ("toh.process_event", None)


@pytest.mark.parametrize("body", ["empty-bundle", "empty-post"])
def test_notifications_without_a_focus_trigger_a_resync(body: str, receiver: tuple[TestClient, redis.Redis]) -> None:
    client, store = receiver
    if body == "empty-bundle":
        response = post(client, fixture("r4-backport-empty.json"))
    else:
        response = client.post("/fhir/notifications", content=b"", headers=TOKEN)
    assert response.status_code == 200
    assert [task for task, _ in queued(store)] == ["toh.resync"]


def test_handshake_and_heartbeat_are_recorded_not_queued(receiver: tuple[TestClient, redis.Redis]) -> None:
    client, store = receiver
    assert post(client, fixture("r4-backport-handshake.json")).status_code == 200
    assert post(client, fixture("r4-backport-heartbeat.json")).status_code == 200
    assert queued(store) == []
    state = json.loads(store.hget(SUBSCRIPTIONS_KEY, "http://fhir.example.org/fhir/Subscription/toh-observations"))
    assert state["last_kind"] == "heartbeat" and "last_heartbeat" in state


def test_a_skipped_event_number_queues_a_delayed_gap_check(receiver: tuple[TestClient, redis.Redis]) -> None:
    client, store = receiver
    assert post(client, fixture("r4-backport-full-resource.json")).status_code == 200  # event 1
    assert post(client, fixture("r4-backport-event-3.json")).status_code == 200  # event 2 not here (yet)
    tasks = queued(store)
    assert [task for task, _ in tasks] == ["toh.screen_due", "toh.check_gap"]
    assert tasks[1][1] == {"fhir_base": "http://fhir.example.org/fhir", "first": 2, "last": 2,
                           "subscription": "http://fhir.example.org/fhir/Subscription/toh-observations"}  # fmt: skip
    eta = json.loads(store.lindex("celery", 0))["headers"]["eta"]  # the newest message: after the grace period
    assert datetime.fromisoformat(eta) > datetime.now(UTC) + timedelta(seconds=5)


@pytest.mark.parametrize(("late_event_arrives", "resyncs"), [(True, 0), (False, 1)])
def test_the_gap_check_resyncs_only_when_the_event_never_came(
    late_event_arrives: bool, resyncs: int, receiver: tuple[TestClient, redis.Redis], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, store = receiver
    post(client, fixture("r4-backport-full-resource.json"))  # event 1
    post(client, fixture("r4-backport-event-3.json"))
    if late_event_arrives:  # event 2, delivered out of order within the grace period
        body = json.dumps(fixture("r4-backport-full-resource.json")).replace('"valueString": "1"', '"valueString": "2"')
        assert client.post("/fhir/notifications", content=body, headers=TOKEN | FHIR_JSON).status_code == 200
    _, check = next(task for task in queued(store) if task[0] == "toh.check_gap")
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(tasks, "redis_client", lambda: store)
    monkeypatch.setattr(tasks.resync, "delay", lambda **kwargs: sent.append(kwargs))
    assert tasks.check_gap(**check) == resyncs
    assert len(sent) == resyncs


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"resourceType": "Bundle", "type": "history", "entry": []}, 400, "status resource as the first entry"),
        ({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {"resourceType": "Patient"}}]}, 400,
         "Not a subscription notification"),
        ({"no": "resource"}, 400, "not a FHIR resource"),
    ],
)  # fmt: skip
def test_malformed_notifications_get_400(
    body: Any, status: int, message: str, receiver: tuple[TestClient, redis.Redis]
) -> None:
    client, store = receiver
    response = post(client, body)
    assert response.status_code == status
    assert message in response.json()["issue"][0]["diagnostics"]
    assert queued(store) == []


def test_classic_body_must_match_its_url(receiver: tuple[TestClient, redis.Redis]) -> None:
    client, _ = receiver
    body = json.dumps(fixture("classic-observation.json"))
    assert (
        client.put("/fhir/notifications/Condition/obs-77", content=body, headers=TOKEN | FHIR_JSON).status_code == 400
    )
    assert (
        client.put("/fhir/notifications/Observation/other", content=body, headers=TOKEN | FHIR_JSON).status_code == 400
    )


def test_auth_media_type_and_size(receiver: tuple[TestClient, redis.Redis]) -> None:
    client, store = receiver
    body = fixture("r4-backport-full-resource.json")
    assert post(client, body, {"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/fhir/notifications", content=json.dumps(body)).status_code == 401
    text = client.post("/fhir/notifications", content=b"x", headers=TOKEN | {"Content-Type": "text/plain"})
    assert text.status_code == 415
    big = body | {"padding": "x" * 70_000}
    assert post(client, big).status_code == 413
    assert queued(store) == []


def test_redis_down_means_503_and_the_retry_is_not_lost(
    receiver: tuple[TestClient, redis.Redis], private_redis: RedisServer
) -> None:
    client, store = receiver
    private_redis.stop()
    response = post(client, fixture("r4-backport-full-resource.json"))
    assert response.status_code == 503
    assert "retry" in response.json()["issue"][0]["diagnostics"]
    private_redis.start()  # AOF on: what was accepted before is still there; this event was not accepted
    assert post(client, fixture("r4-backport-full-resource.json")).status_code == 200
    assert queued(store) == [SCREEN_DUE] and due(store) == {"toh-notified"}


def test_heartbeat_interval_is_learned(receiver: tuple[TestClient, redis.Redis]) -> None:
    client, store = receiver
    for _ in range(3):
        assert post(client, fixture("r4-backport-heartbeat.json")).status_code == 200
    state = json.loads(store.hget(SUBSCRIPTIONS_KEY, "http://fhir.example.org/fhir/Subscription/toh-observations"))
    assert isinstance(state["heartbeat_interval"], float) and state["heartbeat_interval"] >= 0
    heartbeat = eventually(
        lambda: client.get("/readyz").json()["checks"], lambda checks: "subscriptions:heartbeat" in checks
    )
    assert heartbeat["subscriptions:heartbeat"][0]["status"] == "pass"


def test_a_sender_over_its_rate_limit_gets_429(private_redis: RedisServer) -> None:
    settings = Settings(redis_url=private_redis.url, notify_token="secret-notify-token",
                        fhir_base_url="http://fhir.example.org/fhir", notify_rate_limit_per_minute=60)  # fmt: skip
    with TestClient(create_app(settings)) as client:
        statuses = [post(client, fixture("r4-backport-heartbeat.json")).status_code for _ in range(12)]
        refused = post(client, fixture("r4-backport-heartbeat.json"))
        unauthenticated = post(client, fixture("r4-backport-heartbeat.json"), {"Authorization": "Bearer wrong"})
    assert statuses == [200] * 10 + [429, 429]
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["issue"][0]["code"] == "throttled"
    assert unauthenticated.status_code == 401  # strangers learn nothing, not even the limit


@pytest.mark.parametrize(
    "body",
    [b"[" * 5_000 + b"]" * 5_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
     b'{"resourceType": "Bundle", "entry": [' + b'{"a":' * 900 + b"1" + b"}" * 900 + b"]}"],
    ids=["deep-list", "deep-object", "deep-entry"],
)  # fmt: skip
@pytest.mark.parametrize("path", ["/fhir/notifications", "/fhir/notifications/Observation/1"])
def test_deeply_nested_bodies_get_400(body: bytes, path: str, receiver: tuple[TestClient, redis.Redis]) -> None:
    client, _ = receiver
    response = client.request("PUT" if path.endswith("/1") else "POST", path, content=body, headers=TOKEN | FHIR_JSON)
    assert response.status_code == 400
    assert response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("body", [b'{"resourceType": "Bundle\xff\xfe"}', '{"a": 1}'.encode("utf-16")])
def test_bodies_that_are_not_utf8_get_400(body: bytes, receiver: tuple[TestClient, redis.Redis]) -> None:
    client, _ = receiver
    response = client.post("/fhir/notifications", content=body, headers=TOKEN | FHIR_JSON)
    assert response.status_code == 400 and response.json()["issue"][0]["diagnostics"]


def test_a_focus_that_contradicts_its_additional_context_is_read_from_the_server(
    receiver: tuple[TestClient, redis.Redis],
) -> None:
    """The included Observation is about toh-notified, its additional-context names another patient: which patient
    is it about? Not the sender's word: a worker reads the focus from the server. Counted as foreign."""
    client, store = receiver
    body = fixture("r4-backport-full-resource.json")
    event = next(p for p in body["entry"][0]["resource"]["parameter"] if p["name"] == "notification-event")
    event["part"].append({"name": "additional-context", "valueReference": {"reference": "Patient/toh-someone-else"}})
    assert post(client, body).status_code == 200
    [(task, kwargs)] = queued(store)
    assert (task, kwargs["resource"], due(store)) == ("toh.process_event", None, set())
    assert store.hget("toh:metrics:foreign-resources", "notification") == b"1"
    event["part"][-1]["valueReference"]["reference"] = "Patient/toh-notified"  # agreeing context: as before
    body["entry"][0]["resource"]["parameter"][-1]["part"][0]["valueString"] = "2"
    assert post(client, body).status_code == 200
    assert due(store) == {"toh-notified"}


def test_more_events_than_the_cap_get_413(private_redis: RedisServer) -> None:
    settings = Settings(redis_url=private_redis.url, notify_token="secret-notify-token", fhir_base_url=FHIR_BASE,
                        notify_max_events=3)  # fmt: skip
    body = fixture("r4-backport-id-only.json")
    status = body["entry"][0]["resource"]
    event = next(p for p in status["parameter"] if p["name"] == "notification-event")
    status["parameter"] += [json.loads(json.dumps(event).replace('"1"', f'"{n}"')) for n in range(2, 5)]
    with TestClient(create_app(settings)) as client:
        response = post(client, body)
        assert response.status_code == 413
        assert diagnostics(response) == "More than 3 events in one notification: send them in smaller bundles"
        status["parameter"].pop()
        assert post(client, body).status_code == 200


@pytest.mark.parametrize("number", ["²", "1" * 5000, "-1", "1e3", "9223372036854775808"])
def test_event_numbers_that_are_not_integer64_get_400(number: str, receiver: tuple[TestClient, redis.Redis]) -> None:
    """ "²" passes str.isdigit() and int() refuses it; so does a string of 5,000 digits: both were 500s, which
    senders retry for ever."""
    client, store = receiver
    body = json.dumps(fixture("r4-backport-id-only.json")).replace('"valueString": "1"', f'"valueString": "{number}"')
    response = client.post("/fhir/notifications", content=body, headers=TOKEN | FHIR_JSON)
    assert response.status_code == 400
    assert diagnostics(response) == "An event number or event count is not a non-negative integer64"
    assert queued(store) == []
