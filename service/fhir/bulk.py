"""FHIR Bulk Data Access (`$export`, https://hl7.org/fhir/uv/bulkdata/export.html) as a client: kick-off with
`Prefer: respond-async`, status polls that honour `Retry-After` and report `X-Progress`, and the NDJSON files read
line by line as they stream (an export is never held whole).

Every request is paced (`Pace`, the backfill's `--max-rps`) and bounded: a timeout each, a cap on a status poll's
wait and on a line's length, and status and file URLs only on the FHIR server (`urls.on_server`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from service.fhir.errors import PermanentFhirError, RetryableFhirError, retry_after
from service.fhir.urls import on_server

__all__ = ["BulkExport", "ExportFile", "ExportGone", "Pace", "retry_after_seconds"]

MAX_LINE_BYTES = 8 * 1024 * 1024  # one resource per line; a longer one is refused, not buffered
MAX_WAIT_SECONDS = 60.0  # a Retry-After beyond this is waited in steps of this (and progress shown meanwhile)
NOT_SUPPORTED = (400, 404, 405, 501)  # a kick-off answered with these: the server has no $export (or not this one)


class ExportGone(PermanentFhirError):
    """The export's status URL or a file answered 404 or 410: it expired or was deleted; export again."""


class Pace:
    """At most `per_second` calls a second, spaced evenly (0: no limit)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1 / per_second if per_second > 0 else 0.0
        self.clock = clock
        self.next_at = 0.0

    def wait(self) -> None:
        now = self.clock()
        if now < self.next_at:
            time.sleep(self.next_at - now)  # the pace itself: the point is to wait
        self.next_at = max(now, self.next_at) + self.interval


@dataclass(frozen=True)
class ExportFile:
    type: str
    url: str
    count: int | None


def retry_after_seconds(value: str | None, default: float = 1.0) -> float:
    """How long to wait before the next poll: `Retry-After` (`default` when absent or invalid), within
    [0.1, MAX_WAIT_SECONDS]."""
    seconds = retry_after(value)
    return min(max(default if seconds is None else seconds, 0.1), MAX_WAIT_SECONDS)


class BulkExport:
    def __init__(
        self,
        http: httpx.Client,
        fhir_base: str,
        *,
        pace: Pace | None = None,
        headers: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        self.http = http
        self.fhir_base = fhir_base.rstrip("/")
        self.pace = pace or Pace(0)
        self.headers = headers or dict

    def _get(self, url: str, accept: str, **kwargs: Any) -> httpx.Response:
        if not on_server(url, self.fhir_base):
            raise PermanentFhirError("refusing an export URL off the FHIR server (its origin and base path)")
        self.pace.wait()
        try:
            return self.http.get(url, headers=self.headers() | {"Accept": accept} | kwargs.pop("headers", {}), **kwargs)
        except httpx.TransportError as exc:
            raise RetryableFhirError(f"{type(exc).__name__} on an export request") from None

    def kick_off(
        self, *, types: list[str], type_filters: list[str], group: str | None = None, since: str | None = None
    ) -> str | None:
        """The status URL of a new export, or None when the server offers no such export."""
        url = f"{self.fhir_base}/Group/{group}/$export" if group else f"{self.fhir_base}/Patient/$export"
        params = [("_type", ",".join(types)), ("_outputFormat", "application/fhir+ndjson")]
        params += [("_typeFilter", type_filter) for type_filter in type_filters]  # one each: no comma to split on
        if since:
            params.append(("_since", since))
        response = self._get(url, "application/fhir+json", params=params, headers={"Prefer": "respond-async"})
        if response.status_code == 202 and response.headers.get("content-location"):
            return response.headers["content-location"]
        if response.status_code in NOT_SUPPORTED:
            return None
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableFhirError(f"$export kick-off answered {response.status_code}")
        raise PermanentFhirError(f"$export kick-off answered {response.status_code}")

    def wait_for_files(self, status_url: str, on_progress: Callable[[str], None]) -> list[ExportFile]:
        """Poll until the export is complete; its files (errors.ndjson's OperationOutcomes are not resources)."""
        while True:
            response = self._get(status_url, "application/json")
            if response.status_code == 202:
                on_progress(response.headers.get("x-progress", "in progress"))
                time.sleep(retry_after_seconds(response.headers.get("retry-after")))  # as the server asks
                continue
            if response.status_code == 200:
                manifest = orjson.loads(response.content)
                return [
                    ExportFile(str(item["type"]), str(item["url"]), item.get("count"))
                    for item in manifest.get("output") or []
                    if isinstance(item, dict) and item.get("type") and item.get("url")
                ]
            if response.status_code >= 500 or response.status_code == 429:
                time.sleep(retry_after_seconds(response.headers.get("retry-after"), default=2.0))
                continue
            if response.status_code in (404, 410):
                raise ExportGone(f"export status answered {response.status_code}", status=response.status_code)
            raise PermanentFhirError(f"export status answered {response.status_code}", status=response.status_code)

    def resources(self, file: ExportFile) -> Iterator[dict[str, Any]]:
        """The file's resources, one line at a time as it streams."""
        if not on_server(file.url, self.fhir_base):
            raise PermanentFhirError("refusing an export file off the FHIR server (its origin and base path)")
        self.pace.wait()
        headers = self.headers() | {"Accept": "application/fhir+ndjson"}
        try:
            with self.http.stream("GET", file.url, headers=headers) as response:
                if response.status_code in (404, 410):
                    raise ExportGone(f"export file answered {response.status_code}", status=response.status_code)
                if response.status_code != 200:
                    raise RetryableFhirError(
                        f"export file answered {response.status_code}", status=response.status_code
                    )
                pending = b""
                for chunk in response.iter_bytes():
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    if len(pending) > MAX_LINE_BYTES:
                        raise PermanentFhirError(f"an export line longer than {MAX_LINE_BYTES} bytes")
                    for line in lines:
                        if line.strip():
                            yield orjson.loads(line)
                if pending.strip():
                    yield orjson.loads(pending)
        except httpx.TransportError as exc:
            raise RetryableFhirError(f"{type(exc).__name__} reading an export file") from None
