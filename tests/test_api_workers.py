"""`toh-cds api --workers 2`: two processes behind one port, /metrics sums what both served (prometheus_client's
multiprocess mode), a process that dies is replaced without losing the counts, and a stop leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import httpx

from service.ops.redis_server import free_port
from tests.processes import LoggedProcess, descendants, event_of
from tests.support.session import ROOT, service_env

TOH_CDS = ROOT / ".venv" / "bin" / "toh-cds"
REQUESTS = 60


def served_by(api: LoggedProcess, route: str) -> list[int]:
    """The pid of the process that logged each request to `route`."""
    events = [event_of(line) for line in api.lines]
    return [event["process"] for event in events if event.get("event") == "http.request" and event["route"] == route]


def running(pid: int) -> bool:
    """Alive, not a zombie (the process killed below stays one until the supervisor's parent is reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def startups(api: LoggedProcess) -> int:
    return sum("Application startup complete" in line for line in api.lines)


def requests_counted(base: str, route: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    pattern = rf'^toh_http_requests_total\{{method="GET",route="{re.escape(route)}",status="200"\}} (\S+)$'
    return sum(float(match) for match in re.findall(pattern, text, re.MULTILINE))


def test_two_processes_share_the_port_and_their_metrics(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left by an earlier run")  # must be wiped, or scrapes fail
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = LoggedProcess(
        [str(TOH_CDS), "api", "--workers", "2", "--port", str(port)],
        env=service_env(TOH_LOG_JSON="true", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)),
    )
    try:
        api.wait_for(lambda _: startups(api) == 2)
        assert not (metrics_dir / "counter_999999.db").exists()

        for _ in range(REQUESTS):  # a new connection each: the kernel hands them to either process
            assert httpx.get(f"{base}/cds-services", timeout=10).status_code == 200
        api.wait_for(lambda _: len(served_by(api, "/cds-services")) == REQUESTS)
        serving = set(served_by(api, "/cds-services"))
        assert len(serving) == 2, f"one process served all {REQUESTS}: {serving}"
        assert requests_counted(base, "/cds-services") == REQUESTS  # whichever process answers the scrape

        os.kill(min(serving), signal.SIGKILL)  # uvicorn's supervisor starts another; the dead one's counts stay
        api.wait_for(lambda _: startups(api) == 3, timeout=60)
        assert httpx.get(f"{base}/cds-services", timeout=10).status_code == 200
        assert requests_counted(base, "/cds-services") == REQUESTS + 1
    finally:
        family = descendants(api.process.pid)
        api.send_signal(signal.SIGTERM)
        assert api.stop() == 0, api.tail()
    assert not [pid for pid in family if running(pid)], "an API process outlived the stop"
    assert "Traceback" not in "\n".join(api.lines), api.tail(40)


def test_one_process_keeps_no_metrics_files(tmp_path: Path) -> None:
    """A single process counts in memory: no multiprocess directory is made or needed."""
    port = free_port()
    env = service_env(TOH_LOG_JSON="true", TMPDIR=str(tmp_path))
    api = LoggedProcess([str(TOH_CDS), "api", "--port", str(port)], env=env)
    try:
        api.wait_for("Application startup complete")
        assert httpx.get(f"http://127.0.0.1:{port}/cds-services", timeout=10).status_code == 200
        assert requests_counted(f"http://127.0.0.1:{port}", "/cds-services") == 1
        assert list(tmp_path.iterdir()) == []
    finally:
        api.stop()
