"""Figures a test measured (latencies, counts, memory), printed in the session's summary: what RELIABILITY.md
records comes from there, not from assertions."""

from __future__ import annotations

RECORDED: list[str] = []


def figure(text: str) -> None:
    RECORDED.append(text)
