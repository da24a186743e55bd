"""Hostile peers, as real processes and sockets: a FHIR server that misbehaves on demand, and the API under uvicorn.

The FHIR server answers each GET with `answer(handler)`, one of the behaviours below or the test's own; it counts
what it receives and how many of its answers the client abandoned (a write that met a closed connection).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from service.ops.redis_server import free_port
from tests.processes import LISTENING, LoggedProcess
from tests.support.session import service_env

Answer = Callable[[BaseHTTPRequestHandler], None]
EMPTY_SEARCHSET = {"resourceType": "Bundle", "type": "searchset", "entry": []}


def send_json(handler: BaseHTTPRequestHandler, body: Any, status: int = 200) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/fhir+json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def normal(handler: BaseHTTPRequestHandler) -> None:
    """A patient with nothing recorded: the Patient for a read, an empty searchset for a search."""
    path = handler.path.split("?")[0]
    if path.endswith("/metadata"):
        send_json(handler, {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance"})
    elif path.rsplit("/", 2)[-2] == "Patient":
        send_json(handler, {"resourceType": "Patient", "id": path.rsplit("/", 1)[-1], "gender": "female"})
    else:
        send_json(handler, EMPTY_SEARCHSET)


def slow(seconds: float) -> Answer:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        normal(handler)

    return answer


def drip(handler: BaseHTTPRequestHandler) -> None:
    """A searchset sent one byte every 0.2 s, for as long as the client listens."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/fhir+json")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    for _ in range(100_000):
        handler.wfile.write(b" ")
        handler.wfile.flush()
        time.sleep(0.2)


def endless(handler: BaseHTTPRequestHandler) -> None:
    """A chunked body that never ends: 64 KB chunks for as long as the client reads."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/fhir+json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b'{"resourceType": "Bundle", "type": "searchset", "entry": [' + b" " * 65_000
    for _ in range(100_000):
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def deep(handler: BaseHTTPRequestHandler) -> None:
    """Valid JSON nested 100,000 deep."""
    send_json(handler, b"[" * 100_000 + b"]" * 100_000)


def wide(entries: int) -> Answer:
    """A searchset of `entries` tiny Observations about the patient asked for."""
    cache: dict[str, bytes] = {}

    def answer(handler: BaseHTTPRequestHandler) -> None:
        if handler.path.split("?")[0].rsplit("/", 2)[-2] == "Patient":
            normal(handler)
            return
        patient = handler.path.split("patient=")[1].split("&")[0]
        if patient not in cache:
            entry = {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "subject": {"reference": f"Patient/{patient}"},
                }
            }
            cache[patient] = json.dumps(
                {"resourceType": "Bundle", "type": "searchset", "entry": [entry] * entries}
            ).encode()
        send_json(handler, cache[patient])

    return answer


class HostileFhir:
    def __init__(self, answer: Answer = normal) -> None:
        self.answer = answer
        self.requests: list[str] = []
        self.abandoned = 0  # answers whose client closed the connection first
        self.lock = threading.Lock()
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with hostile.lock:
                    hostile.requests.append(self.path)
                try:
                    hostile.answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    with hostile.lock:
                        hostile.abandoned += 1
                    self.close_connection = True

            def log_message(self, *_: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that went away is what these tests do

        self.port = free_port()
        self.server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.port}/fhir"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def hostile_fhir(answer: Answer = normal) -> Iterator[HostileFhir]:
    server = HostileFhir(answer)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def api(**settings: str) -> Iterator[tuple[LoggedProcess, str]]:
    """The API under uvicorn (as `toh-cds api` runs it) on a free port, with these TOH_ settings."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = service_env(TOH_PUBLIC_BASE_URL=base, **settings)
    process = LoggedProcess([sys.executable, "-m", "service.cli", "api", "--port", str(port)], env=env)
    try:
        process.wait_for(LISTENING)
        yield process, base
    finally:
        process.stop()


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def rss_kib(pid: int) -> int:
    return _status(pid, "VmRSS")


def threads(pid: int) -> int:
    return _status(pid, "Threads")


async def raw_call(base: str, method: str, path: str, body: Any = None, timeout: float = 60) -> str:
    """One HTTP/1.1 request on its own connection, with nothing between the test and the socket: a thousand of
    these at once cost the test little (httpx's own pool bookkeeping is quadratic in its queue). The status code,
    or "gave up" when `timeout` passed first (the connection is then closed, as a client that leaves does)."""
    host, port = base.removeprefix("http://").split(":")
    payload = json.dumps(body).encode() if body is not None else b""
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode()  # fmt: skip
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(head + payload)
            status_line = await reader.readline()
            await reader.read()  # the rest, until the server closes
        return status_line.split()[1].decode()
    except TimeoutError:
        return "gave up"
    finally:
        if writer is not None:
            writer.close()
