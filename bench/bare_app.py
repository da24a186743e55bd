"""References of the CDS benchmark: bare FastAPI handlers that parse the same body and return a fixed card.

`/cds-services/{id}` does nothing else; `/jwt/cds-services/{id}` also verifies the caller's ES384 JWT with PyJWT
(key from TOH_BENCH_PUBLIC_JWK), which isolates the cost of the signature the specification requires.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jwt
from fastapi import FastAPI, HTTPException, Request
from jwt import PyJWK

app = FastAPI()
_JWK = os.environ.get("TOH_BENCH_PUBLIC_JWK")
KEY = PyJWK(json.loads(_JWK), algorithm="ES384") if _JWK else None
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


@app.post("/jwt/cds-services/{service_id}")
async def hook_with_jwt(service_id: str, request: Request) -> dict[str, Any]:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    if KEY is None:
        raise HTTPException(500, "no key")
    try:
        jwt.decode(token, KEY.key, algorithms=["ES384"], options={"verify_aud": False})
    except jwt.PyJWTError:
        raise HTTPException(401) from None
    await request.json()
    return CARD
