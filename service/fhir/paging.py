"""The one paging helper: a searchset Bundle's `next` link (https://hl7.org/fhir/R4/http.html#paging), read
defensively, for every record fetcher (the workers' client, the CDS prefetch, the CLI's hook client)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["next_link"]


def next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            url: str = link["url"]
            return url
    return None
