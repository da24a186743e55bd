"""The test session's peers, shared by conftest.py and the tests that start their own processes: one Redis server
and one data directory for the session, the environment a service process gets, and sekmet-fhir."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from service.ops.redis_server import RedisServer, free_port
from tests.processes import LISTENING, LoggedProcess

__all__ = ["ROOT", "SEKMET", "SESSION_DIR", "SESSION_REDIS", "service_env", "start_sekmet"]

ROOT = Path(__file__).resolve().parents[2]
SEKMET = ROOT / ".venv-sekmet" / "bin" / "sekmet"
SESSION_DIR = Path(tempfile.mkdtemp(prefix="toh-tests-"))
SESSION_REDIS = RedisServer(SESSION_DIR / "redis")  # started by conftest.py's pytest_configure


def service_env(**overrides: str) -> dict[str, str]:
    """The environment of a service process (API, worker, CLI): the session's Redis and data, no TOH_* of the shell."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TOH_")}
    env.update(TOH_REDIS_URL=SESSION_REDIS.url, TOH_DATA_DIR=str(SESSION_DIR / "data"))
    env.update(overrides)
    return env


def start_sekmet(
    workdir: Path, notify_method: str = "post-endpoint", extra_yaml: str = ""
) -> tuple[LoggedProcess, str]:
    """sekmet-fhir on a free port, in its own venv (`make setup` installs it); returns it and its FHIR base URL."""
    assert SEKMET.exists(), f"{SEKMET} missing: run `make setup`"
    port = free_port()
    workdir.mkdir(parents=True)
    base_url = f"http://127.0.0.1:{port}/fhir"
    (workdir / "settings.yaml").write_text(
        f"base_url: {base_url}\nhost: 127.0.0.1\nport: {port}\ndata_dir: {workdir / 'data'}\n"
        f"simulator: {{enabled: false}}\nsubscriptions: {{notify_method: {notify_method}}}\n" + extra_yaml
    )
    process = LoggedProcess([str(SEKMET), "serve", "-c", str(workdir / "settings.yaml")], cwd=workdir)
    process.wait_for(LISTENING)
    return process, base_url
