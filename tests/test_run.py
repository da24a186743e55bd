"""`toh-cds run` (what `make run` starts): everything up with no TOH_ variable, and nothing left after Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.ops.redis_server import free_port
from tests.processes import LISTENING, LoggedProcess, descendants
from tests.waiting import eventually

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[LoggedProcess, str]]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TOH_")}
    port = free_port()
    env.update(TOH_API_PORT=str(port), TOH_DATA_DIR=str(tmp_path / "data"))  # the default 8080 may be taken
    supervisor = LoggedProcess([sys.executable, "-m", "service.cli", "run"], env=env)
    supervisor.wait_for('"worker.ready"', timeout=60)
    supervisor.wait_for(LISTENING, timeout=60)
    yield supervisor, f"http://127.0.0.1:{port}"
    supervisor.stop()


def test_run_is_ready_without_configuration_and_ctrl_c_leaves_nothing(
    service: tuple[LoggedProcess, str], tmp_path: Path
) -> None:
    supervisor, base_url = service
    ready = eventually(lambda: httpx.get(f"{base_url}/readyz", timeout=10), lambda r: r.json()["status"] == "pass")
    assert ready.status_code == 200
    assert '"run.embedded_redis"' in "\n".join(supervisor.lines)

    family = descendants(supervisor.process.pid)
    assert len(family) >= 4  # redis-server, API, worker and its pool processes

    os.killpg(supervisor.process.pid, signal.SIGINT)  # what Ctrl-C on the terminal sends
    assert supervisor.process.wait(30) == 0
    supervisor.wait_for('"run.stopped"')
    assert [pid for pid in family if alive(pid)] == []
    assert any(path.name.startswith("appendonly") for path in (tmp_path / "data" / "redis").iterdir())


def test_run_stops_everything_when_a_child_dies(service: tuple[LoggedProcess, str]) -> None:
    supervisor, _ = service
    family = descendants(supervisor.process.pid)
    worker_line = supervisor.wait_for(lambda line: '"run.child_started"' in line and '"worker"' in line)
    worker_pid = int(worker_line.split('"pid": ')[1].split(",")[0])

    os.kill(worker_pid, signal.SIGKILL)
    assert supervisor.process.wait(30) == 1
    supervisor.wait_for('"run.child_exited"')
    assert [pid for pid in family if alive(pid)] == []
