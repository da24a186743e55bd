"""SSRF through fhirServer and the links a FHIR server returns: nothing leaves the allowlisted base URL."""

from __future__ import annotations

from typing import Any

import pytest

from service.fhir.urls import on_server
from tests.cds.test_security import Listener, call

BASE = "http://127.0.0.1:8081/fhir"


@pytest.mark.parametrize(
    "fhir_server",
    [
        "http://127.0.0.1:{port}/fhir",  # the listener itself, not allowlisted
        "http://127.0.0.2:{port}/fhir",  # another loopback host
        "http://169.254.169.254/latest/meta-data",  # cloud metadata (link-local)
        "http://[::1]:{port}/fhir",
        "http://allowed.example@127.0.0.1:{port}/fhir",  # userinfo that looks like the allowed host
        "file:///etc/passwd",
    ],
)
def test_fhir_servers_off_the_allowlist_are_never_contacted(fhir_server: str, make_client: Any) -> None:
    listener = Listener()
    try:
        _, hook_client = make_client(fhir_server_allowlist=["http://allowed.example/fhir"])
        response = call(hook_client, fhir_server.format(port=listener.port))
        assert response.status_code in (400, 412)
        assert response.json()["issue"][0]["diagnostics"]
        assert listener.requests == []
    finally:
        listener.close()


@pytest.mark.parametrize(
    "link",
    [
        "{base}/../admin/secrets",
        "{base}/%2e%2e/admin/secrets",
        "{base}/./Condition/../../admin",
        "http://user:pass@127.0.0.1:{port}/fhir/Condition?page=2",
        "http://127.0.0.1:{port}/fhirx/Condition?page=2",
        "http://localhost:{port}/fhir/Condition?page=2",
    ],
)
def test_next_links_that_leave_the_base_are_not_followed(link: str, make_client: Any) -> None:
    holder: dict[str, str] = {}
    allowed = Listener(lambda path: {"resourceType": "Bundle", "type": "searchset",
                                     "link": [{"relation": "next", "url": holder["next"]}]})  # fmt: skip
    try:
        holder["next"] = link.format(base=allowed.url, port=allowed.port)
        _, hook_client = make_client(fhir_server_allowlist=[allowed.url])
        response = call(hook_client, allowed.url)
        assert response.status_code == 412
        assert "outside the fhirServer" in response.json()["issue"][0]["diagnostics"]
        assert allowed.requests and all(path.startswith("/fhir/") and ".." not in path for path in allowed.requests)
    finally:
        allowed.close()


def test_links_under_the_base_are_on_the_server() -> None:
    assert on_server(f"{BASE}/Condition?patient=1&_page=2", BASE)
    assert on_server(f"{BASE}/Patient/a.b/$everything", BASE)
    assert not on_server(f"{BASE}/Patient/../../x", BASE)
    assert not on_server("http://127.0.0.1:8082/fhir/Condition", BASE)
    assert not on_server("https://127.0.0.1:8081/fhir/Condition", BASE)
    assert not on_server("not a url at all", BASE)
