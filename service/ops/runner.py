"""`toh-cds run`: the whole service on one machine, as children of one supervisor.

Starts an embedded Redis (when TOH_REDIS_URL is unset), the API and one Celery worker, each in its own
session so that Ctrl-C reaches only the supervisor, which then stops them in order: API and worker first
(they drain), Redis last (it flushes its AOF). Children also get SIGTERM if the supervisor itself dies.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from service.ops.redis_server import RedisServer
from service.settings import Settings

__all__ = ["run_all"]

log = structlog.get_logger("toh.run")

PR_SET_PDEATHSIG = 1
HANDLED = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}


def _child_setup() -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

    def setup() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
        if libc is not None:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return setup


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]

    def stop(self, timeout: float) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("run.child_killed", child=self.name, after_seconds=timeout)
        # Sweep the child's whole session: a worker killed outright leaves its pool processes behind.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


def _spawn(name: str, command: list[str], env: dict[str, str], setup: Callable[[], None]) -> Child:
    process = subprocess.Popen(command, env=env, preexec_fn=setup, start_new_session=True)
    log.info("run.child_started", child=name, pid=process.pid)
    return Child(name, process)


def run_all(settings: Settings) -> int:
    """Run until Ctrl-C/SIGTERM or until a child dies; returns the exit code."""
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    setup = _child_setup()
    env = dict(os.environ)
    redis: RedisServer | None = None
    children: list[Child] = []
    exit_code = 0
    try:
        if settings.redis_url is None:
            redis = RedisServer(settings.data_dir.resolve() / "redis", preexec_fn=setup).start()
            env["TOH_REDIS_URL"] = redis.url
            log.info("run.embedded_redis", url=redis.url, data_dir=str(redis.data_dir))
        cli = [sys.executable, "-m", "service.cli"]
        children.append(_spawn("api", [*cli, "api"], env, setup))
        children.append(_spawn("worker", [*cli, "worker"], env, setup))
        log.info("run.ready", api=f"http://{settings.api_host}:{settings.api_port}")
        watched: dict[str, subprocess.Popen[Any]] = {child.name: child.process for child in children}
        if redis is not None and redis.process is not None:
            watched["redis"] = redis.process
        while True:
            received = signal.sigwaitinfo(HANDLED)
            if received.si_signo != signal.SIGCHLD:
                log.info("run.stopping", signal=signal.Signals(received.si_signo).name)
                break
            dead = {name: process.returncode for name, process in watched.items() if process.poll() is not None}
            if dead:
                for name, code in dead.items():
                    log.error("run.child_exited", child=name, code=code)
                exit_code = 1
                break
    finally:
        for child in reversed(children):
            child.stop(settings.shutdown_timeout)
        if redis is not None:
            redis.stop(settings.shutdown_timeout)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
        log.info("run.stopped", code=exit_code)
    return exit_code
