"""`toh-cds backfill`: screen a whole population once, over FHIR Bulk Data `$export` (service/pipeline/backfill.py)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from service.cli.common import Failure, fhir_base_of, redis_of, settings

if TYPE_CHECKING:
    from rich.console import Console

    from service.pipeline.backfill import Counts

__all__ = ["backfill"]


@click.command()
@click.option("--fhir-base", help="The FHIR server.  [default: TOH_FHIR_BASE_URL, else `toh-cds run`'s embedded one]")
@click.option("--group", help="Export this Group's patients only (Group/ID/$export).  [default: every patient]")
@click.option("--since", help="Only resources changed since this FHIR instant (_since).  [default: all]")
@click.option("--max-rps", type=click.FloatRange(min=0), default=20.0,
              help="Requests a second to the FHIR server from this command, and patients queued a second (0: no limit).")  # fmt: skip
@click.option("--batch", type=click.IntRange(1, 500), default=50, help="Patients per worker task.")
@click.option("--timeout", type=click.FloatRange(min=1), default=3600.0, help="Seconds to wait for the workers.")
@click.option("--dry-run", is_flag=True, help="Export and count the patients; queue no screening.")
@click.option("--restart", is_flag=True, help="Forget an earlier run of the same job and start over.")
def backfill(fhir_base: str | None, group: str | None, since: str | None, max_rps: float, batch: int,
             timeout: float, dry_run: bool, restart: bool) -> int:  # fmt: skip
    """Screen every patient of a FHIR server (or Group) once, as the workers screen after a notification.

    A killed backfill run again with the same --fhir-base, --group and --since continues where it stopped.
    """
    import httpx
    import redis
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from service.fhir.auth import auth_for
    from service.fhir.bulk import BulkExport, ExportGone, Pace
    from service.fhir.client import FhirClient, FhirError
    from service.pipeline.backfill import Backfill
    from service.pipeline.celery import create_celery_app

    current = settings()
    base = fhir_base_of(fhir_base, current)
    store = redis.Redis.from_url(redis_of(current), socket_timeout=30)
    celery = create_celery_app(current)
    pace = Pace(max_rps)
    job = Backfill(store, celery, base, group=group, since=since, pace=pace, batch=batch)
    if restart:
        job.forget()
    console = Console(stderr=True)
    started = time.monotonic()
    timeouts = httpx.Timeout(current.http_timeout, connect=current.http_connect_timeout)
    try:
        with httpx.Client(timeout=timeouts) as http, Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(), console=console, transient=False,
        ) as progress:  # fmt: skip
            auth = auth_for(current, base, http)
            export = BulkExport(http, base, pace=pace, headers=auth)
            exporting = progress.add_task("export", total=None, note="")
            files = job.files(export, lambda note: progress.update(exporting, note=note))
            if files is None:
                progress.update(
                    exporting, note="no $export here: paging Patient searches instead", total=1, completed=1
                )
                client = FhirClient(base, http, auth=auth, max_pages=current.prefetch_max_pages)
                queued = progress.add_task("patients queued", total=None, note="the workers fetch each record")
                if not dry_run:
                    job.by_patient_pages(client, lambda n: progress.advance(queued, n))
                _summary(console, job.counts(), time.monotonic() - started, dry_run)
                return 0
            progress.update(exporting, total=1, completed=1, note=f"{len(files)} files")
            reading = progress.add_task("files read", total=len(files), note="")
            job.spool(
                export, files, lambda file, count: progress.update(reading, advance=1, note=f"{file.type}: {count}")
            )
            progress.update(reading, completed=len(files))
            counts = job.counts()
            if dry_run:
                _summary(console, counts, time.monotonic() - started, dry_run)
                return 0
            queueing = progress.add_task("patients queued", total=counts.patients, completed=counts.queued, note="")
            job.queue(lambda n: progress.advance(queueing, n))
            screening = progress.add_task("patients screened", total=counts.patients, note="")

            def show(now: Counts) -> None:
                progress.update(screening, completed=now.screened + now.failed,
                                note=f"{now.written_back} written back, {now.failed} failed")  # fmt: skip

            counts = job.wait(show, timeout)
    except ExportGone as error:
        job.forget_export()
        raise Failure(f"the export's files are gone ({error}): run it again to export anew") from None
    except FhirError as error:
        raise Failure(f"the FHIR server at {base}: {error} (run it again to continue)") from None
    except httpx.TransportError as error:
        raise Failure(f"cannot reach the FHIR server at {base} ({type(error).__name__})") from None
    finally:
        celery.close()
    _summary(console, counts, time.monotonic() - started, dry_run)
    if counts.screened + counts.failed < counts.patients:
        raise Failure(f"{counts.patients - counts.screened - counts.failed} patients not screened within {timeout:g} s "
                      "(run it again to keep waiting: nothing is queued twice)")  # fmt: skip
    return 1 if counts.failed else 0


def _summary(console: Console, counts: Counts, seconds: float, dry_run: bool) -> None:
    """The final table (on stderr, with the progress) and one line on stdout for scripts."""
    from rich.table import Table

    table = Table(title="backfill" + (" (dry run)" if dry_run else ""), show_header=False)
    rows = [("read via", counts.via), ("resources read", f"{counts.resources:,}"),
            ("resources about no patient", f"{counts.unassigned:,}"), ("patients read", f"{counts.patients:,}"),
            ("patients queued", f"{counts.queued:,}"), ("patients screened", f"{counts.screened:,}")]  # fmt: skip
    rows += [(f"cards: {topic}", f"{count:,}") for topic, count in sorted(counts.topics.items())]
    rows += [
        ("written back", f"{counts.written_back:,}"),
        ("failed", f"{counts.failed:,}"),
        ("time", f"{seconds:.1f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    click.echo(
        f"backfill: {counts.patients} patients read, {counts.screened} screened, {counts.written_back} written back, "
        f"{counts.failed} failed in {seconds:.1f} s"
    )
