"""`toh-cds backfill` against sekmet-fhir's Bulk Data `$export` and real workers: 300 generated patients, the
backfill killed (SIGKILL) once a third are queued and started again, ends with exactly one RiskAssessment version
for each positive patient and none for the others."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from fixtures.population import Member, population
from service.fhir.writeback import risk_assessment_id
from service.pipeline.backfill import job_id
from service.pipeline.store import backfill_key
from tests.processes import LoggedProcess
from tests.support.session import ROOT, SESSION_REDIS, service_env, start_sekmet
from tests.waiting import eventually

TOH_CDS = ROOT / ".venv" / "bin" / "toh-cds"
PATIENTS = 300


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[Member]]]:
    """A FHIR server of its own holding the population (the export reads the whole server)."""
    process, base = start_sekmet(tmp_path_factory.mktemp("backfill") / "sekmet")
    members = list(population(PATIENTS, seed=7))
    entries = [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
               for member in members for r in member.resources]  # fmt: skip
    with httpx.Client(timeout=120) as http:
        for start in range(0, len(entries), 500):
            bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries[start : start + 500]}
            assert http.post(base, json=bundle).status_code == 200
    yield base, members
    process.stop()


def backfill_command(base: str) -> list[str]:
    return [str(TOH_CDS), "backfill", "--fhir-base", base, "--max-rps", "60", "--batch", "10", "--timeout", "300"]


def test_a_killed_backfill_continues_and_writes_each_assessment_once(
    hospital: tuple[str, list[Member]], worker: LoggedProcess, tmp_path: Path
) -> None:
    base, members = hospital
    positives = {m.patient_id for m in members if m.positive}
    assert 5 <= len(positives) < PATIENTS // 2  # the population is mostly negative, with some of each scenario
    store = redis.Redis.from_url(SESSION_REDIS.url)
    queued = backfill_key(job_id(base, None, None), "queued")
    env = service_env(TOH_LOG_JSON="true")

    first = LoggedProcess(backfill_command(base), env=env)
    eventually(lambda: int(store.scard(queued)), lambda n: n >= PATIENTS // 3, timeout=120)
    os.kill(first.process.pid, signal.SIGKILL)
    first.stop()
    assert int(store.scard(queued)) < PATIENTS, "killed too late to test a restart"

    second = subprocess.run(backfill_command(base), env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert (
        second.stdout.strip()
        .splitlines()[-1]
        .startswith(f"backfill: {PATIENTS} patients read, {PATIENTS} screened, {len(positives)} written back, 0 failed")
    ), second.stdout + second.stderr[-2000:]
    assert "patients screened" in second.stderr and "cards: toh-consider" in second.stderr  # the final table

    with httpx.Client(timeout=30) as http:
        found = http.get(f"{base}/RiskAssessment", params={"_count": 1000}).json()
        subjects = [e["resource"]["subject"]["reference"] for e in found.get("entry", [])]
        assert sorted(subjects) == sorted(f"Patient/{p}" for p in positives)  # none for the others
        for patient in positives:
            history = http.get(f"{base}/RiskAssessment/{risk_assessment_id(patient)}/_history").json()
            assert history["total"] == 1, patient  # written once, across the kill and the restart
    store.close()


def test_a_dry_run_counts_and_queues_nothing(hospital: tuple[str, list[Member]]) -> None:
    base, _ = hospital
    result = subprocess.run([*backfill_command(base), "--dry-run", "--since", "2000-01-01T00:00:00Z"],
                            env=service_env(), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1].startswith(f"backfill: {PATIENTS} patients read, 0 screened")
