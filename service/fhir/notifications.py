"""FHIR Subscription notifications, every format, read into one shape (standards.md section 2).

    R4 + Backport IG   Bundle type history, entry[0] Parameters (kebab-case names: notification-event, ...)
    R4B + Backport IG  Bundle type history, entry[0] SubscriptionStatus
    R5                 Bundle type subscription-notification, entry[0] SubscriptionStatus
    classic R4         the resource itself (PUT /fhir/notifications/{type}/{id}, or POSTed), or an empty POST

Pure: a parsed JSON body in, a Notification out, NotificationError (with a message for the sender) otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Event",
    "Notification",
    "NotificationError",
    "TooManyEvents",
    "classic_notification",
    "parse_notification",
    "read_status",
    "relative_reference",
    "too_many_events_message",
]

Kind = Literal["handshake", "heartbeat", "event-notification", "query-status", "query-event", "ping", "resource"]
_KINDS = {"handshake", "heartbeat", "event-notification", "query-status", "query-event"}


class NotificationError(ValueError):
    """The body is not a notification we can read; the message says why."""


class TooManyEvents(NotificationError):
    """More events in one notification than the receiver takes (the sender should send smaller bundles)."""


def too_many_events_message(max_events: int) -> str:
    return f"More than {max_events} events in one notification: send them in smaller bundles"


@dataclass(frozen=True)
class Event:
    number: int | None  # event-number: with the subscription, the idempotency key
    focus: str | None  # reference to the resource that triggered the event ("Observation/1" or absolute)
    resource: dict[str, Any] | None = None  # the focus itself, when the payload is full-resource
    context: tuple[str, ...] = ()  # additional-context references (a Patient, an Encounter, ...)


@dataclass(frozen=True)
class Notification:
    kind: Kind
    format: Literal["r4-backport", "r4b", "r5", "classic"]
    subscription: str | None = None  # reference to the Subscription
    status: str | None = None
    topic: str | None = None
    events_since_start: int | None = None
    events: tuple[Event, ...] = field(default=())


_INTEGER64_MAX = 2**63 - 1


def _int(value: Any) -> int | None:
    """An event number or count (integer64, sent as a JSON string or number); None when absent. Anything else is
    refused with 400: `"²"` passes str.isdigit() and 5,000 digits pass it too, but int() refuses both."""
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, int) and not isinstance(text, bool) and 0 <= text <= _INTEGER64_MAX:
        return text
    if isinstance(text, str) and 0 < len(text) <= 19 and text.isascii() and text.isdigit():
        if int(text) <= _INTEGER64_MAX:
            return int(text)
    raise NotificationError("An event number or event count is not a non-negative integer64")


def _reference(value: Any) -> str | None:
    if isinstance(value, Mapping) and isinstance(value.get("reference"), str):
        reference: str = value["reference"]
        return reference
    return None


def _references(references: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(reference for reference in references if reference is not None)


def _value(parameter: Any) -> Any:
    for key, value in parameter.items() if isinstance(parameter, Mapping) else ():
        if isinstance(key, str) and key.startswith("value"):
            return value
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def relative_reference(reference: str) -> str:
    """ "http://server/fhir/Observation/1/_history/2" -> "Observation/1"."""
    parts = reference.rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:])


def _resources_by_reference(entries: list[Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if (
            isinstance(resource, dict)
            and isinstance(resource.get("resourceType"), str)
            and isinstance(resource.get("id"), str)
        ):
            found[f"{resource['resourceType']}/{resource['id']}"] = resource
    return found


def _from_parameters(status: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {"subscription": None, "topic": None, "status": None, "type": None,
                              "events_since_start": None, "events": []}  # fmt: skip
    for parameter in _list(status.get("parameter")):
        if not isinstance(parameter, Mapping):
            continue
        name = parameter.get("name")
        if name == "subscription":
            fields["subscription"] = _reference(parameter.get("valueReference"))
        elif name in ("topic", "status", "type"):
            fields[name] = _text(_value(parameter))
        elif name == "events-since-subscription-start":
            fields["events_since_start"] = _int(_value(parameter))
        elif name == "notification-event":
            parts = {
                p["name"]: p for p in _list(parameter.get("part")) if isinstance(p, Mapping) and _text(p.get("name"))
            }
            number = _int(_value(parts.get("event-number")))
            focus = parts.get("focus")
            context = [
                _reference(p.get("valueReference"))
                for p in _list(parameter.get("part"))
                if isinstance(p, Mapping) and p.get("name") == "additional-context"
            ]
            fields["events"].append(
                (number, _reference(focus.get("valueReference")) if focus else None, _references(context))
            )
    return fields


def _from_subscription_status(status: Mapping[str, Any]) -> dict[str, Any]:
    events = [
        (
            _int(event.get("eventNumber")),
            _reference(event.get("focus")),
            _references(_reference(item) for item in _list(event.get("additionalContext"))),
        )
        for event in _list(status.get("notificationEvent"))
        if isinstance(event, Mapping)
    ]
    return {
        "subscription": _reference(status.get("subscription")),
        "topic": _text(status.get("topic")),
        "status": _text(status.get("status")),
        "type": _text(status.get("type")),
        "events_since_start": _int(status.get("eventsSinceSubscriptionStart")),
        "events": events,
    }


def read_status(resource: Any) -> dict[str, Any] | None:
    """The fields of one status resource (backport Parameters or SubscriptionStatus), e.g. from `$status`."""
    if not isinstance(resource, Mapping):
        return None
    if resource.get("resourceType") == "Parameters":
        return _from_parameters(resource)
    if resource.get("resourceType") == "SubscriptionStatus":
        return _from_subscription_status(resource)
    return None


def parse_notification(body: Any, *, max_events: int | None = None) -> Notification:
    if not isinstance(body, Mapping) or not isinstance(body.get("resourceType"), str):
        raise NotificationError("The body is not a FHIR resource")
    if body["resourceType"] != "Bundle":
        return classic_notification(body["resourceType"], body.get("id"), body)
    entries = body.get("entry")
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], Mapping):
        raise NotificationError("A notification Bundle needs its status resource as the first entry")
    status = entries[0].get("resource")
    status_type = status.get("resourceType") if isinstance(status, Mapping) else None
    bundle_type = body.get("type")
    if status_type == "Parameters" and bundle_type == "history":
        fmt, fields = "r4-backport", _from_parameters(status)  # type: ignore[arg-type]
    elif status_type == "SubscriptionStatus" and bundle_type in ("history", "subscription-notification"):
        fmt = "r5" if bundle_type == "subscription-notification" else "r4b"
        fields = _from_subscription_status(status)  # type: ignore[arg-type]
    else:
        raise NotificationError(
            "Not a subscription notification: expected a history Bundle starting with Parameters or "
            "SubscriptionStatus, or a subscription-notification Bundle"
        )
    if max_events is not None and len(fields["events"]) > max_events:
        raise TooManyEvents(too_many_events_message(max_events))
    kind = fields.pop("type")
    if kind not in _KINDS:
        raise NotificationError(
            "Unknown notification type (handshake, heartbeat, event-notification, query-status or query-event)"
        )
    if fields["subscription"] is None:
        raise NotificationError("The status resource names no subscription")
    included = _resources_by_reference(entries[1:])
    events = tuple(
        Event(number, focus, included.get(relative_reference(focus)) if focus else None, context)
        for number, focus, context in fields.pop("events")
    )
    if kind in ("event-notification", "query-event") and not events and fields.get("events_since_start") is None:
        raise NotificationError("An event notification needs notification events or an event count")
    return Notification(kind, fmt, events=events, **fields)  # type: ignore[arg-type]


def classic_notification(resource_type: str, resource_id: Any, body: Any) -> Notification:
    """A classic R4 rest-hook delivery: the resource itself (create/update), or nothing at all (a ping)."""
    if body is None:
        return Notification("ping", "classic")
    if not isinstance(body, Mapping):  # `[]`, `"x"` and `1` are JSON too (schemathesis found them: 500s)
        raise NotificationError("The body is not a FHIR resource")
    if body.get("resourceType") != resource_type:
        raise NotificationError("The body's resourceType is not the resource type of the URL")
    if not isinstance(resource_id, str) or not resource_id or body.get("id") not in (None, resource_id):
        raise NotificationError("The resource id is missing or differs from the URL")
    return Notification("resource", "classic", events=(Event(None, f"{resource_type}/{resource_id}", dict(body)),))
