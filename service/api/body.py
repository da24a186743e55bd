"""Reading a request body within its bound: announced or streamed, never past `limit` bytes."""

from __future__ import annotations

import structlog
from starlette.requests import ClientDisconnect, Request

from service.core.errors import ProblemError

__all__ = ["read_json_body"]

log = structlog.get_logger("toh.http")


async def read_json_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 past `limit` bytes (announced or streamed) and 415 unless it is JSON."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ProblemError(415, "Content-Type must be application/json (or a +json type)")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProblemError(413, f"Request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ProblemError(413, f"Request body larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:  # nobody is left to answer: a quiet line, not a traceback
        log.debug("http.client_disconnected", received=size)
        raise ProblemError(400, "The client closed the connection before the body was complete") from None
    return b"".join(chunks)
