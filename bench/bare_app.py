"""References of the CDS benchmark: bare FastAPI handlers that parse the same body and return a fixed card.

`/cds-services/{id}` does nothing else; `/jwt/cds-services/{id}` also verifies the caller's JWT with PyJWT (keys
from TOH_BENCH_JWKS, chosen by `kid`), which isolates the cost of the signature the specification requires.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jwt
from fastapi import FastAPI, HTTPException, Request
from jwt import PyJWK

app = FastAPI()
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


@app.post("/jwt/cds-services/{service_id}")
async def hook_with_jwt(service_id: str, request: Request) -> dict[str, Any]:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    try:
        key = KEYS[jwt.get_unverified_header(token)["kid"]]
        jwt.decode(token, key.key, algorithms=["RS384", "ES384"], options={"verify_aud": False})
    except (jwt.PyJWTError, KeyError):
        raise HTTPException(401) from None
    await request.json()
    return CARD
