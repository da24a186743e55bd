"""The Bulk Data client's edge cases that sekmet-fhir does not produce on demand (httpx.MockTransport): Retry-After
as an HTTP date, 429 and 5xx while polling, an expired export, a line past the cap, a file on another origin, a
server with no $export; and the fallback to Patient pages into the due set."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable

import httpx
import pytest
import redis

from service.fhir.bulk import BulkExport, ExportFile, ExportGone, Pace, retry_after_seconds
from service.fhir.client import FhirClient
from service.fhir.errors import PermanentFhirError
from service.ops.redis_server import RedisServer
from service.pipeline.backfill import Backfill
from service.pipeline.celery import create_celery_app
from service.pipeline.store import due_key
from service.settings import Settings

BASE = "https://fhir.example/r4"


def client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_retry_after_is_read_as_seconds_or_a_date_and_bounded() -> None:
    assert retry_after_seconds("3") == 3
    in_five = email.utils.format_datetime(email.utils.localtime(None).fromtimestamp(time.time() + 5), usegmt=False)
    assert 3 <= retry_after_seconds(in_five) <= 6
    assert retry_after_seconds("86400") == 60  # waited in steps, progress shown between
    assert retry_after_seconds("Mon, 01 Jan 2024 00:00:00 GMT") == 0.1 and retry_after_seconds(None) == 1.0
    assert retry_after_seconds("-5") == 1.0 and retry_after_seconds("soon") == 1.0  # not a Retry-After: the default


def test_polls_through_progress_and_throttling_to_the_manifest() -> None:
    answers = iter([
        httpx.Response(202, headers={"X-Progress": "20%", "Retry-After": "0.1"}),
        httpx.Response(429, headers={"Retry-After": "0.1"}),
        httpx.Response(503, headers={"Retry-After": "0.1"}),
        httpx.Response(200, json={"output": [{"type": "Patient", "url": f"{BASE}/files/p.ndjson", "count": 2},
                                              {"type": "Observation"}]}),
    ])  # fmt: skip
    seen: list[str] = []
    export = BulkExport(client(lambda request: next(answers)), BASE)
    files = export.wait_for_files(f"{BASE}/status/1", seen.append)
    assert seen == ["20%"]
    assert files == [ExportFile("Patient", f"{BASE}/files/p.ndjson", 2)]  # an entry with no URL is no file


def test_an_expired_export_says_so() -> None:
    export = BulkExport(client(lambda request: httpx.Response(404)), BASE)
    with pytest.raises(ExportGone):
        export.wait_for_files(f"{BASE}/status/1", print)
    with pytest.raises(ExportGone):
        list(export.resources(ExportFile("Patient", f"{BASE}/files/p.ndjson", None)))


def test_lines_stream_and_a_line_past_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    body = b'{"resourceType": "Patient", "id": "a"}\n\n{"resourceType": "Patient", "id": "b"}'
    export = BulkExport(client(lambda request: httpx.Response(200, content=body)), BASE)
    assert [r["id"] for r in export.resources(ExportFile("Patient", f"{BASE}/p.ndjson", None))] == ["a", "b"]
    monkeypatch.setattr("service.fhir.bulk.MAX_LINE_BYTES", 10)
    with pytest.raises(PermanentFhirError, match="longer than 10 bytes"):
        list(BulkExport(client(lambda request: httpx.Response(200, content=b"x" * 100)), BASE).resources(
            ExportFile("Patient", f"{BASE}/p.ndjson", None)))  # fmt: skip


def test_urls_off_the_servers_origin_are_never_fetched() -> None:
    fetched: list[str] = []
    export = BulkExport(client(lambda request: fetched.append(str(request.url)) or httpx.Response(200)), BASE)
    with pytest.raises(PermanentFhirError, match="origin"):
        list(export.resources(ExportFile("Patient", "https://elsewhere.example/p.ndjson", None)))
    with pytest.raises(PermanentFhirError, match="origin"):
        export.wait_for_files("http://169.254.169.254/latest/meta-data", print)
    assert fetched == []


def test_the_kick_off_asks_for_async_and_encodes_each_filter() -> None:
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(202, headers={"Content-Location": f"{BASE}/status/7"})

    status = BulkExport(client(answer), BASE).kick_off(types=["Patient", "Observation"], type_filters=["Observation?code=a%2Cb"],
                                                       group="g1", since="2026-01-01T00:00:00Z")  # fmt: skip
    assert status == f"{BASE}/status/7"
    sent = requests[0]
    assert sent.url.path == "/r4/Group/g1/$export" and sent.headers["prefer"] == "respond-async"
    assert sent.url.params.get_list("_typeFilter") == ["Observation?code=a%2Cb"]  # its comma stays encoded
    assert sent.url.params["_type"] == "Patient,Observation" and sent.url.params["_since"] == "2026-01-01T00:00:00Z"


def test_without_export_the_patients_join_the_due_set(private_redis: RedisServer) -> None:
    redis_url = private_redis.url  # no worker listens there: the screenings stay queued
    pages = {
        "/r4/Patient/$export": httpx.Response(404),
        "/r4/Patient": httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset",
                                                 "entry": [{"resource": {"resourceType": "Patient", "id": f"nx-{i}"}}
                                                           for i in range(5)]}),
    }  # fmt: skip
    http = client(lambda request: pages[request.url.path])
    store = redis.Redis.from_url(redis_url)
    celery = create_celery_app(Settings(redis_url=redis_url))
    job = Backfill(store, celery, BASE, pace=Pace(0), batch=2)
    assert job.files(BulkExport(http, BASE), print) is None
    queued: list[int] = []
    assert job.by_patient_pages(FhirClient(BASE, http), queued.append) == 5
    assert sum(queued) == 5 and job.counts().via == "Patient searches"
    assert {m.decode() for m in store.smembers(due_key(BASE))} == {f"nx-{i}" for i in range(5)}
    assert store.llen("celery") == 3  # a screen_due per batch of two, and one for the rest
    job.forget()
    celery.close()
    store.close()
