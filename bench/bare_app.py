"""References of the CDS benchmark: bare FastAPI handlers that parse the same body and return a fixed card.

`/cds-services/{id}` does nothing else (reference a). `/jwt-replay/cds-services/{id}` also verifies the caller's JWT
with PyJWT (keys from TOH_BENCH_JWKS, chosen by `kid`) and makes the one Redis round trip of a replay check, SET NX
of the `jti` (reference b: the work any compliant CDS service pays before it does anything of its own).
"""

from __future__ import annotations

import json
import os
from typing import Any

import jwt
import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException, Request
from jwt import PyJWK

app = FastAPI()
REDIS = aioredis.Redis.from_url(os.environ.get("TOH_REDIS_URL", "redis://127.0.0.1:6379/0"))
KEYS = {key["kid"]: PyJWK(key) for key in json.loads(os.environ.get("TOH_BENCH_JWKS", '{"keys": []}'))["keys"]}
CARD = {
    "cards": [
        {
            "uuid": "6f1c5d2e-0000-4000-8000-000000000000",
            "summary": "Hip pain in pregnancy or postpartum: consider transient osteoporosis of the hip.",
            "indicator": "warning",
            "source": {"label": "bare handler"},
        }
    ]
}


@app.post("/cds-services/{service_id}")
async def hook(service_id: str, request: Request) -> dict[str, Any]:
    await request.json()
    return CARD


def _verified(request: Request) -> dict[str, Any]:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    try:
        key = KEYS[jwt.get_unverified_header(token)["kid"]]
        claims: dict[str, Any] = jwt.decode(
            token, key.key, algorithms=["RS384", "ES384"], options={"verify_aud": False}
        )
    except (jwt.PyJWTError, KeyError):
        raise HTTPException(401) from None
    return claims


@app.post("/jwt-replay/cds-services/{service_id}")
async def hook_with_jwt_and_replay_check(service_id: str, request: Request) -> dict[str, Any]:
    claims = _verified(request)
    if not await REDIS.set(f"bench:jti:{claims['iss']}:{claims['jti']}", "1", nx=True, ex=300):
        raise HTTPException(401)
    await request.json()
    return CARD
