"""The patient's record for a hook: what the CDS Client prefetched, and the rest fetched from its FHIR server.

Per CDS Hooks 2.0 (#prefetch-template): a key that is absent was not satisfied, so we fetch it ourselves from
`fhirServer` with the `fhirAuthorization` token; `null` means there is no data; an OperationOutcome means the client
hit an error, so we fetch it too. When data is missing and cannot be fetched, the hook answers 412.

Nothing is ever sent to a FHIR server that is not allowlisted, and `next` links are only followed on the same
server. The access token is used for this request only: never stored, never logged.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import structlog

from service.cds.request import HookRequest
from service.core.errors import ProblemError
from service.fhir.limits import Budget, RecordLimits, TooLarge
from service.fhir.paging import entries, next_link
from service.fhir.urls import on_server
from service.screening.fhir import own_resources
from service.screening.queries import PREFETCH, render_prefetch

__all__ = ["Record", "gather_record", "is_allowlisted"]

log = structlog.get_logger("toh.cds.prefetch")


@dataclass
class Record:
    resources: list[dict[str, Any]]
    fetched: list[str]  # prefetch keys we fetched ourselves
    foreign: int = 0  # resources about another patient, dropped


class _Unavailable(Exception):
    pass


def is_allowlisted(fhir_base: str, allowlist: Iterable[str]) -> bool:
    """Exact base URL match (scheme, host, port and path), so no other host, port or path is ever reached."""
    return fhir_base.rstrip("/") in {base.rstrip("/") for base in allowlist}


def _is_outcome(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


class _Fetcher:
    def __init__(self, http: httpx.AsyncClient, hook_request: HookRequest, max_pages: int, budget: Budget) -> None:
        assert hook_request.fhirServer is not None
        self.http = http
        self.fhir_base = hook_request.fhirServer
        self.max_pages = max_pages
        self.budget = budget
        self.headers = {"Accept": "application/fhir+json"}
        if hook_request.fhirAuthorization is not None:
            self.headers["Authorization"] = f"Bearer {hook_request.fhirAuthorization.access_token}"

    async def get(self, url: str) -> tuple[int, Any]:
        """(status, parsed JSON body, or None unless 200): the body streamed and counted against the budget."""
        if not on_server(url, self.fhir_base):
            raise _Unavailable("a link points outside the fhirServer")
        try:
            async with self.http.stream("GET", url, headers=self.headers) as response:
                if response.status_code != 200:
                    return response.status_code, None
                self.budget.announced(response.headers.get("content-length"))
                body = bytearray()
                try:
                    async for chunk in response.aiter_bytes():
                        self.budget.add(body, chunk)
                except BaseException:
                    del body[:]  # a traceback keeps this frame: not its megabytes
                    raise
        except httpx.HTTPError as exc:
            raise _Unavailable(f"{type(exc).__name__} from the fhirServer") from None
        except TooLarge as exc:
            raise _Unavailable(f"the fhirServer sent {exc}") from None
        return 200, await _json(bytes(body))

    async def read(self, query: str) -> list[dict[str, Any]]:
        status, body = await self.get(f"{self.fhir_base}/{query}")
        if status in (404, 410):
            return []
        if status != 200:
            raise _Unavailable(f"the fhirServer answered {status} to a read")
        return [body]

    async def search(self, query: str) -> list[dict[str, Any]]:
        return await self.pages(f"{self.fhir_base}/{query}")

    async def pages(self, url: str | None, first: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Entries of a searchset and its `next` pages, up to the page cap."""
        resources: list[dict[str, Any]] = []
        bundle = first
        for _ in range(self.max_pages):
            if bundle is None:
                assert url is not None
                status, bundle = await self.get(url)
                if status != 200:
                    raise _Unavailable(f"the fhirServer answered {status} to a search")
            page = entries(bundle)
            try:
                self.budget.take_entries(len(page))
            except TooLarge as exc:
                raise _Unavailable(f"the fhirServer sent {exc}") from None
            resources += page
            url, bundle = next_link(bundle), None
            if url is None:
                return resources
        raise _Unavailable(f"more than {self.max_pages} pages")


_PARSE_IN_THREAD_BYTES = 1_000_000  # larger bodies are parsed off the event loop (about 10 ms a megabyte)


async def _json(body: bytes) -> dict[str, Any]:
    try:
        if len(body) > _PARSE_IN_THREAD_BYTES:
            parsed = await anyio.to_thread.run_sync(json.loads, body)
        else:
            parsed = json.loads(body)
    except ValueError:
        raise _Unavailable("the fhirServer answered with something that is not JSON") from None
    except RecursionError:
        raise _Unavailable("the fhirServer answered with JSON nested too deeply") from None
    if not isinstance(parsed, dict):
        raise _Unavailable("the fhirServer answered with something that is not a resource")
    return parsed


async def gather_record(
    hook_request: HookRequest, http: httpx.AsyncClient, allowlist: list[str], max_pages: int, limits: RecordLimits
) -> Record:
    prefetch = hook_request.prefetch or {}
    resources: list[dict[str, Any]] = []
    to_fetch: dict[str, str] = {}  # key -> query
    paged: dict[str, dict[str, Any]] = {}  # key -> a prefetched Bundle with a next link
    for key, template in PREFETCH.items():
        value = prefetch.get(key) if key in prefetch else ...
        if value is None:
            continue  # the client says: no data
        if value is ... or _is_outcome(value) or not isinstance(value, dict):
            to_fetch[key] = render_prefetch(template, hook_request.patient_id)
        elif value.get("resourceType") == "Bundle":
            if next_link(value) is not None:
                paged[key] = value
            else:
                resources += entries(value)
        else:
            resources.append(value)
    budget = Budget(limits)
    try:
        budget.take_entries(len(resources))
    except TooLarge as exc:
        raise ProblemError(412, f"The prefetch holds {exc}") from None
    if to_fetch or paged:
        try:
            resources += await _fetch(hook_request, http, allowlist, _Fetch(max_pages, budget, to_fetch, paged))
        finally:
            budget.release()
    own, foreign = own_resources(resources, hook_request.patient_id)
    if foreign:
        log.warning("cds.foreign_resources_dropped", dropped=foreign)
    return Record(own, sorted(to_fetch), foreign)


@dataclass(frozen=True)
class _Fetch:
    max_pages: int
    budget: Budget
    queries: dict[str, str]  # key -> query
    paged: dict[str, dict[str, Any]]  # key -> a prefetched Bundle with a next link


async def _fetch(
    hook_request: HookRequest, http: httpx.AsyncClient, allowlist: list[str], work: _Fetch
) -> list[dict[str, Any]]:
    keys = sorted({*work.queries, *work.paged})
    if hook_request.fhirServer is None:
        raise ProblemError(412, f"Prefetch missing for {', '.join(keys)} and no fhirServer to fetch it from")
    if not is_allowlisted(hook_request.fhirServer, allowlist):
        raise ProblemError(
            412,
            f"Prefetch missing for {', '.join(keys)}; fhirServer is not on this service's allowlist, so it is never contacted",
        )
    fetcher = _Fetcher(http, hook_request, work.max_pages, work.budget)
    jobs = [fetcher.read(query) if "?" not in query else fetcher.search(query) for query in work.queries.values()]
    jobs += [fetcher.pages(None, first=bundle) for bundle in work.paged.values()]
    results: list[list[dict[str, Any]]] = []

    async def run(job: Awaitable[list[dict[str, Any]]]) -> None:
        results.append(await job)

    try:
        # The first failure cancels the other fetches. An anyio task group, not asyncio's: it cancels through cancel
        # scopes, which httpcore's shielded clean-up respects; asyncio.TaskGroup's task.cancel() breaks into that
        # clean-up and left one pool request and connection behind for good per hook cut short (measured: 34
        # requests and 24 connections stuck after 30 hooks).
        async with anyio.create_task_group() as group:
            for job in jobs:
                group.start_soon(run, job)
    except ExceptionGroup as errors:
        unavailable = errors.subgroup(_Unavailable)
        if unavailable is None:
            raise
        reason = str(unavailable.exceptions[0])
    else:
        return [resource for found in results for resource in found]
    # Raised here, not in the except clause: as its __context__, the fetch errors and their tracebacks (the frames
    # holding the answers read so far) would live as long as the 412.
    raise ProblemError(412, f"Could not fetch {', '.join(keys)} from the fhirServer: {reason}")
