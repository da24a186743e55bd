"""Per-caller rate limits: a runaway EHR or FHIR server gets 429 with Retry-After instead of starving the others.

Token buckets kept in this API process (no Redis round trip on the hot path): each caller may send `per_minute`
requests a minute, in bursts of up to ten seconds' worth. With several API processes the effective limit is that
many times the setting.
"""

from __future__ import annotations

import math
import time

from service.core.errors import ProblemError

__all__ = ["RateLimiter"]

_MAX_CALLERS = 10_000  # buckets kept before the full (idle) ones are forgotten


class RateLimiter:
    def __init__(self, per_minute: int, *, what: str) -> None:
        self.rate = per_minute / 60  # tokens per second; 0 turns the limit off
        self.capacity = max(1.0, self.rate * 10)
        self.what = what
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens left, when counted)

    def check(self, caller: str, now: float | None = None) -> None:
        """Take one token for `caller`, or raise a 429 that says when to retry."""
        if self.rate <= 0:
            return
        now = time.monotonic() if now is None else now
        tokens, counted = self._buckets.get(caller, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - counted) * self.rate)
        if tokens < 1:
            self._buckets[caller] = (tokens, now)
            retry = max(1, math.ceil((1 - tokens) / self.rate))
            raise ProblemError(
                429, f"Too many requests from this {self.what}; retry in {retry} s", headers={"Retry-After": str(retry)}
            )
        self._buckets[caller] = (tokens - 1, now)
        if len(self._buckets) > _MAX_CALLERS:
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        for caller, (tokens, counted) in list(self._buckets.items()):
            if tokens + (now - counted) * self.rate >= self.capacity:
                del self._buckets[caller]
