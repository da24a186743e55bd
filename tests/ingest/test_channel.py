"""The typed channel state: what the receiver writes is what the watchdog, /readyz and the workers read."""

from __future__ import annotations

import pytest

from service.fhir.notifications import Notification
from service.pipeline.channel import ChannelState


def notification(kind: str, events_since_start: int | None = None) -> Notification:
    return Notification(
        kind=kind,  # type: ignore[arg-type]
        format="r4-backport",
        subscription="Subscription/s",
        topic="http://example.org/topic",
        status="active",
        events_since_start=events_since_start,
    )


def test_round_trips_through_json() -> None:
    state = ChannelState(1.0, "heartbeat", "active", "t", 7, 30.0, 1.0)
    assert ChannelState.from_json(state.to_json()) == state


@pytest.mark.parametrize("raw", [None, b"", b"not json", b"[1, 2]", b'{"events_since_start": "7", "last_seen": true}'])
def test_an_unreadable_state_is_a_channel_never_heard_from(raw: bytes | None) -> None:
    assert ChannelState.from_json(raw) == ChannelState()


def test_the_event_count_only_grows() -> None:
    state = ChannelState().after(notification("event-notification", 5), [5], now=100.0)
    assert state.events_since_start == 5
    later = state.after(notification("heartbeat", 3), [], now=110.0)  # a stale count from the server
    assert later.events_since_start == 5 and later.last_kind == "heartbeat"


def test_the_heartbeat_interval_is_learned_and_smoothed() -> None:
    first = ChannelState().after(notification("heartbeat"), [], now=100.0)
    assert first.heartbeat_interval is None and first.last_heartbeat == 100.0
    second = first.after(notification("heartbeat"), [], now=110.0)
    assert second.heartbeat_interval == 10.0
    third = second.after(notification("heartbeat"), [], now=130.0)
    assert third.heartbeat_interval == pytest.approx(0.7 * 10 + 0.3 * 20)
    event = third.after(notification("event-notification"), [9], now=131.0)
    assert (event.heartbeat_interval, event.last_heartbeat) == (third.heartbeat_interval, 130.0)


def test_silence_counts_only_when_overdue() -> None:
    state = ChannelState(heartbeat_interval=2.0, last_heartbeat=1000.0)
    assert state.silence(1009.0) is None  # within the ten-second grace
    assert state.silence(1011.0) == 11.0
    assert ChannelState().silence(5000.0) is None  # no heartbeats: nothing to miss
