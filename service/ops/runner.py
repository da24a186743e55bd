"""`toh-cds run`: the whole service on one machine, as children of one supervisor.

Starts an embedded Redis (when TOH_REDIS_URL is unset), the API and one Celery worker; when TOH_FHIR_BASE_URL is
unset too, an embedded FHIR server with a demo cohort, subscribed, and a dev CDS issuer (service/ops/demo.py). Each
child runs in its own session so that Ctrl-C reaches only the supervisor, which then stops them in order: API and
worker first (they drain), the FHIR server, Redis last (it flushes its AOF). Children also get SIGTERM if the
supervisor itself dies. "Ready" is logged once /readyz passes, that is once every child answers.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis as redis_client
import structlog

from service.fhir.writeback import risk_assessment_id
from service.ops import demo
from service.ops.children import StartFailed, stop_child, wait_until_answers
from service.ops.fhir_server import EmbeddedFhir, sekmet_command
from service.ops.redis_server import RedisServer
from service.ops.run_info import RunInfo
from service.pipeline.store import RUN_ID_KEY
from service.settings import Settings

__all__ = ["run_all"]

log = structlog.get_logger("toh.run")

PR_SET_PDEATHSIG = 1
HANDLED = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}
READY_TIMEOUT_SECONDS = 120.0


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
        if stop_child(self.process, timeout):
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


def _wait_until_ready(api: str, watched: Mapping[str, subprocess.Popen[Any]]) -> None:
    """Until /readyz passes (Redis, workers and FHIR answer); a child that exits meanwhile fails the start."""

    def gone() -> str | None:
        dead = [name for name, process in watched.items() if process.poll() is not None]
        return f"{', '.join(dead)} exited during start-up (see the lines above)" if dead else None

    # "warn" is not ready: a worker or the FHIR server does not answer yet.
    wait_until_answers(f"{api}/readyz", lambda answer: answer.json().get("status") == "pass",
                       timeout=READY_TIMEOUT_SECONDS, gone=gone, what="the service")  # fmt: skip


def _demo_env(settings: Settings, fhir_base: str, issuer: demo.DevIssuer, token: str) -> dict[str, str]:
    """The settings the children get for the demo loop, added to (never replacing) what is configured."""
    issuers = {name: config.model_dump(exclude_none=True) for name, config in settings.cds_issuers.items()}
    return {
        "TOH_FHIR_BASE_URL": fhir_base,
        "TOH_NOTIFY_TOKEN": token,
        "TOH_CDS_ISSUERS": json.dumps(issuers | issuer.trusted_as(fhir_base)),
        "TOH_FHIR_SERVER_ALLOWLIST": json.dumps([*settings.fhir_server_allowlist, fhir_base]),
        "TOH_PUBLIC_BASE_URL": settings.public_base_url,
        "TOH_APP_DEMO": "true",  # the case view's demo pages, for this loop only
    }


def _banner(info: RunInfo, patients: int | None) -> str:
    lines = ["", "toh-cds is running", f"  API          {info.api}   (/readyz, /metrics, /cds-services)"]
    if info.fhir_base:
        cohort = f"demo cohort of {patients} patients" if patients else "demo cohort"
        lines.append(f"  FHIR server  {info.fhir_base}   (embedded, {cohort})")
    lines += [f"  Redis        {info.redis_url}", "", "Try:",
              "  .venv/bin/toh-cds hook --patient toh-seed-stage-2"]  # fmt: skip
    if info.fhir_base:
        lines.append(f"  curl -s {info.fhir_base}/RiskAssessment/{risk_assessment_id('toh-seed-stage-2')}")
        lines.append(f"  open {info.api}/app/demo/toh-seed-stage-2 in a browser: the case timeline")
    lines += ["  .venv/bin/toh-cds dead-letters", "", "Ctrl-C stops everything.", ""]
    return "\n".join(lines)


def _forget_run_id(url: str) -> None:
    """On a clean stop no consumer is connected when Redis stops, so no task can be lost in its last instant: the
    next start is not a Redis restart to recover from (workers/restarts.py), and must not re-query the server."""
    try:
        with redis_client.Redis.from_url(url, socket_timeout=2) as store:
            store.delete(RUN_ID_KEY)
    except (redis_client.RedisError, OSError):
        pass


def run_all(settings: Settings, on_ready: Callable[[str], None] | None = None) -> int:
    """Run until Ctrl-C/SIGTERM or until a child dies; returns the exit code. `on_ready` gets a short banner of what
    runs where and what to try (the CLI shows it on a terminal), after the `run.ready` log line."""
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    setup = _child_setup()
    env = dict(os.environ)
    data_dir = settings.data_dir.resolve()
    api = f"http://{'127.0.0.1' if settings.api_host in ('0.0.0.0', '::') else settings.api_host}:{settings.api_port}"
    redis: RedisServer | None = None
    fhir: EmbeddedFhir | None = None
    children: list[Child] = []
    exit_code, clean = 0, False
    try:
        if settings.redis_url is None:
            redis = RedisServer(data_dir / "redis", preexec_fn=setup).start()
            env["TOH_REDIS_URL"] = redis.url
            log.info("run.embedded_redis", url=redis.url, data_dir=str(redis.data_dir))
        issuer, token = None, None
        if settings.fhir_base_url is None:
            issuer, token = demo.dev_issuer(data_dir / "keys"), demo.notify_token(data_dir / "keys")
            fhir = EmbeddedFhir(data_dir / "fhir", settings.embedded_fhir_port,
                                sekmet_command(settings.embedded_fhir_command)).start(setup)  # fmt: skip
            env.update(_demo_env(settings, fhir.base_url, issuer, token))
            log.info("run.embedded_fhir", url=fhir.base_url, data_dir=str(fhir.data_dir))
        cli = [sys.executable, "-m", "service.cli"]
        children.append(_spawn("api", [*cli, "api"], env, setup))
        children.append(_spawn("worker", [*cli, "worker"], env, setup))
        watched: dict[str, subprocess.Popen[Any]] = {child.name: child.process for child in children}
        if redis is not None and redis.process is not None:
            watched["redis"] = redis.process
        if fhir is not None and fhir.process is not None:
            watched["fhir"] = fhir.process
        _wait_until_ready(api, watched)
        patients = None
        if fhir is not None and token is not None:
            mark = fhir.data_dir / "seeded"
            if not mark.exists():
                patients = demo.seed(fhir.base_url, f"{api}/fhir/notifications", token, datetime.now(UTC), mark)
                log.info("run.demo_seeded", patients=patients)
        info = RunInfo(os.getpid(), api, env.get("TOH_REDIS_URL", settings.effective_redis_url),
                       fhir.base_url if fhir else None, issuer.issuer if issuer else None,
                       issuer.kid if issuer else None, str(issuer.private_key_file) if issuer else None)  # fmt: skip
        info.write(data_dir)
        log.info("run.ready", api=api, fhir=info.fhir_base, redis=info.redis_url.split("@")[-1],
                 try_first="toh-cds hook --patient toh-seed-stage-2")  # fmt: skip
        if on_ready is not None:
            on_ready(_banner(info, patients))
        while True:
            received = signal.sigwaitinfo(HANDLED)
            if received.si_signo != signal.SIGCHLD:
                log.info("run.stopping", signal=signal.Signals(received.si_signo).name)
                clean = True
                break
            dead = {name: process.returncode for name, process in watched.items() if process.poll() is not None}
            if dead:
                for name, code in dead.items():
                    log.error("run.child_exited", child=name, code=code)
                exit_code = 1
                break
    except (StartFailed, RuntimeError, OSError) as exc:
        log.error("run.start_failed", error=str(exc))
        exit_code = 1
    finally:
        RunInfo.remove(data_dir)
        for child in reversed(children):
            child.stop(settings.shutdown_timeout)
        if fhir is not None:
            fhir.stop(settings.shutdown_timeout)
        if redis is not None:
            if clean:
                _forget_run_id(redis.url)
            redis.stop(settings.shutdown_timeout)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
        log.info("run.stopped", code=exit_code)
    return exit_code
