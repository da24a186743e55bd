"""A small synchronous FHIR REST client: the workers' (Celery prefork processes: one httpx.Client each) and the
CLI's. The CDS prefetch has the asynchronous twin of `search` (service/cds/prefetch.py); both read pages with
service/fhir/paging.py within one service/fhir/limits.Budget.

FhirError
  + RetryableFhirError   5xx, 429, timeouts, connection errors: the task retries with backoff
  + PermanentFhirError   any other 4xx: the work goes to the dead-letter list with the reason
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal
from urllib.parse import quote

import httpx

from service.core.per_process import PerProcess
from service.fhir.errors import FhirError, PermanentFhirError, RetryableFhirError, retry_after
from service.fhir.limits import Budget, RecordLimits, TooLarge
from service.fhir.paging import entries, next_link
from service.fhir.urls import on_server
from service.fhir.validate import validated
from service.screening.queries import PREFETCH, render_prefetch

__all__ = ["FhirClient", "FhirError", "PermanentFhirError", "RetryableFhirError"]


# One small thread pool per process: prefork children must not inherit their parent's threads.
_executor = PerProcess(lambda: ThreadPoolExecutor(max_workers=len(PREFETCH), thread_name_prefix="fhir-record"))


RecordQuery = Literal["auto", "everything", "searches"]


class FhirClient:
    def __init__(
        self,
        fhir_base: str,
        http: httpx.Client,
        *,
        auth: Callable[[], dict[str, str]] | None = None,
        max_pages: int = 50,
        record_query: RecordQuery = "searches",
        limits: RecordLimits | None = None,
    ) -> None:
        self.fhir_base = fhir_base.rstrip("/")
        self.http = http
        self.max_pages = max_pages
        self.limits = limits or RecordLimits()
        self.record_query = record_query  # "auto" is settled by the first record() from the CapabilityStatement
        self.auth = auth  # headers provider: a static token, or SMART backend auth with its cached token
        self.headers = {"Accept": "application/fhir+json"}

    def _request(
        self, method: str, url: str, headers: dict[str, str], budget: Budget | None, **kwargs: Any
    ) -> httpx.Response:
        """The response with its body read as a stream, counted against the record's budget as it arrives."""
        request = self.http.build_request(
            method, url, headers=self.headers | (self.auth() if self.auth else {}) | headers, **kwargs
        )
        budget = budget or Budget(self.limits)
        try:
            response = self.http.send(request, stream=True)
            try:
                budget.announced(response.headers.get("content-length"))
                body = bytearray()
                try:
                    for chunk in response.iter_bytes():
                        budget.add(body, chunk)
                except BaseException:
                    del body[:]  # a traceback keeps this frame: not its megabytes
                    raise
            finally:
                response.close()
        except httpx.TransportError as exc:
            raise RetryableFhirError(f"{type(exc).__name__} on {method}") from None
        except TooLarge as exc:
            raise PermanentFhirError(f"{method} answered {exc}") from None
        return httpx.Response(response.status_code, headers=response.headers, content=bytes(body), request=request)

    def _send(self, method: str, url: str, budget: Budget | None = None, **kwargs: Any) -> httpx.Response:
        if not on_server(url, self.fhir_base):
            raise PermanentFhirError("refusing a URL outside the FHIR base")
        headers = kwargs.pop("headers", {})
        response = self._request(method, url, headers, budget, **kwargs)
        invalidate = getattr(self.auth, "invalidate", None)
        if response.status_code == 401 and invalidate is not None:
            invalidate()  # an expired or revoked token: one fresh try
            response = self._request(method, url, headers, budget, **kwargs)
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableFhirError(
                f"{method} answered {response.status_code}",
                status=response.status_code,
                retry_after=retry_after(response.headers.get("retry-after")),
            )
        return response

    def _checked(self, method: str, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            raise PermanentFhirError(f"{method} answered {response.status_code}", status=response.status_code)
        try:
            body = response.json()
        except (ValueError, RecursionError):
            raise PermanentFhirError(f"{method} answered something that is not JSON (or nested too deeply)") from None
        if not isinstance(body, dict):
            raise PermanentFhirError(f"{method} answered something that is not a resource")
        return body

    def read(self, reference: str, budget: Budget | None = None) -> dict[str, Any] | None:
        """A resource by `Type/id` (or an absolute URL on this server); None when it does not exist."""
        url = reference if reference.startswith(("http://", "https://")) else f"{self.fhir_base}/{reference}"
        response = self._send("GET", url, budget)
        if response.status_code in (404, 410):
            return None
        return self._checked("GET", response)

    def search(self, query: str, budget: Budget | None = None) -> list[dict[str, Any]]:
        """Every resource of a search, following `next` links (on this server only) up to the page cap."""
        url: str | None = f"{self.fhir_base}/{query}"
        found: list[dict[str, Any]] = []
        budget = budget or Budget(self.limits)
        for _ in range(self.max_pages):
            if url is None:
                return found
            bundle = self._checked("GET", self._send("GET", url, budget))
            page = entries(bundle)
            try:
                budget.take_entries(len(page))
            except TooLarge as exc:
                raise PermanentFhirError(f"GET answered {exc}") from None
            found += page
            url = next_link(bundle)
        raise PermanentFhirError(f"more than {self.max_pages} pages")

    def put(self, resource: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.fhir_base}/{resource['resourceType']}/{resource['id']}"
        response = self._send("PUT", url, json=validated(resource), headers={"Content-Type": "application/fhir+json"})
        return self._checked("PUT", response)

    def offers_everything(self) -> bool:
        """Whether the server's CapabilityStatement lists the Patient/$everything operation."""
        statement = self._checked("GET", self._send("GET", f"{self.fhir_base}/metadata"))
        for rest in statement.get("rest") or []:
            for resource in rest.get("resource") or [] if rest.get("mode") == "server" else []:
                if resource.get("type") == "Patient":
                    names = [str(op.get("name", "")).lstrip("$") for op in resource.get("operation") or []]
                    return "everything" in names
        return False

    def record(self, patient_id: str) -> list[dict[str, Any]]:
        """The patient's record. Round trips, not the screening, are what a screening costs, so: one
        Patient/$everything (paged) where the server offers it, else the queries the CDS services publish as
        prefetch templates, run in parallel. All of it within one budget (service/fhir/limits.py)."""
        if self.record_query == "auto":
            self.record_query = "everything" if self.offers_everything() else "searches"
        budget = Budget(self.limits)
        try:
            return self._record(patient_id, budget)
        finally:
            budget.release()

    def _record(self, patient_id: str, budget: Budget) -> list[dict[str, Any]]:
        if self.record_query == "everything":
            try:
                return self.search(f"Patient/{quote(patient_id, safe='')}/$everything?_count=1000", budget)
            except PermanentFhirError as exc:
                if exc.status in (404, 410):
                    return []  # no such patient, as the searches would find nothing
                raise

        def run(query: str) -> list[dict[str, Any]]:
            if "?" in query:
                return self.search(query, budget)
            patient = self.read(query, budget)
            return [patient] if patient else []

        queries = [render_prefetch(template, patient_id) for template in PREFETCH.values()]
        return [resource for found in _executor().map(run, queries) for resource in found]
