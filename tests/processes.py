"""Real child processes for tests: start, wait for a line they print, stop, and keep what they said."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

# What uvicorn prints once its socket listens. "Application startup complete" comes a few ms earlier, before the
# bind: a client that starts on it can be refused (CI, 2026-12-01: schemathesis could not load /openapi.json).
LISTENING = "Uvicorn running on"


def event_of(line: str) -> dict[str, Any]:
    """A JSON log line as its event ({} for any other line: uvicorn's own before logging is set up, a banner)."""
    if not line.startswith("{"):
        return {}
    try:
        event = json.loads(line)
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


class LoggedProcess:
    """A child whose combined output is kept line by line; `wait_for` blocks until a line matches."""

    started: ClassVar[list[LoggedProcess]] = []  # every one of the session, for the log scan

    def __init__(self, command: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None):
        LoggedProcess.started.append(self)
        self.command = list(command)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            self.command,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        self.process.stdout.close()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[str], bool] | str, timeout: float = 30.0) -> str:
        match = (lambda line: predicate in line) if isinstance(predicate, str) else predicate
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if match(line):
                        return line
                seen = len(self.lines)
                if not self._reader.is_alive():
                    raise AssertionError(f"{self.command[0]} exited ({self.process.poll()}): {self.tail()}")
                if not self._changed.wait(timeout):
                    raise AssertionError(f"timed out waiting for {predicate!r} from {self.command}: {self.tail()}")

    def tail(self, count: int = 15) -> str:
        return "\n".join(self.lines[-count:])

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._reader.join(5)
        return self.process.returncode
