"""Reading a searchset page, defensively, for both transports of the record fetcher (the synchronous FhirClient
of the workers and the CLI, the asynchronous one of the CDS prefetch): its resources and its `next` link
(https://hl7.org/fhir/R4/http.html#paging)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["entries", "next_link"]


def next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            url: str = link["url"]
            return url
    return None


def entries(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The page's resources, without OperationOutcomes (a server's warnings, `search.mode` = outcome)."""
    found = bundle.get("entry")
    return [
        e["resource"]
        for e in (found if isinstance(found, list) else [])
        if isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and e["resource"].get("resourceType") != "OperationOutcome"
    ]
