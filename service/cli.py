"""`toh-cds`: the command line of the service."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from service.logging import configure_logging
from service.settings import get_settings

__all__ = ["main"]


def _run(_: argparse.Namespace) -> int:
    from service.runner import run_all

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json, process="run")
    return run_all(settings)


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "service.main:app",
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_config=None,  # service.main configures structlog for uvicorn's loggers too
        access_log=False,  # RequestContextMiddleware logs each request with its id
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout),
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    from workers.celery_app import app

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json, process="worker")
    argv = [
        "--quiet",  # no banner: logs are JSON lines
        "worker",
        "--loglevel", settings.log_level,
        "--concurrency", str(settings.worker_concurrency),
        "--without-mingle",
        "--without-gossip",
    ]  # fmt: skip
    if args.events:
        argv.append("--task-events")
    app.worker_main(argv)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toh-cds", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="API + one worker + embedded Redis (when TOH_REDIS_URL is unset)").set_defaults(
        handler=_run
    )
    api = commands.add_parser("api", help="the HTTP API (uvicorn)")
    api.add_argument("--host", help="default TOH_API_HOST")
    api.add_argument("--port", type=int, help="default TOH_API_PORT")
    api.set_defaults(handler=_api)
    worker = commands.add_parser("worker", help="one Celery worker")
    worker.add_argument("-E", "--events", action="store_true", help="send task events (for Flower)")
    worker.set_defaults(handler=_worker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
