"""The whole notification pipeline as real processes: sekmet-fhir, the API under uvicorn, one Celery worker."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from service.ops.redis_server import RedisServer, free_port
from service.pipeline.store import CLAIM_PREFIX, SCREENINGS_KEY, TASK_OUTCOMES_KEY, due_key
from tests.ingest.faulty_fhir import FaultyFhir
from tests.processes import LISTENING, LoggedProcess
from tests.support.session import service_env, start_sekmet

TOKEN = "notify-secret-for-tests"


@dataclass
class Pipeline:
    fhir: str  # what the workers use as TOH_FHIR_BASE_URL (sekmet, or a proxy in front of it)
    sekmet: str
    api: str
    env: dict[str, str]
    api_log: LoggedProcess
    worker: LoggedProcess
    redis: RedisServer

    def screenings(self) -> int:
        with redis.Redis.from_url(self.redis.url) as store:
            return int(store.hget(SCREENINGS_KEY, "screened") or 0)

    def waiting(self) -> int:
        """Patients due, or in the batch of a task, and not screened yet: 0 once all accepted events are done."""
        with redis.Redis.from_url(self.redis.url) as store:
            claimed = sum(int(store.scard(claim)) for claim in store.scan_iter(f"{CLAIM_PREFIX}*"))
            return int(store.scard(due_key(self.fhir))) + claimed

    def tasks_done(self, task: str) -> int:
        with redis.Redis.from_url(self.redis.url) as store:
            return int(store.hget(TASK_OUTCOMES_KEY, f"{task}|success") or 0)


@contextmanager
def pipeline(
    workdir: Path,
    *,
    notify_method: str = "post-endpoint",
    fhir_override: str | None = None,
    sekmet_yaml: str = "",
    issuers: dict[str, dict[str, Any]] | None = None,
    **settings: str,
) -> Iterator[Pipeline]:
    """`issuers` (TOH_CDS_ISSUERS) are bound to the pipeline's FHIR server, as one EHR's issuer would be."""
    with ExitStack() as started:  # whatever started is stopped, also when a later step fails
        sekmet, sekmet_base = start_sekmet(workdir / "sekmet", notify_method, sekmet_yaml)
        started.callback(sekmet.stop)
        redis = RedisServer(workdir / "redis").start()  # its own: subscription state and dedup keys stay here
        started.callback(redis.stop)
        port = free_port()
        api_base = f"http://127.0.0.1:{port}"
        fhir = fhir_override or sekmet_base
        if issuers is not None:
            bound = {issuer: config | {"fhir_servers": [fhir]} for issuer, config in issuers.items()}
            settings = {**settings, "TOH_CDS_ISSUERS": json.dumps(bound)}
        env = service_env(**{"TOH_FHIR_BASE_URL": fhir, "TOH_NOTIFY_TOKEN": TOKEN, "TOH_PUBLIC_BASE_URL": api_base,
                             "TOH_COALESCE_SECONDS": "0.3", "TOH_GAP_GRACE_SECONDS": "1", "TOH_REDIS_URL": redis.url}
                           | settings)  # fmt: skip
        api = LoggedProcess([sys.executable, "-m", "service.cli", "api", "--port", str(port)], env=env)
        started.callback(api.stop)
        worker = LoggedProcess([sys.executable, "-m", "service.cli", "worker"], env=env)
        started.callback(worker.stop)
        api.wait_for(LISTENING)
        worker.wait_for('"worker.ready"')
        yield Pipeline(fhir, sekmet_base, api_base, env, api, worker, redis)


@contextmanager
def behind_a_proxy(workdir: Path, **settings: str) -> Iterator[tuple[Pipeline, FaultyFhir]]:
    """The pipeline with its workers reading and writing through a FaultyFhir proxy in front of a sekmet-fhir of its
    own (the proxy needs sekmet's address, the workers the proxy's); `Pipeline.sekmet` is that upstream."""
    with ExitStack() as started:
        sekmet, sekmet_base = start_sekmet(workdir / "upstream")
        started.callback(sekmet.stop)
        proxy = FaultyFhir(sekmet_base)
        started.callback(proxy.close)
        with pipeline(workdir / "stack", fhir_override=proxy.url, **settings) as running:
            running.sekmet = sekmet_base
            yield running, proxy


def as_put_transaction(resources: list[dict[str, Any]]) -> str:
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources
    ]
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})
