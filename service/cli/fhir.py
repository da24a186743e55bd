"""`toh-cds subscribe` and `toh-cds load`: setting a FHIR server up to notify us, and loading Bundles into it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from service.cli.common import Failure, fhir_base_of, running, settings

__all__ = ["load", "subscribe"]


@click.command()
@click.option("--fhir-base", help="The FHIR server.  [default: TOH_FHIR_BASE_URL, else `toh-cds run`'s embedded one]")
@click.option("--endpoint", help="Our notification URL, e.g. https://toh.example/fhir/notifications.  "
              "[default: the running `toh-cds run`'s API]")  # fmt: skip
@click.option("--mode", type=click.Choice(["backport", "classic"]), default="backport",
              help="Topic-based (R4 Subscriptions Backport) or classic R4 criteria.")  # fmt: skip
@click.option("--payload", type=click.Choice(["full-resource", "id-only", "empty"]), default="full-resource",
              help="What each notification carries (backport only).")  # fmt: skip
@click.option("--heartbeat", type=click.IntRange(min=1), help="Backport heartbeat period in seconds.  [default: none]")
@click.option("--token", help="Bearer token the server sends.  [default: TOH_NOTIFY_TOKEN]")
def subscribe(fhir_base: str | None, endpoint: str | None, mode: str, payload: str, heartbeat: int | None,
              token: str | None) -> int:  # fmt: skip
    """Create the topics and Subscriptions a FHIR server needs (idempotent), and say what each one watches."""
    import httpx

    from service.fhir.subscribe import subscribe as create

    current = settings()
    base = fhir_base_of(fhir_base, current)
    info = running(current)
    endpoint = endpoint or (f"{info.api}/fhir/notifications" if info else None)
    if not endpoint:
        raise click.UsageError("--endpoint is needed when no `toh-cds run` is running")
    token = token or (current.notify_token.get_secret_value() if current.notify_token else None)
    if not token:
        raise click.UsageError("a notify token is needed: --token or TOH_NOTIFY_TOKEN (the API refuses others)")
    active = 0  # of the two: Observation and ImagingStudy
    try:
        with httpx.Client(timeout=30) as http:
            for done in create(http, base, endpoint, mode=mode, payload=payload, token=token, heartbeat=heartbeat):  # type: ignore[arg-type]
                click.echo(f"{done.reference}: {done.status} (watches {done.watches})")
                active += done.status == "active"
    except httpx.TransportError as error:
        raise Failure(f"cannot reach the FHIR server at {base} ({type(error).__name__})") from None
    if active < 2:
        raise Failure(f"{2 - active} Subscription(s) not active: the FHIR server could not hand-shake with {endpoint}")
    return 0


def _bundles(paths: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        files += sorted(path.glob("*.json")) if path.is_dir() else [path]
    return files


def _read_bundle(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and document.get("resourceType") == "Bundle" else None


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--fhir-base", help="The FHIR server.  [default: TOH_FHIR_BASE_URL, else `toh-cds run`'s embedded one]")
@click.option("--rebase-dates", is_flag=True, help="Shift each Bundle's dates so that it happens today.")
def load(files: tuple[str, ...], fhir_base: str | None, rebase_dates: bool) -> int:
    """Post Bundles (files, or directories of *.json) to a FHIR server as transactions; skips what is not a Bundle."""
    import httpx
    from rich.progress import Progress

    from service.fhir.rebase import rebase_dates as rebased
    from service.fhir.subscribe import as_transaction

    base = fhir_base_of(fhir_base, settings())
    paths = _bundles(files)
    loaded, skipped, failed = 0, 0, 0
    today = datetime.now(UTC).date()
    with httpx.Client(timeout=60) as http, Progress(transient=False) as progress:
        task = progress.add_task("Loading", total=len(paths))
        for path in paths:
            bundle = _read_bundle(path)
            if bundle is None:
                progress.console.print(f"skipped {path.name}: not a FHIR Bundle")
                skipped += 1
            else:
                try:
                    response = http.post(base, json=as_transaction(rebased(bundle, today) if rebase_dates else bundle),
                                         headers={"Content-Type": "application/fhir+json"})  # fmt: skip
                except httpx.TransportError as error:
                    raise Failure(f"cannot reach the FHIR server at {base} ({type(error).__name__})") from None
                if response.status_code in (200, 201):
                    loaded += 1
                else:
                    progress.console.print(f"failed {path.name}: the FHIR server answered {response.status_code}")
                    failed += 1
            progress.advance(task)
    click.echo(f"{loaded} loaded, {skipped} skipped, {failed} failed", err=True)
    return 1 if failed else 0
