"""Session-wide real peers: a Redis server (started before any service module reads settings), a Celery
worker and sekmet-fhir, each on a free loopback port."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.ops.redis_server import RedisServer
from service.settings import get_settings
from tests import figures
from tests.log_scan import Collector, findings
from tests.processes import LoggedProcess
from tests.support.session import SESSION_DIR, SESSION_REDIS, service_env, start_sekmet

_logged = Collector()


def pytest_configure(config: pytest.Config) -> None:
    """The session's environment, before any test runs: no module reads settings when it is imported (service.main
    builds its app on first use), so the TOH_* variables of the shell never leak into a test."""
    for key in [key for key in os.environ if key.startswith("TOH_")]:
        del os.environ[key]
    os.environ["TOH_REDIS_URL"] = SESSION_REDIS.url
    os.environ["TOH_DATA_DIR"] = str(SESSION_DIR / "data")
    get_settings.cache_clear()
    SESSION_REDIS.start()
    logging.getLogger().addHandler(_logged)
    _reduce_randomly_seeds(config)


def _reduce_randomly_seeds(config: pytest.Config) -> None:
    """thinc (spaCy's, for the report reader) registers a pytest-randomly seeder that hands NumPy the seed plus a
    per-test offset unreduced, which NumPy refuses above 2**32 - 1: reseed it with the seed reduced, as
    pytest-randomly does for NumPy itself. Only when pytest-randomly runs (a bare `pytest`; `make test` fixes order)."""
    if not config.pluginmanager.hasplugin("randomly"):
        return
    from importlib.metadata import entry_points

    import pytest_randomly

    seeders = [point.load() for point in entry_points(group="pytest_randomly.random_seeder")]
    pytest_randomly.entrypoint_reseeds = [lambda seed, reseed=reseed: reseed(seed % 2**32) for reseed in seeders]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Scan everything our code logged in this session (in-process and every API, worker and CLI process) for PHI
    and secrets; any finding fails the session."""
    ours = [p for p in LoggedProcess.started if any("service.cli" in part or "toh-cds" in part for part in p.command)]
    lines = _logged.lines + [line for process in ours for line in process.lines]
    problems = findings(lines)
    report = session.config.get_terminal_writer()
    report.line(
        f"log scan: {len(lines)} lines from {len(ours)} service processes and this one, {len(problems)} findings"
    )
    for problem in problems[:20]:
        report.line(f"  PHI or secret in the logs: {problem}", red=True)
    if problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if figures.RECORDED:
        terminalreporter.section("figures measured by the tests")
        for line in figures.RECORDED:
            terminalreporter.line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    SESSION_REDIS.stop()
    shutil.rmtree(SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return SESSION_REDIS.url


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own, for tests that stop it or need it empty."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def worker() -> Iterator[LoggedProcess]:
    """A real Celery worker (prefork, two processes) on the session Redis."""
    process = LoggedProcess(
        [sys.executable, "-m", "service.cli", "worker"], env=service_env(TOH_WORKER_CONCURRENCY="2")
    )
    process.wait_for('"worker.ready"')
    yield process
    process.stop()


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[str]:
    process, base_url = start_sekmet(SESSION_DIR / "sekmet")
    yield base_url
    process.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
