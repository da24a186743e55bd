"""How a FHIR call failed: retryable (5xx, 429, timeouts, connection errors) or permanent (any other 4xx, or a
resource of ours that is not valid FHIR)."""

from __future__ import annotations

__all__ = ["FhirError", "PermanentFhirError", "RetryableFhirError"]


class FhirError(Exception):
    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RetryableFhirError(FhirError):
    pass


class PermanentFhirError(FhirError):
    pass
