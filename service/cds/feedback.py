"""CDS Hooks feedback (https://cds-hooks.hl7.org/2.0/#feedback): batches, duplicates tolerated, stored durably."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from redis.exceptions import RedisError

from service.cds.cards import OVERRIDE_SYSTEM
from service.core.errors import ProblemError, validation_messages
from service.core.metrics import FEEDBACK
from service.pipeline.store import (
    FEEDBACK_SEEN_SECONDS,
    FEEDBACK_STREAM,
    RECORD_FEEDBACK,
    feedback_seen_key,
    snooze_key,
)

__all__ = ["FeedbackBatch", "parse_feedback", "store_feedback"]


class _Coding(BaseModel):
    system: str
    code: str
    display: str | None = None


class _AcceptedSuggestion(BaseModel):
    id: str


class _OverrideReason(BaseModel):
    reason: _Coding | None = None
    userComment: str | None = None

    @model_validator(mode="after")
    def _something(self) -> _OverrideReason:
        if self.reason is None and self.userComment is None:
            raise ValueError("overrideReason needs a reason or a userComment (cds-fb-3)")
        return self


class _Feedback(BaseModel):
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[_AcceptedSuggestion] | None = None
    overrideReason: _OverrideReason | None = None
    outcomeTimestamp: datetime

    @model_validator(mode="after")
    def _consistent(self) -> _Feedback:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("accepted feedback needs acceptedSuggestions (cds-fb-1)")
        if self.outcome == "accepted" and self.overrideReason is not None:
            raise ValueError("overrideReason belongs to overridden feedback (cds-fb-2)")
        if self.outcomeTimestamp.tzinfo is None:
            raise ValueError("outcomeTimestamp must carry a time zone (RFC 3339)")
        return self


class FeedbackBatch(BaseModel):
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    feedback: list[_Feedback] = Field(min_length=1)


def parse_feedback(body: bytes) -> FeedbackBatch:
    try:
        return FeedbackBatch.model_validate_json(body)
    except ValidationError as exc:
        raise ProblemError(400, *validation_messages(exc.errors())) from None


def _fields(service_id: str, item: _Feedback, received: datetime) -> dict[str, str]:
    reason = item.overrideReason
    fields: dict[str, Any] = {
        "service": service_id,
        "card": item.card,
        "outcome": item.outcome,
        "accepted_suggestions": json.dumps([s.id for s in item.acceptedSuggestions or []]),
        "outcome_timestamp": item.outcomeTimestamp.isoformat(),
        "received": received.isoformat(),
    }
    if reason is not None and reason.reason is not None:
        fields["override_system"] = reason.reason.system
        fields["override_code"] = reason.reason.code
    if reason is not None and reason.userComment is not None:
        fields["override_comment"] = reason.userComment  # stored for review, never logged
    return fields


def _snooze_reason(item: _Feedback) -> str:
    reason = item.overrideReason.reason if item.overrideReason is not None else None
    return reason.code if reason is not None and reason.system == OVERRIDE_SYSTEM else "overridden"


async def store_feedback(
    redis: aioredis.Redis, service_id: str, batch: FeedbackBatch, received: datetime, snooze_seconds: int = 0
) -> tuple[int, int]:
    """(stored, duplicates): each distinct item is appended once to the feedback stream. An override also snoozes
    its card for `snooze_seconds` (the hooks decide which cards a reason silences: a red flag only "already-addressed")."""
    stored = duplicates = 0
    script = redis.register_script(RECORD_FEEDBACK)
    try:
        for item in batch.feedback:
            fields = _fields(service_id, item, received)
            identity = "|".join(
                fields[k] for k in ("service", "card", "outcome", "accepted_suggestions", "outcome_timestamp")
            )
            seen_key = feedback_seen_key(hashlib.sha256(identity.encode()).hexdigest())
            pairs = [value for pair in fields.items() for value in pair]
            if await script(keys=[seen_key, FEEDBACK_STREAM], args=[FEEDBACK_SEEN_SECONDS, *pairs]):
                stored += 1
                FEEDBACK.labels(service_id, item.outcome).inc()
            else:
                duplicates += 1
            if item.outcome == "overridden" and snooze_seconds > 0:
                await redis.set(snooze_key(item.card), _snooze_reason(item), ex=snooze_seconds)
    except RedisError:
        raise ProblemError(503, "Feedback cannot be stored now: Redis is unavailable; please retry") from None
    return stored, duplicates
