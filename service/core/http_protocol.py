"""uvicorn's httptools protocol with a bound on the request head: 431 past it, before anything of ours parses it.

httptools has no limit of its own: it gathers a header value of any length, joining the pieces as they arrive (one
100 MB `Authorization` header took 18.5 s to refuse, and its memory). Here every byte of a request head (request
line and headers) is counted as it arrives: past `max_head` in all, or a header line (or the URL) past `max_line`,
the answer is 431 and the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from service.settings import get_settings

__all__ = ["BoundedHttpToolsProtocol"]

_END_OF_HEAD = b"\r\n\r\n"


class _HeadTooLarge(Exception):
    pass


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """With the bounds TOH_API_MAX_HEADER_BYTES (a line) and TOH_API_MAX_HEAD_BYTES (the head). uvicorn is given it
    by import path (`service.core.http_protocol:BoundedHttpToolsProtocol`), so that worker processes, which uvicorn
    spawns rather than forks, load it too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()  # made once per process
        self.max_line, self.max_head = settings.api_max_header_bytes, settings.api_max_head_bytes

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_head = True
        self._head_bytes = 0
        self._tail = b""  # the last bytes seen, for an end of head split across two reads

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            seen = self._tail + data
            end = seen.find(_END_OF_HEAD)
            self._head_bytes += len(data) if end < 0 else end + len(_END_OF_HEAD) - len(self._tail)
            self._tail = seen[-(len(_END_OF_HEAD) - 1) :]
            if self._head_bytes > self.max_head:
                self._refuse()
                return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HeadTooLarge) or isinstance(exc.__cause__, _HeadTooLarge):
                self._refuse()
            else:
                self._bad_request()
        except httptools.HttpParserError:
            self._bad_request()
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def _bad_request(self) -> None:
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)

    def on_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > self.max_line:
            raise _HeadTooLarge
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) > self.max_line:
            raise _HeadTooLarge
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes, self._tail = False, 0, b""
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        super().on_message_complete()

    def _refuse(self) -> None:
        message = b"Request header fields too large"
        self.transport.write(
            STATUS_LINE[431]
            + b"content-type: text/plain; charset=utf-8\r\ncontent-length: "
            + str(len(message)).encode()
            + b"\r\nconnection: close\r\n\r\n"
            + message
        )
        self.transport.close()
