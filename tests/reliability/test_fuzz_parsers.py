"""Fuzzing the two parsers that read what strangers send: whatever arrives, they either return a parsed value or
raise their own clear error (NotificationError, or a 400 ProblemError). Anything else would be a 500."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.cds.request import parse_hook_request
from service.cds.services import SERVICES
from service.core.errors import ProblemError
from service.fhir.notifications import Notification, NotificationError, classic_notification, parse_notification

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "notifications"
NOTIFICATIONS = [json.loads(path.read_text()) for path in sorted(FIXTURES.glob("*.json"))]
HOOK_REQUEST = {
    "hook": "order-sign",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "fhirServer": "https://fhir.example.org/r4",
    "fhirAuthorization": {"access_token": "x", "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read",
                          "subject": "toh-cds"},
    "context": {"userId": "Practitioner/1", "patientId": "p1",
                "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [
                    {"resource": {"resourceType": "MedicationRequest", "id": "m1", "status": "draft"}}]}},
    "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"}, "conditions": None},
}  # fmt: skip

# Numbers as strings that str.isdigit() takes and int() refuses ("²", 5,000 digits): each was a 500 once.
odd_numbers = (
    st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=4)
    | st.text("0123456789", min_size=4300, max_size=5000)
    | st.integers(min_value=-(10**30), max_value=10**30).map(str)
)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20) | odd_numbers
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document (dict keys and list indexes), the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, documents: list[Any]) -> Any:
    """A valid document with one to three of its parts replaced by arbitrary JSON (or removed)."""
    document = copy.deepcopy(draw(st.sampled_from(documents)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(document)))
        if not path:
            return draw(json_values)
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return document


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(NOTIFICATIONS) | json_values)
def test_the_notification_parser_never_fails_unexpectedly(body: Any) -> None:
    try:
        assert isinstance(parse_notification(body), Notification)
    except NotificationError as exc:
        assert str(exc)


@settings(max_examples=300)
@given(st.text(max_size=30), json_values, mutated(NOTIFICATIONS))
def test_the_classic_parser_never_fails_unexpectedly(resource_type: str, resource_id: Any, body: Any) -> None:
    entries = body.get("entry") if isinstance(body, dict) else None
    first = entries[0] if isinstance(entries, list) and entries else None
    for candidate in (body, first.get("resource") if isinstance(first, dict) else None):
        if isinstance(candidate, dict):
            try:
                classic_notification(resource_type, resource_id, candidate)
            except NotificationError as exc:
                assert str(exc)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SERVICES)), mutated([HOOK_REQUEST]) | json_values | st.binary(max_size=64))
def test_the_hook_request_parser_answers_400_or_parses(service_id: str, body: Any) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        parse_hook_request(SERVICES[service_id], raw)
    except ProblemError as exc:
        assert exc.status == 400 and all(message for message in exc.messages)
