"""`toh-cds hook`: call a CDS service as an EHR would (discovery, prefetch, a signed JWT), and print its answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from service.cli.common import Failure, running, settings

__all__ = ["hook"]


@click.command()
@click.option("--patient", required=True, help="context.patientId, e.g. toh-seed-stage-2.")
@click.option("--service-id", default="toh-patient-view", help="Which CDS service (see /cds-services).")
@click.option("--service-base", help="Where /cds-services is.  [default: the running `toh-cds run`'s API]")
@click.option("--user", default="Practitioner/toh-cds-cli", help="context.userId.")
@click.option("--fhir-server", help="Sent as fhirServer.  [default: the embedded FHIR server of `toh-cds run`]")
@click.option("--prefetch", is_flag=True, help="Fill prefetch from the FHIR server first, as an EHR may.")
@click.option("--draft-orders", type=click.Path(exists=True, dir_okay=False), help="A Bundle of draft orders (JSON).")
@click.option("--private-key", type=click.Path(exists=True, dir_okay=False),
              help="PEM file that signs the JWT.  [default: the dev issuer's key of `toh-cds run`; none: no JWT]")  # fmt: skip
@click.option("--issuer", help="JWT iss.  [default: the dev issuer]")
@click.option("--kid", help="JWT kid.  [default: the dev issuer's]")
@click.option("--alg", default="ES384", type=click.Choice(["ES384", "RS384", "ES256", "RS256"]), help="JWT alg.")
def hook(patient: str, service_id: str, service_base: str | None, user: str, fhir_server: str | None,
         prefetch: bool, draft_orders: str | None, private_key: str | None, issuer: str | None, kid: str | None,
         alg: str) -> int:  # fmt: skip
    """Call a CDS service for one patient and print its cards (JSON). Exit code 1 when it does not answer 200."""
    import httpx

    from service.ops.hook_client import HookClient, JwtSigner

    info = running(settings())
    service_base = service_base or (info.api if info else "http://127.0.0.1:8080")
    fhir_server = fhir_server or (info.fhir_base if info else None)
    signer = None
    key_file = private_key or (info.private_key_file if info else None)
    if key_file:
        issuer = issuer or (info.issuer if info and info.issuer else "https://toh-cds-cli.local")
        kid = kid or (info.kid if info and info.kid else "cli-1")
        signer = JwtSigner(issuer, kid, Path(key_file).read_text(), alg)
    try:
        with HookClient(service_base, signer=signer) as client:
            return _call(client, service_id, patient, user, fhir_server, prefetch, draft_orders)
    except httpx.TransportError as error:
        raise Failure(
            f"cannot reach {service_base} ({type(error).__name__}): is the API running (`make run`)?"
        ) from None


def _call(client: Any, service_id: str, patient: str, user: str, fhir_server: str | None, prefetch: bool,
          draft_orders: str | None) -> int:  # fmt: skip
    services = client.discover()
    if service_id not in services:
        raise Failure(f"no service {service_id!r}: discovery lists {', '.join(services)}")
    service = services[service_id]
    context: dict[str, object] = {"userId": user, "patientId": patient}
    if service["hook"] in ("order-select", "order-sign"):
        drafts: dict[str, Any] = (
            json.loads(Path(draft_orders).read_text())
            if draft_orders
            else {"resourceType": "Bundle", "type": "collection"}
        )
        context["draftOrders"] = drafts
        if service["hook"] == "order-select":
            context["selections"] = [
                f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in drafts.get("entry", [])
            ]
    filled = client.fill_prefetch(service, fhir_server, context) if prefetch and fhir_server else None
    response = client.call(service_id, service["hook"], context, prefetch=filled, fhir_server=fhir_server)
    click.echo(json.dumps(response.json(), indent=2) if response.content else f"HTTP {response.status_code}")
    return 0 if response.status_code == 200 else 1
