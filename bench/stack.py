"""The processes a benchmark measures, on loopback: Redis, sekmet-fhir, the API, the bare reference app, a worker.

Each is a real child process started the way an operator would start it; peak memory is read from /proc.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SEKMET = ROOT / ".venv-sekmet" / "bin" / "sekmet"


class Child:
    """A child process whose output is drained on a thread; `ready` blocks until a line contains a marker."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(
            list(command), env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.tail: list[str] = []
        self._marker: str | None = None
        self._seen = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.tail = [*self.tail[-20:], line]
            if self._marker is not None and self._marker in line:
                self._seen.set()
        self._seen.set()  # it exited: `ready` reports that instead of waiting out its timeout

    def ready(self, marker: str, timeout: float = 60) -> Child:
        self._marker = marker
        if any(marker in line for line in self.tail):
            return self
        if not self._seen.wait(timeout) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError(f"{self.process.args} not ready:\n{''.join(self.tail)}")
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_http(url: str, timeout: float = 30) -> None:
    """For servers that print nothing when they are up: poll until the URL answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def clean_env(**settings: str) -> dict[str, str]:
    """The caller's environment without any TOH_ setting, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOH_")}
    env.update(settings)
    return env


def sekmet(scratch: Path, port: int) -> tuple[Child, str]:
    base = f"http://127.0.0.1:{port}/fhir"
    config = scratch / "sekmet.yaml"
    config.write_text(
        f"base_url: {base}\nhost: 127.0.0.1\nport: {port}\ndata_dir: {scratch / 'sekmet'}\nsimulator: {{enabled: false}}\n"
    )
    return Child([str(SEKMET), "serve", "-c", str(config)], os.environ).ready("startup complete"), base


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by every thread of a process (schedstat: nanoseconds on the CPU)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size of one process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")
