"""Where a URL may lead: links that FHIR servers return are only followed when they stay on that server."""

from __future__ import annotations

from urllib.parse import unquote

import httpx

__all__ = ["on_server"]


def on_server(url: str, base: str) -> bool:
    """Whether `url` stays on the fhirServer `base`: same scheme, host and port, no userinfo, and a path under the
    base path with no dot segments, plain or percent-encoded (`/fhir/../admin` would leave it)."""
    try:
        target, root = httpx.URL(url), httpx.URL(base)
    except httpx.InvalidURL:
        return False
    path = unquote(target.raw_path.decode("ascii", "replace").split("?", 1)[0])
    return (
        (target.scheme, target.host, target.port) == (root.scheme, root.host, root.port)
        and not target.userinfo
        and path.startswith(root.path.rstrip("/") + "/")
        and not any(segment in (".", "..") for segment in path.split("/"))
    )
