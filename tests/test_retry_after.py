"""A retried FHIR call waits at least the server's Retry-After (and never past the backoff cap)."""

from __future__ import annotations

import pytest

from workers.tasks import retry_countdown


@pytest.mark.parametrize(
    ("backoff", "retry_after", "expected"),
    [(2.0, None, 2.0), (2.0, 30.0, 30.0), (45.0, 30.0, 45.0), (None, 5.0, 5.0), (2.0, 5000.0, 600.0)],
)
def test_retry_after_is_a_floor_under_the_backoff(
    backoff: float | None, retry_after: float | None, expected: float
) -> None:
    assert retry_countdown(backoff, retry_after, cap=600) == expected
