"""A card's evidence trail (clinical.md 2.7: "the full evidence trail behind a link"), until the case view exists.

Each card links here: every rule that fired and every resource behind it, as JSON, for as long as the card can be
shown (30 days). The card's uuid is the only key and is not guessable (a digest of the patient and the data); the trail
holds resource references, codes and dates, never names, identifiers or birth dates.
"""

from __future__ import annotations

import json
import re

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from service.api.deps import RedisDep
from service.core.errors import ProblemError
from service.pipeline.store import evidence_key

__all__ = ["router"]

router = APIRouter(tags=["cds-hooks"])
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@router.get("/evidence/{card_uuid}", summary="The evidence trail behind one card (the card's evidence link).")
async def evidence(card_uuid: str, redis: RedisDep) -> JSONResponse:
    if not _UUID.match(card_uuid):
        raise ProblemError(404, "No such card")
    try:
        trail = await redis.get(evidence_key(card_uuid))
    except RedisError:
        raise ProblemError(503, "The evidence store is unavailable; please retry") from None
    if trail is None:
        raise ProblemError(404, "No evidence for this card: it is unknown or older than 30 days")
    return JSONResponse(json.loads(trail), headers={"Cache-Control": "no-store"})
