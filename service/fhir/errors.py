"""How a FHIR call failed: retryable (5xx, 429, timeouts, connection errors) or permanent (any other 4xx, or a
resource of ours that is not valid FHIR)."""

from __future__ import annotations

import email.utils
import time

__all__ = ["FhirError", "PermanentFhirError", "RetryableFhirError", "retry_after"]


def retry_after(value: str | None) -> float | None:
    """A `Retry-After` header (RFC 9110): delay-seconds, or an HTTP date as the seconds until it (0 once past);
    None when absent or neither."""
    text = (value or "").strip()
    if not text:
        return None
    if text.replace(".", "", 1).isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class FhirError(Exception):
    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RetryableFhirError(FhirError):
    pass


class PermanentFhirError(FhirError):
    pass
