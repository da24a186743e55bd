"""FHIR Subscription notifications, every format, read into one shape (standards.md section 2).

    R4 + Backport IG   Bundle type history, entry[0] Parameters (kebab-case names: notification-event, ...)
    R4B + Backport IG  Bundle type history, entry[0] SubscriptionStatus
    R5                 Bundle type subscription-notification, entry[0] SubscriptionStatus
    classic R4         the resource itself (PUT /fhir/notifications/{type}/{id}, or POSTed), or an empty POST

Pure: a parsed JSON body in, a Notification out, NotificationError (with a message for the sender) otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Event",
    "Notification",
    "NotificationError",
    "classic_notification",
    "parse_notification",
    "read_status",
    "relative_reference",
]

Kind = Literal["handshake", "heartbeat", "event-notification", "query-status", "query-event", "ping", "resource"]
_KINDS = {"handshake", "heartbeat", "event-notification", "query-status", "query-event"}


class NotificationError(ValueError):
    """The body is not a notification we can read; the message says why."""


@dataclass(frozen=True)
class Event:
    number: int | None  # event-number: with the subscription, the idempotency key
    focus: str | None  # reference to the resource that triggered the event ("Observation/1" or absolute)
    resource: dict[str, Any] | None = None  # the focus itself, when the payload is full-resource


@dataclass(frozen=True)
class Notification:
    kind: Kind
    format: Literal["r4-backport", "r4b", "r5", "classic"]
    subscription: str | None = None  # reference to the Subscription
    status: str | None = None
    topic: str | None = None
    events_since_start: int | None = None
    events: tuple[Event, ...] = field(default=())


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _reference(value: Any) -> str | None:
    if isinstance(value, Mapping) and isinstance(value.get("reference"), str):
        reference: str = value["reference"]
        return reference
    return None


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
            fields["events"].append((number, _reference(focus.get("valueReference")) if focus else None))
    return fields


def _from_subscription_status(status: Mapping[str, Any]) -> dict[str, Any]:
    events = [
        (_int(event.get("eventNumber")), _reference(event.get("focus")))
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


def parse_notification(body: Any) -> Notification:
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
    kind = fields.pop("type")
    if kind not in _KINDS:
        raise NotificationError(f"Unknown notification type {kind!r}")
    if fields["subscription"] is None:
        raise NotificationError("The status resource names no subscription")
    included = _resources_by_reference(entries[1:])
    events = tuple(
        Event(number, focus, included.get(relative_reference(focus)) if focus else None)
        for number, focus in fields.pop("events")
    )
    if kind in ("event-notification", "query-event") and not events and fields.get("events_since_start") is None:
        raise NotificationError("An event notification needs notification events or an event count")
    return Notification(kind, fmt, events=events, **fields)  # type: ignore[arg-type]


def classic_notification(resource_type: str, resource_id: Any, body: Mapping[str, Any] | None) -> Notification:
    """A classic R4 rest-hook delivery: the resource itself (create/update), or nothing at all (a ping)."""
    if body is None:
        return Notification("ping", "classic")
    if body.get("resourceType") != resource_type:
        raise NotificationError(f"The body is a {body.get('resourceType')!r}, not the {resource_type} of the URL")
    if not isinstance(resource_id, str) or not resource_id or body.get("id") not in (None, resource_id):
        raise NotificationError("The resource id is missing or differs from the URL")
    return Notification("resource", "classic", events=(Event(None, f"{resource_type}/{resource_id}", dict(body)),))
