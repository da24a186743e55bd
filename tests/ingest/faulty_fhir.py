"""A real HTTP proxy in front of sekmet-fhir that fails on demand: what a real peer cannot do when asked."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from service.ops.redis_server import free_port


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client killed mid-request is part of the test
            super().handle_error(request, client_address)


class FaultyFhir:
    """Forwards to `upstream`; `fault(method, path)` may answer instead: ("status", code) or ("hold", event), and
    `rewrite(method, path)` may forward another path (a server that answers about the wrong patient)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.fault: Callable[[str, str], tuple[str, Any] | None] = lambda method, path: None
        self.rewrite: Callable[[str, str], str] = lambda method, path: path
        self.seen: list[tuple[str, str, int]] = []
        self.arrived = threading.Event()
        proxy = self
        prefix = "/" + self.upstream.split("/", 3)[3]  # the upstream's path, e.g. /fhir

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = proxy.fault(self.command, self.path)
                proxy.arrived.set()
                if fault is not None and fault[0] == "hold":
                    fault[1].wait(60)  # held until the test releases it (or kills the client)
                if fault is not None and fault[0] == "status":
                    proxy.seen.append((self.command, self.path, fault[1]))
                    self.send_response(fault[1])
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                path = proxy.rewrite(self.command, self.path).removeprefix(prefix)
                response = httpx.request(self.command, proxy.upstream + path, content=body,
                                         headers=headers, timeout=30)  # fmt: skip
                proxy.seen.append((self.command, self.path, response.status_code))
                payload = response.content.replace(proxy.upstream.encode(), proxy.url.encode())
                self.send_response(response.status_code)
                self.send_header("Content-Type", response.headers.get("content-type", "application/fhir+json"))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = _forward

            def log_message(self, *_: Any) -> None:
                pass

        port = free_port()
        self.server = _Server(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{port}{prefix}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
