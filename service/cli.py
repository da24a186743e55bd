"""`toh-cds`: the command line of the service."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from service.core.logging import configure_logging
from service.settings import get_settings

__all__ = ["main"]


def _run(_: argparse.Namespace) -> int:
    from service.ops.runner import run_all

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json, process="run")
    return run_all(settings)


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from service.core.http_protocol import bounded_protocol

    settings = get_settings()
    uvicorn.run(
        "service.main:app",
        # Bounds for operators: a request head past these gets 431 before any parsing of ours; past
        # limit_concurrency connections or requests at once, new requests get 503 (README, Settings).
        http=bounded_protocol(settings.api_max_header_bytes, settings.api_max_head_bytes),
        limit_concurrency=settings.api_limit_concurrency,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_config=None,  # service.main configures structlog for uvicorn's loggers too
        access_log=False,  # RequestContextMiddleware logs each request with its id
        # Longer than clients keep idle connections (httpx: 5 s, like uvicorn's default): otherwise a client can
        # send on a connection the server is closing at that moment, and the request fails with a read error.
        timeout_keep_alive=settings.api_keep_alive_seconds,
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
    from pathlib import Path

    from service.ops.hook_client import HookClient, JwtSigner

    signer = None
    if args.private_key:
        signer = JwtSigner(args.issuer, args.kid, Path(args.private_key).read_text(), args.alg)
    with HookClient(args.service_base, signer=signer) as client:
        return _call_hook(client, args)


def _call_hook(client: Any, args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

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


def _subscribe(args: argparse.Namespace) -> int:
    import httpx

    from service.fhir.subscribe import subscribe

    settings = get_settings()
    token = args.token or (settings.notify_token.get_secret_value() if settings.notify_token else None)
    if not token:
        print(
            "a notify token is needed: --token or TOH_NOTIFY_TOKEN (the API refuses notifications without it)",
            file=sys.stderr,
        )
        return 2
    with httpx.Client(timeout=30) as http:
        for reference, status in subscribe(
            http, args.fhir_base.rstrip("/"), args.endpoint, mode=args.mode, payload=args.payload, token=token,
            heartbeat=args.heartbeat,
        ):  # fmt: skip
            print(f"{reference}: {status}")
    return 0


def _load(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import httpx

    from service.fhir.subscribe import as_transaction

    failed = 0
    with httpx.Client(timeout=60) as http:
        for done, name in enumerate(args.files, start=1):
            bundle = as_transaction(json.loads(Path(name).read_text()))
            response = http.post(
                args.fhir_base.rstrip("/"), json=bundle, headers={"Content-Type": "application/fhir+json"}
            )
            ok = response.status_code in (200, 201)
            failed += not ok
            bar = "#" * (20 * done // len(args.files))
            print(f"\r[{bar:<20}] {done}/{len(args.files)} {Path(name).name} {'ok' if ok else response.status_code}",
                  end="" if ok and done < len(args.files) else "\n", file=sys.stderr, flush=True)  # fmt: skip
    return 1 if failed else 0


def _dead_letters(args: argparse.Namespace) -> int:
    import redis

    from service.pipeline.store import DEAD_LETTERS_KEY

    client = redis.Redis.from_url(get_settings().effective_redis_url)
    for raw in client.lrange(DEAD_LETTERS_KEY, 0, -1):  # type: ignore[union-attr]
        print(raw.decode())
    if args.clear:
        client.delete(DEAD_LETTERS_KEY)
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
    sub = commands.add_parser("subscribe", help="create the topics and Subscriptions a FHIR server needs (idempotent)")
    sub.add_argument("--fhir-base", required=True)
    sub.add_argument(
        "--endpoint", required=True, help="our notification URL, e.g. https://toh.example/fhir/notifications"
    )
    sub.add_argument("--mode", choices=["backport", "classic"], default="backport")
    sub.add_argument("--payload", choices=["full-resource", "id-only", "empty"], default="full-resource")
    sub.add_argument("--heartbeat", type=int, help="backport heartbeat period in seconds")
    sub.add_argument("--token", help="bearer token the server sends (default TOH_NOTIFY_TOKEN)")
    sub.set_defaults(handler=_subscribe)
    load = commands.add_parser("load", help="post Bundles (fixtures) to a FHIR server as transactions")
    load.add_argument("files", nargs="+")
    load.add_argument("--fhir-base", required=True)
    load.set_defaults(handler=_load)
    dead = commands.add_parser("dead-letters", help="list work that failed permanently, with its reason")
    dead.add_argument("--clear", action="store_true", help="remove them after listing")
    dead.set_defaults(handler=_dead_letters)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
