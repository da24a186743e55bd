"""A population backfill: every patient of a FHIR server (or Group) screened once, over Bulk Data `$export`.

The export's NDJSON files stream into Redis, each resource filed under its patient (a hash per patient, keyed by
Type/id, so a file read twice files nothing twice); this process holds one pipeline of lines at a time. Then the
patients go to the workers in batches (`toh.backfill_screen`, the same screening and write-back as every other
screening), at most `pace` a second, and the job waits for them. Its state (status URL, files read, patients
queued and done, counts) lives in Redis under the job's id, which depends on the server, Group and `_since` only:
a killed backfill started again with the same arguments continues where it stopped. A patient is queued again
only if she never was; a message delivered twice finds her done; and a write-back happens once per assessment
change in any case (workers/screen.py), so a restart never writes twice.

A server without `$export` falls back to paging `Patient?_elements=id`: those patients join the due set and the
workers fetch each record themselves, as they do for notifications.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlencode

import orjson
import redis
from celery import Celery

from service.fhir.bulk import BulkExport, ExportFile, ExportGone, Pace
from service.fhir.client import FhirClient
from service.pipeline import due
from service.pipeline.store import backfill_key, backfill_record_key
from service.pipeline.task_names import TaskName
from service.screening.fhir import patient_of
from service.screening.queries import PREFETCH
from service.screening.valuesets import observation_loinc_codes

__all__ = ["EXPORT_TYPES", "Backfill", "Counts", "export_type_filters", "job_id"]

EXPORT_TYPES = sorted({template.split("/")[0].split("?")[0] for template in PREFETCH.values()})
RECORD_SECONDS = 2 * 86400  # a spooled record outlives a stopped job this long, then Redis drops it
SPOOL_BATCH = 500  # resources per Redis pipeline while spooling: the backfill's memory bound
POLL_SECONDS = 0.5


def export_type_filters() -> list[str]:
    """Observations by the LOINC codes the screening reads (the other types are read whole). The query is
    percent-encoded inside the filter: a comma between filters separates them, one within a query must not."""
    codes = ",".join(f"http://loinc.org|{code}" for code in observation_loinc_codes())
    return [f"Observation?{urlencode({'code': codes})}"]


def job_id(fhir_base: str, group: str | None, since: str | None) -> str:
    return hashlib.sha256(f"{fhir_base.rstrip('/')}|{group or ''}|{since or ''}".encode()).hexdigest()[:16]


@dataclass
class Counts:
    """What the job did, for its final table."""

    resources: int = 0
    unassigned: int = 0  # resources about no patient (not screened)
    patients: int = 0
    queued: int = 0
    screened: int = 0
    written_back: int = 0
    failed: int = 0
    topics: dict[str, int] = field(default_factory=dict)
    via: str = "$export"


class Backfill:
    def __init__(
        self,
        store: redis.Redis,
        celery: Celery,
        fhir_base: str,
        *,
        group: str | None = None,
        since: str | None = None,
        pace: Pace | None = None,
        batch: int = 50,
    ) -> None:
        self.store, self.celery = store, celery
        self.fhir_base = fhir_base.rstrip("/")
        self.group, self.since = group, since
        self.job = job_id(fhir_base, group, since)
        self.pace = pace or Pace(0)
        self.batch = batch

    # state ---------------------------------------------------------------------------------------------------
    def _get(self, name: str) -> str | None:
        value = self.store.hget(backfill_key(self.job), name)
        return value.decode() if isinstance(value, bytes) else None

    def _set(self, **values: str) -> None:
        self.store.hset(backfill_key(self.job), mapping=values)

    def _size(self, part: str) -> int:
        return cast(int, self.store.scard(backfill_key(self.job, part)))

    def forget(self) -> None:
        """Start over: the job's state and any records still spooled."""
        for key in self.store.scan_iter(match=backfill_key(self.job) + "*", count=1000):
            self.store.delete(key)

    def counts(self) -> Counts:
        counted = cast(dict[bytes, bytes], self.store.hgetall(backfill_key(self.job, "counts")))
        raw = {k.decode(): int(v) for k, v in counted.items()}
        return Counts(
            resources=int(self._get("resources") or 0),
            unassigned=int(self._get("unassigned") or 0),
            patients=self._size("patients"),
            queued=self._size("queued"),
            screened=raw.get("screened", 0),
            written_back=raw.get("written-back", 0),
            failed=raw.get("failed", 0),
            topics={k.removeprefix("topic:"): v for k, v in raw.items() if k.startswith("topic:")},
            via=self._get("via") or "$export",
        )

    # export --------------------------------------------------------------------------------------------------
    def files(self, export: BulkExport, on_progress: Callable[[str], None]) -> list[ExportFile] | None:
        """The export's files: from the job's state, else from an export kicked off now. None: no $export."""
        saved = self._get("files")
        if saved is not None:
            return [ExportFile(**item) for item in json.loads(saved)]
        status_url = self._get("status_url")
        if status_url is not None:
            try:
                return self._files_of(export, status_url, on_progress)
            except ExportGone:  # expired, or the server restarted: export anew (what was spooled stays valid)
                self.store.hdel(backfill_key(self.job), "status_url")
        status_url = export.kick_off(
            types=EXPORT_TYPES, type_filters=export_type_filters(), group=self.group, since=self.since
        )
        if status_url is None:
            return None
        self._set(status_url=status_url)
        return self._files_of(export, status_url, on_progress)

    def _files_of(self, export: BulkExport, status_url: str, on_progress: Callable[[str], None]) -> list[ExportFile]:
        files = export.wait_for_files(status_url, on_progress)
        self._set(files=json.dumps([item.__dict__ for item in files]))
        return files

    def forget_export(self) -> None:
        """The export's files are gone (they expire): the next run exports again and reads every file again,
        which files nothing twice."""
        self.store.hdel(backfill_key(self.job), "status_url", "files", "files_done")

    def spool(self, export: BulkExport, files: list[ExportFile], on_file: Callable[[ExportFile, int], None]) -> None:
        """Each file not read yet, its resources filed under their patients."""
        done = set(json.loads(self._get("files_done") or "[]"))
        for file in files:
            if file.url in done or file.type == "OperationOutcome":
                continue
            read = self._spool_file(export.resources(file))
            done.add(file.url)
            resources = int(self._get("resources") or 0) + read[0]
            unassigned = int(self._get("unassigned") or 0) + read[1]
            self._set(files_done=json.dumps(sorted(done)), resources=str(resources), unassigned=str(unassigned))
            on_file(file, read[0])

    def _spool_file(self, resources: Iterator[dict[str, Any]]) -> tuple[int, int]:
        read = unassigned = 0
        pipe = self.store.pipeline(transaction=False)
        for resource in resources:
            read += 1
            patient = patient_of(resource)
            if patient is None:
                unassigned += 1
                continue
            key = backfill_record_key(self.job, patient)
            pipe.hset(key, f"{resource.get('resourceType')}/{resource.get('id')}", orjson.dumps(resource).decode())
            pipe.expire(key, RECORD_SECONDS)
            pipe.sadd(backfill_key(self.job, "patients"), patient)
            if len(pipe) >= SPOOL_BATCH * 3:
                pipe.execute()
        pipe.execute()
        return read, unassigned

    # screening -----------------------------------------------------------------------------------------------
    def queue(self, on_queued: Callable[[int], None]) -> None:
        """Every spooled patient not queued yet, in batches for the workers. Sent before marked queued: a kill in
        between sends a batch twice, which the workers skip (its patients are done), never loses one."""
        patients, queued = backfill_key(self.job, "patients"), backfill_key(self.job, "queued")
        pending: list[str] = []
        for member in self.store.sscan_iter(patients, count=500):
            pending.append(member.decode())
            if len(pending) >= 500:
                self._queue_new(pending, queued, on_queued)
                pending = []
        self._queue_new(pending, queued, on_queued)

    def _queue_new(self, candidates: list[str], queued: str, on_queued: Callable[[int], None]) -> None:
        if not candidates:
            return
        seen = cast(list[int], self.store.smismember(queued, candidates))
        new = [patient for patient, was in zip(candidates, seen, strict=True) if not was]
        for start in range(0, len(new), self.batch):
            batch = new[start : start + self.batch]
            for _ in batch:
                self.pace.wait()
            self.celery.send_task(
                TaskName.BACKFILL_SCREEN, kwargs={"fhir_base": self.fhir_base, "job": self.job, "patients": batch}
            )
            self.store.sadd(queued, *batch)
            on_queued(len(batch))

    def wait(self, on_done: Callable[[Counts], None], timeout: float) -> Counts:
        """Until every patient is screened or failed (the workers count them), or `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.counts()
            on_done(counts)
            finished = self._size("done")
            if finished >= counts.patients or time.monotonic() > deadline:
                return counts
            time.sleep(POLL_SECONDS)  # the workers report only through Redis: progress is read, not awaited

    # no $export ----------------------------------------------------------------------------------------------
    def by_patient_pages(self, client: FhirClient, on_queued: Callable[[int], None]) -> int:
        """Every Patient of the server into the due set, a page at a time; the workers fetch and screen each."""
        self._set(via="Patient searches")
        count = 0
        for patient in client.search("Patient?_elements=id&_count=200"):
            if isinstance(patient.get("id"), str):
                self.pace.wait()
                due.mark_due(self.store, self.fhir_base, patient["id"], coalesce_seconds=0)
                count += 1
                if count % self.batch == 0:
                    self.celery.send_task(TaskName.SCREEN_DUE, kwargs={"fhir_base": self.fhir_base})
                    on_queued(self.batch)
        self.celery.send_task(TaskName.SCREEN_DUE, kwargs={"fhir_base": self.fhir_base})
        on_queued(count % self.batch)
        return count
