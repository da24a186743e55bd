"""`toh-cds run`, `api` and `worker`: the processes of the service."""

from __future__ import annotations

import sys

import click

from service.cli.common import Failure, settings

__all__ = ["api", "run", "worker"]


def _port_free(host: str, port: int, setting: str) -> None:
    from service.ops.ports import in_use

    if in_use(host, port):
        raise Failure(f"port {port} on {host} is in use: stop what listens there, or set {setting} to a free port")


@click.command()
def run() -> int:
    """Everything on this machine: the API (127.0.0.1:8080), one worker, and an embedded Redis when TOH_REDIS_URL is
    unset; with TOH_FHIR_BASE_URL unset too, an embedded FHIR server with a demo cohort, subscribed and screened."""
    from service.core.logging import configure_logging
    from service.ops.runner import run_all

    current = settings()
    configure_logging(current.log_level, json=current.logs_as_json(sys.stderr.isatty()), process="run")
    _port_free(current.api_host, current.api_port, "TOH_API_PORT")
    if current.fhir_base_url is None:
        _port_free("127.0.0.1", current.embedded_fhir_port, "TOH_EMBEDDED_FHIR_PORT")
    on_terminal = sys.stderr.isatty()
    return run_all(current, on_ready=(lambda banner: click.echo(banner, err=True)) if on_terminal else None)


@click.command()
@click.option("--host", help="Interface to listen on.  [default: TOH_API_HOST]")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to listen on.  [default: TOH_API_PORT]")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="API processes sharing the port; /metrics sums their figures.  [default: TOH_API_WORKERS]",
)
def api(host: str | None, port: int | None, workers: int | None) -> int:
    """The HTTP API (uvicorn): CDS Hooks, notifications, health and metrics."""
    current = settings()
    host, port, workers = host or current.api_host, port or current.api_port, workers or current.api_workers
    _port_free(host, port, "TOH_API_PORT" if port == current.api_port else "--port")
    import uvicorn

    from service.core.metrics import shared_between_processes

    with shared_between_processes(workers > 1):
        uvicorn.run(
            "service.main:app",
            workers=workers,
            # Bounds for operators: a request head past these gets 431 before any parsing of ours; past
            # limit_concurrency connections or requests at once, new requests get 503 (README, Settings).
            http="service.core.http_protocol:BoundedHttpToolsProtocol",
            limit_concurrency=current.api_limit_concurrency,
            host=host,
            port=port,
            log_config=None,  # service.main configures structlog for uvicorn's loggers too
            access_log=False,  # RequestContextMiddleware logs each request with its id
            # Longer than clients keep idle connections (httpx: 5 s, like uvicorn's default): otherwise a client can
            # send on a connection the server is closing at that moment, and the request fails with a read error.
            timeout_keep_alive=current.api_keep_alive_seconds,
            proxy_headers=False,
            timeout_graceful_shutdown=int(current.shutdown_timeout),
        )
    return 0


@click.command()
@click.option("-E", "--events", is_flag=True, help="Send task events (for Flower).")
def worker(events: bool) -> int:
    """One Celery worker (TOH_WORKER_CONCURRENCY processes) that screens and writes back."""
    current = settings()
    from service.core.logging import configure_logging
    from workers.celery_app import app

    configure_logging(current.log_level, json=current.logs_as_json(sys.stderr.isatty()), process="worker")
    argv = [
        "--quiet",  # no banner: logs are structured lines
        "worker",
        "--loglevel", current.log_level,
        "--concurrency", str(current.worker_concurrency),
        "--without-mingle",
        "--without-gossip",
    ]  # fmt: skip
    if events:
        argv.append("--task-events")
    app.worker_main(argv)
    return 0
