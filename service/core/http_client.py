"""The API's outbound HTTP clients, made so that no burst of hooks can wedge them.

httpcore 1.0.9 leaks a pool slot for good when a request is cancelled after the pool has given it a new connection
but before that connection is opened (encode/httpcore#1093, open): the connection stays `CONNECTING` with no socket,
is never reaped, and once `max_connections` of them pile up every request fails with `PoolTimeout`. A burst does it:
requests queue in the pool, a slot frees, the pool hands a new connection to a queued request, and that request is
cancelled (a sibling fetch failed, a deadline passed) before it runs. Two defences:

- `BoundedTransport` lets no more requests into the pool than it has connections: the others wait on a semaphore,
  where a cancellation costs nothing, and the pool's queue (whose bookkeeping is quadratic in its length: 97% of the
  API's CPU during a burst of 250) stays empty.
- `_ReapingPool` drops such orphans itself, for the one await left between assignment and use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpcore
import httpx

from service import __version__

__all__ = ["BodyTooLarge", "BoundedTransport", "outbound_client", "read_capped"]


class _ReapingPool(httpcore.AsyncConnectionPool):
    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        held = {id(request.connection) for request in self._requests if request.connection is not None}
        for connection in list(self._connections):
            never_opened = (
                isinstance(connection, httpcore.AsyncHTTPConnection)
                and connection._connection is None
                and not connection._connect_failed
            )
            if never_opened and id(connection) not in held:  # its request was cancelled before it connected
                self._connections.remove(connection)
        return super()._assign_requests_to_connections()


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that gives its transport slot back when it is closed (once)."""

    def __init__(self, stream: httpx.AsyncByteStream, release: asyncio.Semaphore) -> None:
        self._stream = stream
        self._release: asyncio.Semaphore | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                self._release.release()
                self._release = None


class BoundedTransport(httpx.AsyncBaseTransport):
    def __init__(self, limits: httpx.Limits) -> None:
        assert limits.max_connections is not None
        self._inner = httpx.AsyncHTTPTransport(limits=limits)
        self._inner._pool = _ReapingPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
        )
        self._slots = asyncio.Semaphore(limits.max_connections)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._slots.acquire()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            self._slots.release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(response.stream, self._slots),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def outbound_client(*, max_connections: int, timeout: float, connect_timeout: float) -> httpx.AsyncClient:
    """An AsyncClient on a BoundedTransport: no redirects followed, our User-Agent."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=min(20, max_connections))
    return httpx.AsyncClient(
        transport=BoundedTransport(limits),
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        follow_redirects=False,
        headers={"User-Agent": f"toh-cds/{__version__}"},
    )


class BodyTooLarge(ValueError):
    """A response body past the caller's cap; reading stopped there."""


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """A streamed response's body, refused (BodyTooLarge) as soon as it passes `limit` bytes: never read whole first."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(f"larger than {limit} bytes")
    return bytes(body)
