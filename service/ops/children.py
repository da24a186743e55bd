"""The supervisor's children: stopped the same way, and waited for until they answer over HTTP."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx

__all__ = ["StartFailed", "stop_child", "wait_until_answers"]


class StartFailed(RuntimeError):
    """A child did not come up; the message says which and where to look."""


def stop_child(process: subprocess.Popen[Any], timeout: float) -> bool:
    """SIGTERM (servers flush and drain), then SIGKILL if it does not exit in time; True when it had to be killed."""
    if process.poll() is not None:
        return False
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True
    return False


def wait_until_answers(
    url: str,
    accept: Callable[[httpx.Response], bool],
    *,
    timeout: float,
    gone: Callable[[], str | None],
    what: str,
    interval: float = 0.25,
) -> None:
    """Poll `url` until `accept` takes its answer. `gone` names a child that exited meanwhile (the start fails at
    once); past `timeout` the start fails too."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as http:
        while time.monotonic() < deadline:
            exited = gone()
            if exited:
                raise StartFailed(exited)
            try:
                if accept(http.get(url)):
                    return
            except (httpx.TransportError, ValueError):
                pass
            time.sleep(interval)  # polling children that are starting: no event tells when they listen
    raise StartFailed(f"{what} did not answer within {timeout:.0f} s: see {url}")
