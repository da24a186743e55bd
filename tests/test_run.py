"""`toh-cds run` as `make run` starts it, with nothing set: the whole loop on embedded defaults (Redis, FHIR server,
demo cohort, dev issuer), ready in minutes, nothing left after Ctrl-C, and its data reused by the next start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.fhir.writeback import risk_assessment_id
from service.ops.redis_server import free_port
from tests.processes import LoggedProcess, descendants, event_of
from tests.support.session import ROOT
from tests.waiting import eventually

pytestmark = pytest.mark.slow

TOH_CDS = ROOT / ".venv" / "bin" / "toh-cds"
FIRST_HOUR_SECONDS = 180  # acceptance: the loop is complete within 3 minutes on this machine


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Run:
    """One `toh-cds run` on its own ports and data directory (the defaults 8080 and 8090 may be taken here)."""

    def __init__(self, data_dir: Path) -> None:
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("TOH_")}
        self.api_port, self.fhir_port = free_port(), free_port()
        self.env.update(TOH_API_PORT=str(self.api_port), TOH_EMBEDDED_FHIR_PORT=str(self.fhir_port),
                        TOH_DATA_DIR=str(data_dir))  # fmt: skip
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.fhir = f"http://127.0.0.1:{self.fhir_port}/fhir"
        self.supervisor: LoggedProcess | None = None

    def start(self) -> LoggedProcess:
        self.supervisor = LoggedProcess([str(TOH_CDS), "run"], env=self.env, cwd=ROOT)
        self.supervisor.wait_for('"run.ready"', timeout=FIRST_HOUR_SECONDS)
        return self.supervisor

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(TOH_CDS), *args], env=self.env, capture_output=True, text=True, timeout=60)

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    started = Run(tmp_path / "data")
    yield started
    started.stop()


def risk_assessment(run: Run, patient: str) -> dict[str, object] | None:
    response = httpx.get(f"{run.fhir}/RiskAssessment/{risk_assessment_id(patient)}", timeout=10)
    return response.json() if response.status_code == 200 else None


def test_make_run_does_the_main_job_on_embedded_defaults(run: Run, tmp_path: Path) -> None:
    began = time.monotonic()
    supervisor = run.start()
    ready = httpx.get(f"{run.api}/readyz", timeout=10).json()
    assert ready["status"] == "pass", ready
    assert {"redis:responseTime", "celery:workers", "fhir:metadata"} <= set(ready["checks"]), ready["checks"]
    stored = eventually(lambda: risk_assessment(run, "toh-seed-stage-2"), lambda found: found is not None, 120)
    assert stored is not None and stored["subject"] == {"reference": "Patient/toh-seed-stage-2"}
    hooked = run.cli("hook", "--patient", "toh-seed-stage-2")
    assert hooked.returncode == 0, hooked.stderr
    topics = [card["source"]["topic"]["code"] for card in json.loads(hooked.stdout)["cards"]]
    assert any(topic.startswith("toh-") for topic in topics), topics
    case_page = httpx.get(f"{run.api}/app/demo/toh-seed-stage-2", timeout=30)  # the case view's demo mode
    assert case_page.status_code == 200 and "Right hip pain" in case_page.text
    print(f"first start to a RiskAssessment and a TOH card: {time.monotonic() - began:.0f} s")  # noqa: T201
    assert time.monotonic() - began < FIRST_HOUR_SECONDS

    keys = tmp_path / "data" / "keys"
    assert {path.name: path.stat().st_mode & 0o777 for path in keys.iterdir()} == {
        "dev-issuer.pem": 0o600,
        "notify-token": 0o600,
    }
    lines = "\n".join(supervisor.lines)
    assert '"run.demo_seeded"' in lines and "notify-token" not in lines
    family = descendants(supervisor.process.pid)
    assert len(family) >= 5  # redis-server, sekmet, API, worker and its pool processes
    os.killpg(supervisor.process.pid, signal.SIGINT)  # what Ctrl-C on the terminal sends
    assert supervisor.process.wait(30) == 0
    assert [pid for pid in family if alive(pid)] == []
    assert not (tmp_path / "data" / "run.json").exists()

    again = run.start()  # the same data: no second seeding, and a clean stop is not a Redis restart
    lines = "\n".join(again.lines)
    assert '"run.demo_seeded"' not in lines
    assert '"redis.restarted"' not in lines
    assert risk_assessment(run, "toh-seed-stage-2") is not None


def test_run_stops_everything_when_a_child_dies(run: Run) -> None:
    supervisor = run.start()
    family = descendants(supervisor.process.pid)
    worker_line = supervisor.wait_for(lambda line: '"run.child_started"' in line and '"worker"' in line)
    worker_pid = int(event_of(worker_line)["pid"])

    os.kill(worker_pid, signal.SIGKILL)
    assert supervisor.process.wait(30) == 1
    supervisor.wait_for('"run.child_exited"')
    assert [pid for pid in family if alive(pid)] == []
