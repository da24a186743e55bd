"""`toh-cds`: the command line of the service."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

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


def _hook(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from service.cds.client import HookClient, JwtSigner

    signer = None
    if args.private_key:
        signer = JwtSigner(args.issuer, args.kid, Path(args.private_key).read_text(), args.alg)
    client = HookClient(args.service_base, signer=signer)
    services = client.discover()
    if args.service_id not in services:
        print(f"no service {args.service_id!r}; discovery lists {', '.join(services)}", file=sys.stderr)
        return 2
    service = services[args.service_id]
    context: dict[str, object] = {"userId": args.user, "patientId": args.patient}
    if service["hook"] in ("order-select", "order-sign"):
        drafts: dict[str, Any] = (
            json.loads(Path(args.draft_orders).read_text())
            if args.draft_orders
            else {"resourceType": "Bundle", "type": "collection"}
        )
        context["draftOrders"] = drafts
        if service["hook"] == "order-select":
            context["selections"] = [
                f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in drafts.get("entry", [])
            ]
    prefetch = client.fill_prefetch(service, args.fhir_server, context) if args.prefetch and args.fhir_server else None
    response = client.call(args.service_id, service["hook"], context, prefetch=prefetch, fhir_server=args.fhir_server)
    print(json.dumps(response.json(), indent=2) if response.content else f"HTTP {response.status_code}")
    return 0 if response.status_code == 200 else 1


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
    hook = commands.add_parser("hook", help="call a CDS service as an EHR would (discovery, prefetch, JWT)")
    hook.add_argument("--service-base", default="http://127.0.0.1:8080", help="where /cds-services is")
    hook.add_argument("--service-id", default="toh-patient-view")
    hook.add_argument("--patient", required=True, help="context.patientId")
    hook.add_argument("--user", default="Practitioner/toh-cds-cli", help="context.userId")
    hook.add_argument("--fhir-server", help="FHIR base URL: sent as fhirServer, and used to fill prefetch")
    hook.add_argument("--prefetch", action="store_true", help="fill prefetch by executing the discovery templates")
    hook.add_argument("--draft-orders", help="a Bundle of draft orders (JSON file) for order hooks")
    hook.add_argument("--private-key", help="PEM file that signs the JWT (no JWT without it)")
    hook.add_argument("--issuer", default="https://toh-cds-cli.local", help="JWT iss")
    hook.add_argument("--kid", default="cli-1", help="JWT kid")
    hook.add_argument("--alg", default="ES384", choices=["ES384", "RS384", "ES256", "RS256"])
    hook.set_defaults(handler=_hook)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
